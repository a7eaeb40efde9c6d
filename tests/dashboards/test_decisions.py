"""The Decisions page: precision of decided alerts per source and version, per day."""

from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cases import CaseStore, User
from core.settings import Settings

PAGE = str(Path(__file__).resolve().parents[2] / "dashboards" / "app_pages" / "decisions.py")
PASSWORD = "correct horse battery"


def alert(n: int, account: str) -> dict:
    return {"transaction_id": f"tx-{n}", "account_id": account, "merchant_id": None,
            "score": 0.9, "source": "model", "model_version": "flowlet-fraud/2",
            "amount_minor": 1_000, "currency": "EUR",
            "occurred_at": datetime(2026, 12, 1, tzinfo=UTC).isoformat(), "reason_codes": []}


def run_page(settings: Settings) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = User("ana", "analyst")
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_page_shows_precision_from_decisions(tmp_path):
    settings = Settings(data_dir=tmp_path)
    store = CaseStore(settings.database_url)
    store.add_user("ana", "analyst", PASSWORD)
    store.record_alerts([alert(i, f"acc-{i}") for i in range(4)])
    cases = store.cases()
    for case, decision in zip(cases, ("confirmed_fraud", "confirmed_fraud", "not_fraud"),
                              strict=False):
        store.decide(case["case_id"], decision, "ana")
    at = run_page(settings)
    assert {m.label: m.value for m in at.metric}["Cases decided"] == "3"
    (row,) = at.dataframe[0].value.to_dict("records")
    assert (row["source"], row["source_version"], row["confirmed"], row["cleared"]) == (
        "model", "flowlet-fraud/2", 2, 1)
    assert abs(row["precision"] - 2 / 3) < 1e-9


def test_the_page_before_any_decision(tmp_path):
    at = run_page(Settings(data_dir=tmp_path))
    assert "No case has been decided" in at.info[0].value
