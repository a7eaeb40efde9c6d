"""Acceptance: trained on simulated history, the ensemble beats each member alone and a rule
baseline on average precision in later periods it never saw.

30 days of ``simulate_history`` (2,000 customers, ≈165k events); training sees the labels known
at its cutoff (delayed: analysts, chargebacks, AML investigations), evaluation the eventual
truth (``backtest_labels``). CI runs seed 0, the simulator's default (~30 s on the shared
2-core machine; one seed keeps the whole suite well inside CI's 15 minutes); the ensemble
wins on all of seeds 0–9, and the per-seed table of
models/README.md comes from ``python -m flowlet.bench.acceptance 0-9`` (same setup, no MLflow), or
from this test with ``FLOWLET_ACCEPTANCE_SEEDS=0,...,9 pytest tests/models/test_acceptance.py
-o log_cli=true --log-cli-level=INFO``.
"""

import logging
import os
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from core.settings import Settings
from features import FEATURE_NAMES, build_features
from models import train_ensemble
from models.ensemble.baseline import RuleBaseline
from models.mlflow_env import MlflowClient, mlflow
from models.training.data import backtest_labels, feature_labels

from .conftest import small_history

HELD_OUT = timedelta(days=3)
SEEDS = [int(s) for s in os.environ.get("FLOWLET_ACCEPTANCE_SEEDS", "0").split(",")]
log = logging.getLogger(__name__)


@pytest.mark.slow  # ~30 s a seed: a 30-day history of 165k events, one MLflow run
@pytest.mark.parametrize("seed", SEEDS)
def test_ensemble_beats_every_member_and_the_rule_on_later_unseen_data(tmp_path, seed):
    history = small_history(seed=seed, days=30, customers=2000)
    end = history.events["occurred_at"].max()
    seen = history.events.filter(pl.col("occurred_at") < end - HELD_OUT)
    settings = Settings(data_dir=tmp_path)
    result = train_ensemble(seen, backtest_labels(history.events, history.labels), settings,
                            seed=5)

    # 1. the split's own test window (after the gap; labels after the cutoff never trained on)
    ap = {name: m["average_precision"] for name, m in result.comparison.items()}
    log.info("seed %d test window AP %s", seed, {k: round(v, 4) for k, v in ap.items()})
    assert result.metrics["test_frauds"] >= 100
    assert ap["xgboost"] < 0.99, f"the simulated fraud is trivially separable: {ap}"
    for other in ("xgboost", "isolation_forest", "rule_baseline"):
        assert ap["ensemble"] > ap[other], ap

    # 2. the last three days, withheld from training altogether
    feats = build_features(history.events, feature_labels(history.events, history.labels))
    later = feats.filter(pl.col("occurred_at") >= end - HELD_OUT)
    X = later.select(FEATURE_NAMES).to_numpy().astype(np.float32)
    y = later["is_fraud"].to_numpy()  # ground truth
    assert y.sum() >= 20
    model = result.model
    held = {"ensemble": model.score(X), "xgboost": model.supervised.score(X),
            "isolation_forest": model.anomaly.score(X),
            "rule_baseline": RuleBaseline().score(later.to_pandas())}
    held_ap = {k: average_precision_score(y, s) for k, s in held.items()}
    log.info("seed %d held-out AP %s", seed, {k: round(v, 4) for k, v in held_ap.items()})
    for other in ("xgboost", "isolation_forest", "rule_baseline"):
        assert held_ap["ensemble"] > held_ap[other], held_ap

    # the run carries the evidence: comparison metrics, figures, table, lineage, the pyfunc
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(result.run_id)
    for name in ("ensemble", "xgboost", "isolation_forest", "rule_baseline"):
        assert run.data.metrics[f"{name}_test_average_precision"] == pytest.approx(ap[name])
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/pr_curve.png", "evaluation/score_histogram.png",
            "evaluation/feature_importance.png", "evaluation/comparison.csv"} <= artifacts
    assert run.data.tags["gate.decision"] == "promoted"
    loaded = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
    assert [c.name for c in loaded.metadata.get_input_schema().inputs] == list(FEATURE_NAMES)
    frame = later.select(FEATURE_NAMES).to_pandas()
    out = loaded.predict(frame)
    assert list(out.columns) == ["score", "score_supervised", "score_anomaly"]
    np.testing.assert_allclose(out["score"].to_numpy(), held["ensemble"], rtol=1e-9)
    inner = loaded.unwrap_python_model()
    assert inner.alert_threshold == model.alert_threshold
    assert inner.contributions(frame.head(3)).shape == (3, len(FEATURE_NAMES))
