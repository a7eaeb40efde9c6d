"""The Rules page through AppTest: a lead authors a draft (a bad condition is refused with its
position), backtests it over the lake, sees the figures and activates it; the page is not
offered to an analyst."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cases import CaseStore, User
from core.settings import Settings
from rules import RuleStore
from simulator import Simulator
from streams.testing import run_pipeline

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PAGE = "app_pages/rule_editor.py"


@pytest.fixture
def settings(tmp_path):
    now = datetime.now(UTC)
    txs = Simulator(seed=4, n_accounts=30, n_merchants=5).generate(
        300, now - timedelta(hours=3), now - timedelta(minutes=5))
    run_pipeline([t.event for t in txs], tmp_path)
    settings = Settings(data_dir=tmp_path)
    store = CaseStore(settings.database_url)
    store.add_user("lea", "lead", "lea's long password")
    store.add_user("ana", "analyst", "ana's long password")
    return settings


def page(settings: Settings, user: User) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = user
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_a_lead_authors_backtests_and_activates(settings):
    at = page(settings, User("lea", "lead"))
    at.text_input(key="rule_id").input("big")
    at.text_area(key="rule_condition").input("amount_minor >= 20_000 and acct_cnt_1h > 0")
    at.button(key="save_draft").click().run()
    assert any("line 1, column 28: unknown name 'acct_cnt_1h'" in e.value for e in at.error), [
        e.value for e in at.error]
    at.text_area(key="rule_condition").input("amount_minor >= 20_000").run()
    at.button(key="save_draft").click().run()
    assert [s.value for s in at.success] == ["new draft big v1"]

    at.run()  # the listing now has the rule
    assert at.button(key="activate").disabled  # no backtest yet
    at.button(key="run_backtest").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Transactions"] == "300" and int(metrics["Alerts"]) > 0
    at.button(key="activate").click().run()
    assert [s.value for s in at.success] == ["big v1 is active"]
    assert RuleStore(settings.database_url).version("big").status == "active"
    at.run()
    at.button(key="deactivate").click().run()
    assert [s.value for s in at.success] == ["big is no longer active"]
    assert RuleStore(settings.database_url).version("big").status == "draft"


def test_an_analyst_is_not_offered_the_page(settings):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = User("ana", "analyst")
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
