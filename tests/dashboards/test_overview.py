from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cases import User
from dashboards import queries
from simulator import Simulator
from streams.testing import run_pipeline

ANALYST = User("ana", "analyst")
APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


@pytest.fixture
def filled_lake(tmp_path):
    now = datetime.now(UTC)
    txs = Simulator(seed=8, n_accounts=50, n_merchants=10).generate(
        800, now - timedelta(hours=2), now)
    out = run_pipeline([t.event for t in txs], tmp_path)
    # The lake's alerts are the model's (the typology detectors' go to the workbench only).
    out.alerts = [a for a in out.alerts if a["source"] == "model"]
    return tmp_path, out


def run_app(data_dir, monkeypatch):
    """The overview as a logged-in analyst sees it (settings from the environment)."""
    monkeypatch.setenv("FLOWLET_DATA_DIR", str(data_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user"] = ANALYST  # as the login form leaves it
    at.run()
    at.switch_page("app_pages/overview.py").run()
    assert not at.exception, at.exception
    return at


def test_the_overview_after_logging_in_through_the_form(filled_lake, monkeypatch):
    from cases import CaseStore
    from core.settings import Settings

    data_dir, _ = filled_lake
    CaseStore(Settings(data_dir=data_dir).database_url).add_user(
        "ana", "analyst", "ana's long password")
    monkeypatch.setenv("FLOWLET_DATA_DIR", str(data_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.metric and [t.value for t in at.title] == ["Flowlet — log in"]
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input("ana's long password")
    at.button[0].click().run()
    at.switch_page("app_pages/overview.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Transactions"] == "800"


def test_overview_shows_the_lake(filled_lake, monkeypatch):
    data_dir, out = filled_lake
    at = run_app(data_dir, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Transactions"] == "800"
    assert metrics["Alerts"] == f"{len(out.alerts):,}"
    # amounts by currency, model versions, alert sources, top accounts, top merchants, latest
    assert len(at.dataframe) == 6
    assert {s.value for s in at.subheader} >= {"Model versions", "Alerts by source",
                                               "Accounts with the most alerts",
                                               "Merchants with the most alerts"}
    versions = at.dataframe[1].value
    assert versions["transactions"].sum() == 800
    sources = at.dataframe[2].value
    assert list(sources["alert_source"].unique()) == (["model"] if out.alerts else [])
    assert sources["alerts"].sum() == len(out.alerts)
    high_risk = at.dataframe[5].value
    assert len(high_risk) == min(20, len(out.alerts))
    assert all(r.startswith(("amount_log10:+", "acct_count_1h:+")) for r in high_risk["reasons"])


def test_overview_on_an_empty_lake(tmp_path, monkeypatch):
    at = run_app(tmp_path, monkeypatch)
    assert {m.label: m.value for m in at.metric}["Transactions"] == "0"
    assert "empty" in at.info[0].value


def test_queries_keep_money_integer(filled_lake):
    data_dir, _ = filled_lake
    con = queries.open_lake(data_dir / "lake")
    amounts = queries.amount_by_currency(con)
    assert str(amounts["amount_minor"].dtype) == "int64"
    k = queries.kpis(con)
    assert k["transactions"] == 800
    hist = queries.score_histogram(con)
    assert hist["transactions"].sum() == 800


def test_the_empty_lake_view_has_the_columns_of_a_written_lake(filled_lake, tmp_path):
    from core.lake import connect
    from core.lake_schema import TRANSACTION_COLUMNS

    data_dir, _ = filled_lake
    written = {r[0] for r in connect(data_dir / "lake").sql("describe transactions").fetchall()}
    empty = [r[0] for r in connect(tmp_path / "none").sql("describe transactions").fetchall()]
    assert empty == [c.name for c in TRANSACTION_COLUMNS]
    assert set(empty) <= written


def test_every_query_names_only_declared_columns(tmp_path):
    """The empty lake's view has exactly the declared columns: a query naming another one
    fails to bind."""
    import inspect

    con = queries.open_lake(tmp_path / "none")
    ran = []
    for name, query in inspect.getmembers(queries, inspect.isfunction):
        if (query.__module__ == queries.__name__ and not name.startswith("_")
                and "con" in inspect.signature(query).parameters):
            query(con)
            ran.append(name)
    assert set(queries.PAGE_QUERIES) <= set(ran), ran


def test_page_queries_read_aggregates_not_raw_rows(filled_lake):
    """With the raw-row views gone, every page query but the latest alerts still answers."""
    data_dir, _ = filled_lake
    con = queries.open_lake(data_dir / "lake")
    con.execute("DROP VIEW transactions")
    con.execute("DROP VIEW lake_rows")
    for name in queries.PAGE_QUERIES:
        if name != "latest_high_risk":
            getattr(queries, name)(con)
    with pytest.raises(Exception, match="lake_rows"):
        queries.latest_high_risk(con)


def test_the_overview_reads_a_compacted_lake(filled_lake, monkeypatch):
    from core.db import make_engine
    from core.lake import lake_files
    from core.settings import Settings
    from streams.lake_compactor import compact

    data_dir, out = filled_lake
    settings = Settings(data_dir=data_dir)
    before = len(lake_files(settings.lake_dir))
    stats = compact(settings.lake_dir, make_engine(settings.database_url), grace_seconds=0.0)
    assert stats.batches == before and len(lake_files(settings.lake_dir)) < before
    metrics = {m.label: m.value for m in run_app(data_dir, monkeypatch).metric}
    assert metrics["Transactions"] == "800"
    assert metrics["Alerts"] == f"{len(out.alerts):,}"


def test_feature_catalogue_lists_every_declared_feature(tmp_path, monkeypatch):
    from features import FEATURE_NAMES

    monkeypatch.setenv("FLOWLET_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(str(Path(APP).parent / "app_pages" / "feature_catalogue.py"),
                           default_timeout=60)
    from core.settings import Settings

    at.session_state["settings"] = Settings(data_dir=tmp_path)
    at.session_state["user"] = ANALYST  # every page is behind the login
    at.run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert list(shown["name"]) == list(FEATURE_NAMES)
    assert at.metric[0].value == f"{len(FEATURE_NAMES)} of {len(FEATURE_NAMES)}"


def test_overview_shows_the_backlog_the_api_holds(filled_lake, monkeypatch):
    from core.settings import Settings
    from streams.outbox.store import Outbox

    data_dir, _ = filled_lake
    outbox = Outbox(Settings(data_dir=data_dir).api_database_url)
    outbox.accept([(f"waiting-{i}", "acc-1", b"{}", "0" * 64) for i in range(3)])
    outbox.mark_processed(["waiting-0"])
    metrics = {m.label: m.value for m in run_app(data_dir, monkeypatch).metric}
    assert metrics["Accepted, not yet processed"] == "2"
