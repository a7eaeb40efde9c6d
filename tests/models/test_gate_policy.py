"""The gate against a real MLflow registry: a challenger that alerts far beyond its budget, or that
cannot be verified, never replaces the champion."""

import copy
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features import FEATURE_NAMES
from models.ensemble.model import Combiner, EnsembleModel
from models.mlflow_env import MlflowClient, mlflow
from models.registry import configure_mlflow
from models.training.gate import RecentRows, gate
from models.training.run import current_champion

BUDGET = 0.005


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("policy-gate"), model_name="policy-test")


def _register(settings: Settings, model: EnsembleModel) -> str:
    """Log ``model`` as ``flowlet train`` does (pyfunc, boosters as artifacts) and register it."""
    configure_mlflow(settings)
    with mlflow.start_run(), tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pyfunc.log_model(name="model", python_model=model.shell(),
                                       artifacts=model.save_boosters(Path(tmp)),
                                       registered_model_name=settings.model_name)
    return str(info.registered_model_version)


def _test_window(fitted):
    d, m = fitted.prepared, fitted.prepared.masks["test"]
    X = pd.DataFrame(d.X[m].astype(np.float64), columns=list(FEATURE_NAMES))  # noqa: N806
    return X, d.y_eval[m]


@pytest.fixture(scope="module")
def champion(fitted, registry):
    """A registered champion: the fitted ensemble reduced to its anomaly member (a worse AP
    than the full ensemble, so only the alert-rate checks can refuse the full one)."""
    weak = copy.copy(fitted.model)
    weak.combiner = Combiner(0.0, 0.0, 1.0)
    version = _register(registry, weak)
    MlflowClient(registry.mlflow_tracking_uri).set_registered_model_alias(
        registry.model_name, "champion", version)
    return version


def _gate(registry, fitted, model, *, X=None, y=None, **kwargs):  # noqa: N803
    version = _register(registry, model)
    X_test, y_test = _test_window(fitted)  # noqa: N806
    X_test = X_test if X is None else X  # noqa: N806
    y_test = y_test if y is None else y
    with mlflow.start_run() as run:
        pass
    d = gate(registry, version, X_test, y_test, model.score(X_test.to_numpy()),
             run_id=run.info.run_id, **kwargs)
    return d, MlflowClient(registry.mlflow_tracking_uri).get_run(run.info.run_id).data


def _alerting_mix(model, X: pd.DataFrame, share: float) -> pd.DataFrame:  # noqa: N803
    """Rows of ``X`` mixed so that ``model`` alerts ``share`` of them: the live traffic of
    issue 14, where bursty simulated accounts looked like fraud to a model trained on history."""
    alerted = model.score(X.to_numpy()) >= model.alert_threshold
    hits, rest = X[alerted], X[~alerted]
    n = min(len(hits), int(len(rest) * share / (1 - share)))  # alerting rows to take
    assert n >= 5, "test window too small for the mix"
    quiet = int(round(n * (1 - share) / share))
    hits = hits.iloc[:n]
    return pd.concat([hits, rest.iloc[:quiet]], ignore_index=True)


@pytest.mark.slow  # five registrations in a real MLflow store: ~30 s on the shared machine
def test_a_challenger_alerting_ten_times_its_budget_is_refused(fitted, registry, champion):
    model = fitted.model
    assert model.alert_budget == BUDGET
    X_test, _ = _test_window(fitted)  # noqa: N806
    test_rate = float((model.score(X_test.to_numpy()) >= model.alert_threshold).mean())
    assert test_rate <= 2 * BUDGET  # honest on the test window …

    # … but on recent live rows it alerts 10× its budget
    live = RecentRows(_alerting_mix(model, X_test, 10 * BUDGET))
    d, run = _gate(registry, fitted, model, recent=live)
    assert not d.promoted and d.alias == "challenger"
    assert current_champion(registry) == champion
    assert d.candidate_ap > d.champion_ap  # it would have won on AP alone
    assert d.recent_alert_rate == pytest.approx(10 * BUDGET, rel=0.05)
    assert d.alert_rate_limit == pytest.approx(2 * BUDGET)
    assert f"alerts {d.recent_alert_rate:.3%} of the recent live rows" in d.reason
    assert "2 × its budget 0.500%" in d.reason and "= 1.000%" in d.reason
    assert run.tags["gate.decision"] == "challenger" and "recent live rows" in run.tags[
        "gate.refusals"]
    assert run.metrics["gate_recent_alert_rate"] == pytest.approx(d.recent_alert_rate)
    assert run.metrics["gate_alert_rate_limit"] == pytest.approx(2 * BUDGET)

    # the same model with a threshold that alerts 10× its budget on the test window itself:
    # refused, and promote="always" does not override it
    loose = copy.copy(model)
    loose.alert_threshold = float(np.quantile(model.score(X_test.to_numpy()), 1 - 10 * BUDGET))
    d, _ = _gate(registry, fitted, loose, promote="always")
    assert not d.promoted and d.alias == "challenger" and current_champion(registry) == champion
    assert d.test_alert_rate == pytest.approx(10 * BUDGET, rel=0.05)
    assert "of the test window, over 2 × its budget" in d.reason

    # with recent rows it alerts on at its budget, the better model is promoted
    calm = RecentRows(_alerting_mix(model, X_test, BUDGET))
    d, _ = _gate(registry, fitted, model, recent=calm)
    assert d.promoted and current_champion(registry) == d.candidate_version, d.reason


