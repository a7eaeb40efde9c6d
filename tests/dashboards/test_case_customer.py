"""The case page shows the account's KYC profile and risk rating (``CustomerBook.view``)."""

from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cases import CaseStore, User
from core.contract import CustomerEvent
from core.settings import Settings
from screening import SAMPLE_LIST, ListStore
from streams.testing import run_pipeline

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


def test_the_case_page_shows_the_profile_and_risk_of_a_screened_customer(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ListStore(settings.database_url).load(SAMPLE_LIST)
    run_pipeline([CustomerEvent(
        event_id="kyc-1", account_id="acc-1", version=1,
        occurred_at=datetime(2026, 11, 2, tzinfo=UTC), customer_type="individual",
        name="Mohamed Karim Hadad", country="SY", pep=True, declared_income_minor=4_800_000,
        declared_income_currency="EUR", occupation="importer", onboarded_on="2026-11-01")],
        tmp_path)
    (case,) = CaseStore(settings.database_url).cases()
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = User("ana", "analyst")
    at.session_state["case_id"] = case["case_id"]
    at.run()
    at.switch_page("app_pages/case.py").run()
    assert not at.exception, at.exception
    assert "Customer profile and risk" in [s.value for s in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Name"] == "Mohamed Karim Hadad"
    assert metrics["PEP"] == "yes" and metrics["Risk"] == "high (65)"
    caption = next(c.value for c in at.caption if "Declared income" in c.value)
    assert "48000.00 EUR" in caption and "country_high_risk:SY, pep" in caption
