"""Customer profiles (idempotent storage, latest version wins) and risk ratings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases import CaseStore
from core.contract import CustomerEvent, TransactionEvent
from customers import CustomerBook, Profile, rate

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def profile_event(event_id: str, version: int, **fields) -> CustomerEvent:
    base = {"account_id": "acc-1", "customer_type": "individual", "name": "Ana Lima",
            "country": "PT", "declared_income_minor": 3_600_000,
            "declared_income_currency": "EUR", "occupation": "nurse"}
    return CustomerEvent(event_id=event_id, version=version,
                         occurred_at=T0 + timedelta(days=version), onboarded_on=T0.date(),
                         **(base | fields))


def test_profiles_are_stored_once_and_the_highest_version_wins(db_url):
    book = CustomerBook(db_url)
    v1, v2 = profile_event("kyc-1", 1), profile_event("kyc-2", 2, country="IR")
    assert book.bands_after([v1]) == {"acc-1": "low"} and book.bands(["acc-1"]) == {}
    assert book.apply([v1]) == 1
    # what v2 will give, before it is stored; an older version changes nothing
    assert book.bands_after([v2, profile_event("kyc-0", 1, pep=True, country="KP")]) == \
        {"acc-1": "medium"}
    assert book.bands_after([profile_event("kyc-0", 1, pep=True, country="KP")]) == \
        {"acc-1": "low"}
    assert book.apply([v1]) == 0  # redelivered: nothing changes
    assert book.apply([v2, v2]) == 1  # twice in one batch: once
    assert book.apply([profile_event("kyc-0", 1, country="DE")]) == 1  # late, older version
    assert book.apply([profile_event("kyc-2b", 2, country="FR")]) == 1  # same version, late
    stored = book.profile("acc-1")
    assert (stored["event_id"], stored["version"], stored["country"]) == ("kyc-2", 2, "IR")
    assert book.view("acc-1")["risk"]["reasons"] == ["country_high_risk:IR"]
    assert book.processed(["kyc-0", "kyc-1", "kyc-9"]) == {"kyc-0", "kyc-1"}
    assert book.view("acc-404") == {"account_id": "acc-404", "profile": None, "risk": None}


@pytest.mark.parametrize(("profile", "band", "score", "reasons"), [
    (Profile("a", "individual", "DE", False, 5_000_000, "EUR", "teacher", None),
     "low", 0, ()),
    (Profile("a", "individual", "DE", True, 5_000_000, "EUR", "minister", None),
     "medium", 30, ("pep",)),
    (Profile("a", "individual", "NG", False, None, None, "trader", None),
     "low", 25, ("country_medium_risk:NG", "income_undeclared")),
    (Profile("a", "individual", "KP", True, None, None, None, None),
     "high", 75, ("country_high_risk:KP", "pep", "income_undeclared")),
    (Profile("a", "business", "GB", False, 90_000_000, "GBP", None, "Bakery"),
     "low", 5, ("business",)),
    (Profile("a", "business", "AE", False, 90_000_000, "USD", None, "Money Service Business"),
     "medium", 40, ("country_medium_risk:AE", "business_high_risk:money service")),
])
def test_profile_ratings(profile, band, score, reasons):
    rating = rate(profile)
    assert (rating.band, rating.score, rating.reasons) == (band, score, reasons)


def test_features_raise_the_rating_only_in_the_declared_currency():
    p = Profile("a", "individual", "DE", False, 1_200_000, "EUR", "student", None)
    busy = {"acct_sum_30d": 400_000.0, "acct_pass_through_24h": 0.9,
            "acct_structuring_count_7d": 4.0, "acct_distinct_cp_in_7d": 12.0}
    rating = rate(p, busy, "EUR")
    assert rating.reasons == ("volume_vs_income:4.0x", "pass_through_24h", "structuring_7d",
                              "many_counterparties_7d")
    assert (rating.band, rating.score) == ("high", 65)
    assert "volume_vs_income:4.0x" not in rate(p, busy, "USD").reasons  # not comparable
    assert rate(p, {"acct_sum_30d": 100_000.0}, "EUR").reasons == ()  # a year's income: fine


def test_transactions_re_rate_known_customers(tmp_path):
    book = CustomerBook(f"sqlite:///{tmp_path / 'db.sqlite'}")
    book.apply([profile_event("kyc-1", 1, declared_income_minor=1_200_000)])
    tx = TransactionEvent(transaction_id="tx-1", event_type="top_up", occurred_at=T0,
                          amount_minor=400_000, currency="EUR", account_id="acc-1",
                          country="PT", channel="mobile_app")
    stranger = tx.model_copy(update={"transaction_id": "tx-2", "account_id": "acc-2"})
    vector = {"acct_sum_30d": 400_000.0, "acct_pass_through_24h": 0.95}
    assert book.observe([tx, stranger], [vector, vector]) == 1  # acc-2 has no profile
    assert book.bands(["acc-1", "acc-2"]) == {"acc-1": "medium"}
    assert book.view("acc-1")["risk"]["reasons"] == ["volume_vs_income:4.0x",
                                                     "pass_through_24h"]


def test_a_high_risk_customer_s_alert_gets_a_higher_priority(tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    alert = dict(account_id="acc-1", merchant_id=None, score=0.6, model_version="m/1",
                 amount_minor=25_000, currency="EUR", occurred_at=T0.isoformat(),
                 reason_codes=[])
    store.record_alerts([alert | {"transaction_id": "tx-1", "customer_risk": "high"},
                         alert | {"transaction_id": "tx-2", "account_id": "acc-2",
                                  "customer_risk": "low"},
                         alert | {"transaction_id": "tx-3", "account_id": "acc-3"}])
    priorities = {a["entity_id"]: a["priority"] for a in store.alerts()}
    assert priorities == {"acc-1": 75, "acc-2": 60, "acc-3": 60}
    assert [a["entity_id"] for a in store.alerts()][0] == "acc-1"  # first in the queue