@pytest.mark.slow  # two registrations
def test_an_unverifiable_comparison_does_not_replace_the_champion(fitted, registry, champion):
    before = current_champion(registry)
    assert before is not None
    X_test, y_test = _test_window(fitted)  # noqa: N806
    # a better model, but a test window whose frauds are not labelled yet: nothing to compare on
    d, run = _gate(registry, fitted, fitted.model, y=np.zeros(len(y_test), dtype=bool))
    assert not d.promoted and d.alias == "challenger" and np.isnan(d.candidate_ap)
    assert "cannot verify" in d.reason and current_champion(registry) == before
    assert run.tags["gate.decision"] == "challenger"
    # candidate scores that are not finite say nothing either
    d = gate(registry, d.candidate_version, X_test, y_test, np.full(len(y_test), np.nan))
    assert not d.promoted and "cannot verify" in d.reason and current_champion(registry) == before
    # recent labelled rows the candidate ranks worse than the champion: figures kept, refused
    worse = copy.copy(fitted.model)
    worse.combiner = Combiner(0.0, 0.0, -1.0)  # the anomaly member upside down
    rows = X_test.iloc[: len(X_test) // 2]
    d, run = _gate(registry, fitted, worse, recent=RecentRows(rows, y_test[: len(rows)]))
    assert not d.promoted and current_champion(registry) == before
    assert d.candidate_recent_ap < d.champion_recent_ap and "recent labelled rows" in d.reason
    assert run.metrics["gate_candidate_recent_ap"] == pytest.approx(d.candidate_recent_ap)


def test_recent_lake_rows_are_the_features_the_stream_scored(fitted, tmp_path):
    """The lake's ``f_`` columns plus the per-event features from its event columns give the
    feature rows the model was scored on (here: the offline builder's, written as lake rows)."""
    import polars as pl

    from core.lake_schema import FEATURE_PREFIX
    from features import FEATURES
    from models.training.recent import recent_lake_rows

    d, m = fitted.prepared, fitted.prepared.masks["test"]
    window = d.frame.filter(pl.Series(m))
    now = window["occurred_at"].max()
    processed = window["occurred_at"]  # processed as they happened
    lake = window.select(
        "transaction_id", "event_type", "occurred_at", "amount_minor", "currency",
        "account_id", "country", "channel", "device_id",
        processed.alias("processed_at"),
        *[pl.col(f.name).cast(pl.Float64).alias(FEATURE_PREFIX + f.name) for f in FEATURES])
    (tmp_path / "transactions" / "dt=2026-03-01").mkdir(parents=True)
    lake.write_parquet(tmp_path / "transactions" / "dt=2026-03-01" / "part-0.parquet")

    recent = recent_lake_rows(tmp_path, days=1, now=now)
    day = window.filter(pl.col("occurred_at") >= now - pl.duration(days=1)).sort(
        "occurred_at", "transaction_id", descending=[True, False])
    assert recent is not None and recent.y is None and len(recent.X) == day.height > 100
    assert list(recent.X.columns) == list(FEATURE_NAMES)
    expected = day.select([pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES]).to_numpy()
    np.testing.assert_array_equal(recent.X.to_numpy(), expected)
    assert recent_lake_rows(tmp_path / "empty", days=1) is None

    # labels the stream applied: the latest per transaction wins, unlabelled rows are legitimate
    ids = day["transaction_id"].to_list()
    t0 = day["occurred_at"][0]
    labels = pl.DataFrame({
        "label_id": ["l1", "l2", "l3"], "labelled_transaction_id": [ids[0], ids[1], ids[1]],
        "account_id": ["a"] * 3, "merchant_id": [None] * 3,
        "transaction_occurred_at": [t0] * 3, "occurred_at": [t0, t0, t0 + timedelta(hours=1)],
        "is_fraud": [True, True, False], "source": ["analyst"] * 3, "processed_at": [t0] * 3},
        schema_overrides={"merchant_id": pl.String})
    (tmp_path / "labels" / "dt=2026-03-01").mkdir(parents=True)
    labels.write_parquet(tmp_path / "labels" / "dt=2026-03-01" / "part-0.parquet")
    recent = recent_lake_rows(tmp_path, days=1, now=now)
    assert recent.y is not None and recent.y[0] and not recent.y[1:].any()  # l3 cleared ids[1]
