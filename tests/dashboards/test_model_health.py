"""The model-health page: live alert rate and score drift per version against its reference."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cases import User
from core.settings import Settings
from dashboards import queries
from features import FEATURE_NAMES
from models.drift import ARTIFACT_PATH, FeatureReference
from models.mlflow_env import MlflowClient, mlflow
from models.monitoring import Reference, score_shares
from models.registry import EXPERIMENT, configure_mlflow, registry_client
from models.training.recent import recent_lake_rows
from simulator import Simulator
from streams.testing import run_pipeline

ANALYST = User("ana", "analyst")
PAGE = str(Path(__file__).resolve().parents[2] / "dashboards" / "app_pages" / "model_health.py")


@pytest.fixture
def scored_lake(tmp_path):
    now = datetime.now(UTC)
    txs = Simulator(seed=4, n_accounts=40, n_merchants=8).generate(
        600, now - timedelta(hours=3), now)
    out = run_pipeline([t.event for t in txs], tmp_path)  # scored by the stand-in "rules/1"
    # The lake's alerts are the model's (the typology detectors' go to the workbench only).
    out.alerts = [a for a in out.alerts if a["source"] == "model"]
    return Settings(data_dir=tmp_path, model_name="rules"), out


def register_reference(settings: Settings, reference: Reference) -> None:
    """Version 1 of model ``rules`` with the tags training would have put on it."""
    client: MlflowClient = registry_client(settings)
    client.create_registered_model(settings.model_name)
    mv = client.create_model_version(settings.model_name, source=str(settings.data_dir))
    for key, value in reference.tags().items():
        client.set_model_version_tag(settings.model_name, mv.version, key, value)


def run_page(settings: Settings) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = ANALYST  # every page is behind the login
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_version_alerting_far_above_its_validation_rate_is_flagged(scored_lake):
    settings, out = scored_lake
    assert out.alerts, "the stand-in scorer alerted nothing: nothing to compare"
    live_rate = len(out.alerts) / 600
    con = queries.open_lake(settings.lake_dir)
    live = queries.score_bins_by_version(con)
    # validation promised a tenth of the live rate, with the same score distribution
    shares = [0.0] * len(score_shares([]))
    for row in live.itertuples():
        shares[row.score_bin] = row.transactions / 600
    register_reference(settings, Reference(tuple(shares), live_rate / 10, 0.005))

    at = run_page(settings)
    table = at.dataframe[0].value
    (row,) = table.to_dict("records")
    assert row["model_version"] == "rules/1" and row["transactions"] == 600
    assert row["alerts"] == len(out.alerts)
    assert row["live_alert_rate"] == pytest.approx(live_rate)
    assert row["validation_alert_rate"] == pytest.approx(live_rate / 10)
    assert row["score_psi"] == pytest.approx(0.0, abs=1e-3)
    assert row["status"] == "alerting more than 2× its validation rate"
    assert "rules/1 alerts" in at.warning[0].value


def test_a_version_alerting_as_validated_with_shifted_scores(scored_lake):
    settings, out = scored_lake
    live_rate = len(out.alerts) / 600
    # validation saw every score in the lowest bin; live scores are spread out
    reference = Reference(tuple([1.0] + [0.0] * (len(score_shares([])) - 1)), live_rate)
    register_reference(settings, reference)
    at = run_page(settings)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["score_psi"] > 0.25 and row["score_shift"] == "major shift"
    assert row["status"] == "scores shifted"
    assert not at.warning


def test_without_a_registry_the_page_still_shows_live_figures(scored_lake):
    settings, out = scored_lake
    at = run_page(settings)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["status"] == "no validation reference" and row["alerts"] == len(out.alerts)


def test_alert_rate_per_hour_adds_up_to_the_lake(scored_lake):
    settings, out = scored_lake
    hourly = queries.alert_rate_by_hour(queries.open_lake(settings.lake_dir))
    assert hourly["transactions"].sum() == 600 and hourly["alerts"].sum() == len(out.alerts)
    assert len(hourly) in (3, 4)  # three hours of event time, maybe cut by the hour


def test_the_page_on_an_empty_lake(tmp_path):
    at = run_page(Settings(data_dir=tmp_path))
    assert "empty" in at.info[0].value


def register_champion_with_features(settings: Settings, reference: FeatureReference) -> None:
    """Version 1 of model ``rules``, champion, from a run that logged ``reference``."""
    configure_mlflow(settings)
    client: MlflowClient = registry_client(settings)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    run = client.create_run(experiment)
    client.log_dict(run.info.run_id, reference.to_dict(), ARTIFACT_PATH)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(settings.model_name)
    mv = client.create_model_version(settings.model_name, source=str(settings.data_dir),
                                     run_id=run.info.run_id)
    client.set_registered_model_alias(settings.model_name, settings.model_alias, mv.version)


def drift_table(at: AppTest):
    (frame,) = [d.value for d in at.dataframe if "shift" in d.value.columns]
    return frame


def test_a_feature_that_moved_since_training_is_flagged_first(scored_lake):
    settings, _ = scored_lake
    live = recent_lake_rows(settings.lake_dir, 1.0).X
    train = live.to_numpy(dtype="float64").copy()
    moved = FEATURE_NAMES.index("amount_log10")
    train[:, moved] += 3.0  # training amounts 1,000× larger than today's
    register_champion_with_features(settings, FeatureReference.from_matrix(
        train, FEATURE_NAMES, "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"))
    mlflow.set_tracking_uri(None)  # leave no global store behind: the page opens its own

    at = run_page(settings)
    drift = drift_table(at)
    assert len(drift) == len(FEATURE_NAMES)
    top = drift.iloc[0]
    assert top["feature"] == "amount_log10" and top["shift"] == "major shift"
    assert top["psi"] > 0.25
    rest = drift.iloc[1:]
    assert (rest["shift"] == "stable").all() and rest["psi"].max() < 1e-9
    assert any("amount_log10" in w.value for w in at.warning)
    assert any("2026-01-01" in c.value for c in at.caption)


def test_feature_drift_without_a_champion_says_so(scored_lake):
    settings, _ = scored_lake
    at = run_page(settings)
    assert any("No champion" in i.value for i in at.info)
