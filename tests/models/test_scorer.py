"""The scorer against a real MLflow registry: champion by version, reason codes, hot swap,
failed loads, shadow scoring."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from features import build_features, feature_matrix
from models.contract import SCORE_COLUMNS
from models.ensemble.baseline import RuleBaseline
from models.mlflow_env import MlflowClient, mlflow
from models.serving.batch import top_reasons
from models.serving.loading import LoadedModel, validate
from models.serving.scorer import Scorer
from models.training.data import history_from_simulator
from models.training.run import train_simulated

TRAIN_END = datetime(2026, 3, 1, tzinfo=UTC)  # seeds checked to have labelled fraud

NAME = "scorer-test"


class OutOfRange(mlflow.pyfunc.PythonModel):
    """A broken model: a ScoringModel in form, but it scores 7."""

    feature_names = ("amount_log10",)
    alert_threshold = 0.5

    def score_frame(self, X):  # noqa: N803
        return pd.DataFrame({c: 7.0 for c in SCORE_COLUMNS}, index=X.index)

    def contributions(self, X):  # noqa: N803
        return np.zeros((len(X), 1))

    def predict(self, context, model_input, params=None):
        return self.score_frame(model_input)


class PredictOnly(mlflow.pyfunc.PythonModel):
    """Not a ScoringModel: predict returns a bare array, nothing else is exposed."""

    def predict(self, context, model_input, params=None):
        return np.full(len(model_input), 0.25)


@pytest.fixture(scope="module")
def registry(model_registry):
    """Model ``scorer-test``: v1 and v2 (ensembles, two seeds), v3 out of range, v4 unloadable,
    v5 not a ScoringModel; features of a later period to score."""
    settings = model_registry.with_(model_name=NAME, model_reload_seconds=0.05)
    # a fixed end: the simulator's daily rhythm makes labelled fraud in the fit window depend
    # on the hour a history ends (at ~25 % of hours none for these small histories)
    end = TRAIN_END
    for seed, promote in ((11, "always"), (12, "never")):
        train_simulated(settings, days=21, customers=200, seed=seed, end=end, promote=promote)
    for model in (OutOfRange(), None, PredictOnly()):
        with mlflow.start_run():
            if model is None:  # a version whose artifacts are gone
                client = MlflowClient(settings.mlflow_tracking_uri)
                client.create_model_version(NAME, source="file:///nonexistent/model")
                continue
            mlflow.pyfunc.log_model(name="model", python_model=model,
                                    registered_model_name=NAME)
    later = build_features(history_from_simulator(2, seed=13, end=end, customers=300).events)
    features = feature_matrix(later).to_pandas()
    return settings, features


@pytest.fixture
def client(registry):
    settings, _ = registry
    c = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    c.set_registered_model_alias(NAME, "champion", "1")
    try:
        c.delete_registered_model_alias(NAME, "challenger")
    except Exception:
        pass
    return c


def reference(settings, version, features, column="score"):
    """What version ``version`` scores, loaded independently of the scorer."""
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{version}")
    return model.predict(features)[column].to_numpy()


def inner(version):
    return mlflow.pyfunc.load_model(f"models:/{NAME}/{version}").unwrap_python_model()


def test_loads_the_champion_by_version_and_stamps_every_score(registry, client):
    settings, features = registry
    with Scorer(settings) as scorer:
        scorer.load()
        client.set_registered_model_alias(NAME, "champion", "2")  # no poller: no effect
        batch = scorer.score(features)
    assert (batch.model_name, batch.model_version, batch.model_ref) == (NAME, "1", f"{NAME}/1")
    assert len(batch) == len(features)
    np.testing.assert_array_equal(batch.score, reference(settings, 1, features))
    for column in ("score_supervised", "score_anomaly"):  # both members, as the model says
        np.testing.assert_array_equal(getattr(batch, column),
                                      reference(settings, 1, features, column))
    assert not np.array_equal(batch.score_supervised, batch.score)
    assert ((batch.score_anomaly > 0) & (batch.score_anomaly <= 1)).all()
    # the model's own validation-chosen threshold, not the settings' fallback
    threshold = inner(1).alert_threshold
    assert batch.alert_threshold == threshold != settings.alert_threshold
    np.testing.assert_array_equal(batch.is_alert, batch.score >= threshold)
    assert batch.is_alert.sum() > 0 and not batch.is_alert.all()
    assert batch.shadow_score is None and batch.shadow_model_version is None


def test_reason_codes_are_the_top_positive_contributions(registry, client):
    settings, features = registry
    with Scorer(settings.with_(reason_codes_min_score=0.0, reason_codes_top_k=3)) as scorer:
        scorer.load()
        batch = scorer.score(features)
    model = inner(1)
    names = list(model.feature_names)
    contribs = model.contributions(features[names])
    # The contributions are real: the log-odds minus their sum is one constant (the bias).
    logit = np.log(batch.score / (1 - batch.score))
    bias = logit - contribs.sum(axis=1)
    np.testing.assert_allclose(bias, bias[0], atol=1e-3)
    for row, codes in zip(contribs, batch.reason_codes, strict=True):
        top = [j for j in np.argsort(-row, kind="stable")[:3] if row[j] > 0]
        assert codes == [f"{names[j]}:{row[j]:+.2f}" for j in top]
    assert any(len(c) == 3 for c in batch.reason_codes)


def test_reason_codes_by_default_only_for_alerts(registry, client):
    settings, features = registry
    with Scorer(settings) as scorer:
        scorer.load()
        batch = scorer.score(features)
    explained = np.array([c is not None for c in batch.reason_codes])
    np.testing.assert_array_equal(explained, batch.is_alert)
    assert all(c for c, alert in zip(batch.reason_codes, batch.is_alert, strict=True) if alert)
    off = Scorer(settings.with_(reason_codes_top_k=0))
    off.load()
    assert off.score(features).reason_codes == [None] * len(features)


def test_top_reasons_ignores_risk_lowering_features_and_breaks_ties_by_declaration():
    contribs = np.array([[0.3, 0.3, -1.0, 0.1], [-0.2, np.nan, -0.1, -0.3]])
    assert top_reasons(contribs, ["a", "b", "c", "d"], 2) == [["a:+0.30", "b:+0.30"], []]
    with pytest.raises(ValueError, match="shape"):
        top_reasons(contribs, ["a", "b"], 2)


def test_a_moved_alias_swaps_whole_versions_while_a_thread_hammers_score(registry, client,
                                                                         wait_until):
    settings, features = registry
    x = features.iloc[:500]
    expected = {"1": reference(settings, 1, x), "2": reference(settings, 2, x)}
    assert not np.array_equal(expected["1"], expected["2"])
    seen: list[tuple[str, bool, float]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def hammer(scorer: Scorer) -> None:
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                b = scorer.score(x)
                seen.append((b.model_version, bool(np.array_equal(b.score,
                                                                  expected[b.model_version])),
                             time.perf_counter() - t0))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def scored_with(version: str) -> None:
        """Wait for a batch scored with ``version`` from here on."""
        mark = len(seen)
        wait_until(lambda: errors or any(v == version for v, _, _ in seen[mark:]), 30,
                   f"the hammer to score a batch with version {version}", interval=0.01)

    with Scorer(settings) as scorer:
        scorer.start()
        thread = threading.Thread(target=hammer, args=(scorer,))
        thread.start()
        switches = []
        current = scorer.version
        for version in ("2", "1", "2"):
            scored_with(current)
            t0 = time.monotonic()
            client.set_registered_model_alias(NAME, "champion", version)
            wait_until(lambda v=version: scorer.version == v, 30, f"the swap to {version}",
                       interval=0.01)
            switches.append(time.monotonic() - t0)
            current = version
        scored_with(current)
        stop.set()
        thread.join(30)
        stats = scorer.stats()
    assert not errors, errors
    versions = [v for v, _, _ in seen]
    assert all(ok for _, ok, _ in seen), "a batch's scores did not match its stamped version"
    assert {"1", "2"} <= set(versions) and versions[-1] == "2"
    # Versions change in runs (1…, 2…, 1…, 2…): each swap happens once, between batches.
    runs = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
    assert runs == ["1", "2", "1", "2"], runs
    assert stats["reloads"] == 3 and stats["reload_failures"] == 0
    print(f"\nSWAP: alias move → scoring with it in {[f'{s:.2f}s' for s in switches]}; "
          f"{len(seen)} batches of 500")


def test_a_slow_load_never_blocks_scoring(registry, client, monkeypatch):
    settings, features = registry
    x = features.iloc[:200]
    with Scorer(settings) as scorer:
        scorer.load()
        real_load = scorer._load_version
        loading, release = threading.Event(), threading.Event()
        released: list[bool] = []

        def slow_load(alias, version):
            loading.set()
            released.append(release.wait(30))  # the load lasts until scoring went on during it
            return real_load(alias, version)

        monkeypatch.setattr(scorer, "_load_version", slow_load)
        client.set_registered_model_alias(NAME, "champion", "2")
        refresher = threading.Thread(target=scorer.refresh)
        refresher.start()
        assert loading.wait(10)
        during = [scorer.score(x).model_version for _ in range(4)]  # would block on the load
        release.set()
        refresher.join(60)
        assert not refresher.is_alive()
        assert scorer.score(x).model_version == "2"
    assert released == [True], "scoring waited for the load to end"
    assert set(during) == {"1"}  # the old model until the new one is complete


@pytest.mark.parametrize(("version", "error"), [
    ("3", "score_frame: score not finite in [0, 1]"),
    ("4", "loading scorer-test/4"),
    ("5", "PredictOnly is not a ScoringModel: it lacks feature_names, alert_threshold, "
          "score_frame, contributions")])
def test_a_version_that_fails_to_load_or_validate_keeps_the_old_model(registry, client,
                                                                       version, error):
    settings, features = registry
    with Scorer(settings) as scorer:
        scorer.load()
        client.set_registered_model_alias(NAME, "champion", version)
        assert scorer.refresh() is False
        assert scorer.version == "1"
        stats = scorer.stats()
        assert stats["reload_failures"] == 1 and stats["reloads"] == 0
        assert error in stats["last_error"]
        assert scorer.score(features).model_version == "1"
        assert scorer.refresh() is False  # not retried on every poll
        assert scorer.stats()["reload_failures"] == 1
        client.set_registered_model_alias(NAME, "champion", "2")
        assert scorer.refresh() is True
        assert scorer.score(features).model_version == "2"
    with pytest.raises(RuntimeError, match="cannot load"):  # at startup, a bad champion fails
        client.set_registered_model_alias(NAME, "champion", version)
        Scorer(settings).load()


def test_shadow_scores_with_the_challenger_and_never_alerts(registry, client):
    settings, features = registry
    client.set_registered_model_alias(NAME, "challenger", "2")
    with Scorer(settings.with_(shadow_enabled=True)) as scorer:
        scorer.load()
        batch = scorer.score(features)
        assert (batch.model_version, batch.shadow_model_version) == ("1", "2")
        assert batch.shadow_model_ref == f"{NAME}/2"
        np.testing.assert_array_equal(batch.score, reference(settings, 1, features))
        np.testing.assert_array_equal(batch.shadow_score, reference(settings, 2, features))
        # alerts are the champion's, at its own threshold
        np.testing.assert_array_equal(batch.is_alert, batch.score >= inner(1).alert_threshold)
        assert scorer.stats()["shadow_model"] == f"{NAME}/2"

        # A failing shadow costs its scores, never the champion's.
        shadow = scorer.shadow
        working = shadow.model

        class Failing:
            def score_frame(self, x):
                return 1 / 0

        object.__setattr__(shadow, "model", Failing())  # frozen: bypass
        broken = scorer.score(features)
        object.__setattr__(shadow, "model", working)
        np.testing.assert_array_equal(broken.score, batch.score)
        assert broken.shadow_score is None and scorer.stats()["shadow_errors"] == 1

        # Promoting the challenger reuses the loaded model; shadowing itself stops.
        client.set_registered_model_alias(NAME, "champion", "2")
        assert scorer.refresh() is True
        assert scorer.current.loaded_at == shadow.loaded_at
        promoted = scorer.score(features)
        assert (promoted.model_version, promoted.shadow_model_version) == ("2", None)
        client.delete_registered_model_alias(NAME, "challenger")
        scorer.refresh()
        assert scorer.shadow is None


def test_a_model_needing_features_the_stream_lacks_is_rejected():
    class Elsewhere(RuleBaseline):
        feature_names = ("amount_log10", "no_such_feature")

    model = LoadedModel.of(Elsewhere(), NAME, "9", "champion")
    with pytest.raises(ValueError, match="no_such_feature"):
        validate(model)
    validate(LoadedModel.of(RuleBaseline(), NAME, "10", "champion"))


def test_no_champion_at_startup_is_an_error_naming_the_uri(registry):
    settings, _ = registry
    with pytest.raises(RuntimeError, match="models:/no-such-model@champion does not exist"):
        Scorer(settings.with_(model_name="no-such-model")).load()


def test_stats_report_live_feature_drift_against_the_champions_training_rows(registry, client):
    settings, features = registry
    moved = features.copy()
    moved["amount_log10"] += 3.0  # amounts 1,000× those the champion was trained on
    summaries = []
    for frame in (features, moved):
        with Scorer(settings) as scorer:
            scorer.load()
            for start in range(0, len(frame), 100):  # a few rows of each batch are sampled
                scorer.score(frame.iloc[start:start + 100])
            summaries.append(scorer.stats()["feature_drift"])
    same, shifted = summaries
    assert same["model"] == f"{NAME}/1" and same["live_rows"] >= 100
    assert same["reference"]["rows"] > 0 and same["reference"]["window_end"]
    assert "amount_log10" not in {w["feature"] for w in same["worst"] if w["psi"] > 0.25}
    assert shifted["worst"][0]["feature"] == "amount_log10"
    assert shifted["worst"][0]["shift"] == "major shift"
    assert shifted["major_shift"] == same["major_shift"] + 1
