"""The Ledger page: trial balance, rejections by reason in words, verify on demand."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cases import User
from core.contract import EventType, TransactionEvent
from core.lake import connect
from core.settings import Settings
from dashboards import ledger_health
from ledger import Ledger
from simulator import Simulator
from streams.testing import run_pipeline

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
BROKE = 7  # withdrawals from accounts that never received money


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("books")
    now = datetime.now(UTC)
    events: list[TransactionEvent] = [t.event for t in Simulator(
        seed=4, n_accounts=30, n_merchants=6).generate(600, now - timedelta(days=1), now)]
    events += [TransactionEvent(transaction_id=f"tx-broke-{i}", event_type=EventType.WITHDRAWAL,
                                occurred_at=now, amount_minor=5_000, currency="EUR",
                                account_id=f"acct-broke-{i}", country="DE", channel="atm")
               for i in range(BROKE)]
    run_pipeline(events, data_dir)
    return Settings(data_dir=data_dir)


def test_the_trial_balance_is_zero_in_every_currency(books):
    ledger = Ledger.from_url(books.database_url)
    trial = ledger_health.trial_balance(ledger.engine)
    assert set(trial["currency"]) == set(ledger.trial_balance())
    assert (trial["balanced"] == "yes").all() and (trial["accounts"] > 1).all()


def test_rejections_are_counted_by_reason_in_words(books):
    con = connect(books.lake_dir)
    table = ledger_health.rejections_by_reason(con)
    ((total,),) = con.sql("select count(*) from transactions "
                          "where ledger_status = 'rejected'").fetchall()
    assert table["transactions"].sum() == total >= BROKE
    funds = table[table["reason"] == "Not enough money in the wallet"]
    assert funds["transactions"].item() >= BROKE
    assert funds["latest example"].item().startswith("insufficient funds")
    assert table["latest"].str.endswith(" UTC").all()
    # Read from the lake's rejection cube, as the rejected rows themselves answer.
    ((in_cube,),) = con.sql("select sum(transactions) from aggregates "
                            "where cube = 'rejection'").fetchall()
    assert in_cube == total
    pd.testing.assert_frame_equal(table, ledger_health.rejections_from_rows(con))


def test_an_empty_lake_has_no_rejections(tmp_path):
    table = ledger_health.rejections_by_reason(connect(tmp_path / "lake"))
    assert table.empty
    assert list(table.columns) == ["reason", "transactions", "latest", "latest example"]


def test_verify_finds_consistent_books(books):
    run = ledger_health.run_verify(Ledger.from_url(books.database_url).engine)
    assert run.report.ok, run.report.problems
    assert run.report.rejected >= BROKE and run.seconds >= 0


def _page(settings: Settings, user: User) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = user
    at.run()
    at.switch_page("app_pages/ledger_health.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_shows_the_books_and_a_lead_verifies_them(books):
    analyst = _page(books, User("ana", "analyst"))
    assert [t.value for t in analyst.title] == ["Ledger"]
    assert any("Balanced in all" in s.value for s in analyst.success)
    rejected = analyst.dataframe[0].value
    assert "Not enough money in the wallet" in set(rejected["reason"])
    assert not [b for b in analyst.button if b.key == "verify"], "verify is a lead's"

    lead = _page(books, User("lea", "lead"))
    lead.button(key="verify").click().run()
    assert not lead.exception, lead.exception
    assert any(s.value.startswith("Consistent:") for s in lead.success)
    assert "OK: ledger is consistent" in lead.code[0].value
