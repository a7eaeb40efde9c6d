"""What live monitoring compares a model version with, recorded at training."""

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.lake_aggregates import SCORE_BINS
from core.settings import Settings
from features import FEATURE_NAMES
from models.drift import read_reference
from models.monitoring import Reference, psi, read_references, score_shares
from models.registry import registry_client
from models.training.run import train_ensemble

from .conftest import split_of
from .test_registry import WEAK


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    ref = score_shares(rng.beta(1, 20, 10_000))
    same = score_shares(rng.beta(1, 20, 10_000))
    shifted = score_shares(rng.beta(2, 10, 10_000))
    far = score_shares(rng.beta(5, 5, 10_000))
    assert psi(ref, same) < 0.01
    assert 0.0 < psi(ref, shifted) < psi(ref, far)
    assert math.isnan(psi(ref, [0.0] * SCORE_BINS))  # nothing live yet


def test_score_shares_use_the_lake_bins():
    shares = score_shares(np.array([0.0, 0.049, 0.05, 0.999, 1.0, np.nan]))
    assert len(shares) == SCORE_BINS and sum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.4) and shares[1] == pytest.approx(0.2)
    assert shares[-1] == pytest.approx(0.4)  # 1.0 falls in the last bin, as in the lake


def test_tags_round_trip_and_reject_a_malformed_reference():
    ref = Reference.from_scores(np.array([0.1, 0.2, 0.9, 0.95]), 0.9, 0.005)
    assert ref.validation_alert_rate == 0.5
    back = Reference.from_tags(ref.tags())
    assert back is not None and back.alert_budget == 0.005
    assert back.score_shares == pytest.approx(ref.score_shares)
    assert Reference.from_tags({}) is None
    assert Reference.from_tags({**ref.tags(), "monitoring.score_reference": "[1, 2]"}) is None


@pytest.mark.slow  # one MLflow run and registration
def test_a_training_run_records_its_references_and_its_evaluation(history, tmp_path):
    settings = Settings(data_dir=tmp_path, model_name="monitored")
    result = train_ensemble(history.events, history.labels, settings, config=WEAK,
                            split=split_of(history, WEAK), seed=1)
    refs = read_references(registry_client(settings), "monitored")
    ref = refs[f"monitored/{result.version}"]
    assert sum(ref.score_shares) == pytest.approx(1.0, abs=1e-4)
    assert 0.0 <= ref.validation_alert_rate <= 1.0
    assert not math.isnan(ref.validation_alert_rate)
    # ... and its model card: the members kept and why
    tags = registry_client(settings).get_model_version("monitored", result.version).tags
    assert tags["model_card.members_kept"].split(",")[0] == "xgboost"
    assert tags["model_card.member_selection"]
    assert tags["model_card.refit"] == "true"

    client = registry_client(settings)
    run = client.get_run(result.run_id)
    # the feature reference live drift reads: the rows the refitted members saw
    reference = read_reference(client, client.get_model_version("monitored",
                                                                result.version).run_id)
    assert reference.rows == result.metrics["train_rows"]
    assert reference.window_start == result.split.train_start.isoformat()
    assert reference.window_end == result.split.train_end.isoformat()
    assert set(reference.edges) == set(FEATURE_NAMES)
    # which rows each stage used
    stages = json.loads(Path(client.download_artifacts(
        result.run_id, "data_stages.json", str(tmp_path))).read_text())
    assert stages["refit"] is True
    assert {s["stage"] for s in stages["stages"]} >= {"members (first fit)",
                                                      "members (refit, served)"}
    # issue 14's evaluation, for the ensemble and the plain XGBoost on the same split
    for name in ("ensemble", "xgboost"):
        for metric in ("average_precision", "roc_auc", "precision_at_k", "recall_at_fpr_0.01",
                       "alert_rate", "precision_at_policy"):
            assert f"{name}_test_{metric}" in run.data.metrics, (name, metric)
        assert f"{name}_validation_alert_rate" in run.data.metrics
    assert "validation_average_precision" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert {"evaluation/pr_curve.png", "evaluation/score_histogram.png",
            "evaluation/feature_importance.png", "evaluation/comparison.csv",
            "evaluation/precision_at_k_per_day.csv"} <= artifacts
    per_day = pl.read_csv(client.download_artifacts(
        result.run_id, "evaluation/precision_at_k_per_day.csv", str(tmp_path)))
    ensemble_days = per_day.filter(pl.col("model") == "ensemble")
    worked = ensemble_days.filter(pl.col("alerts") > 0)
    assert worked["precision"].mean() == pytest.approx(
        run.data.metrics["ensemble_test_precision_at_k"])
    assert set(per_day["model"]) == set(result.comparison)

