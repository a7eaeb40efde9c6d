"""Screening in the stream (``streams.testing.run_pipeline``): customers at onboarding and
payment counterparties raise screening alerts; a false-positive decision whitelists the pair."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cases import CaseStore
from core.contract import CustomerEvent, TransactionEvent
from core.settings import Settings
from customers import CustomerBook
from screening import SAMPLE_LIST, ListStore
from streams.testing import run_pipeline

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def customer(event_id: str, account: str, name: str, version: int = 1, **extra) -> CustomerEvent:
    return CustomerEvent(event_id=event_id, account_id=account, version=version,
                         occurred_at=T0 + timedelta(minutes=version), customer_type="individual",
                         name=name, country=extra.pop("country", "DE"),
                         onboarded_on=T0.date(), **extra)


def payment(tid: str, account: str, name: str | None, minutes: int = 0) -> TransactionEvent:
    return TransactionEvent(transaction_id=tid, event_type="p2p_transfer",
                            occurred_at=T0 + timedelta(minutes=minutes), amount_minor=12_000,
                            currency="EUR", account_id=account,
                            counterparty_account_id="acc-ext", counterparty_name=name,
                            country="DE", channel="mobile_app")


def screening_alerts(out):
    return sorted((a["source"], a["account_id"], a["transaction_id"], a["reason_codes"][0])
                   for a in out.alerts if a["source"].startswith("screening:"))


def test_screening_alerts_whitelisting_and_redelivery(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ListStore(settings.database_url).load(SAMPLE_LIST)
    first = [
        customer("kyc-1", "acc-1", "Мохаммед Карим Хаддад", country="SY"),  # transliterated
        customer("kyc-2", "acc-2", "Ivan Petrenko"),  # similar, unrelated
        payment("tx-1", "acc-3", "Mohamed Karim Hadad"),  # spelling variant
        payment("tx-2", "acc-3", "Ivana Petrovic", 1),  # similar, unrelated
        payment("tx-3", "acc-4", "Jurgen Konig", 2),  # a PEP
        payment("tx-4", "acc-4", None, 3),  # no name: nothing to screen
    ]
    out = run_pipeline(first, tmp_path)
    assert out.customers == 2 and out.lake_rows == 4  # payments without funds: rejected, screened
    assert screening_alerts(out) == [
        ("screening:pep", "acc-4", "tx-3", "entry:syn-p-0002"),
        ("screening:sanctions", "acc-1", "customer:kyc-1", "entry:syn-s-0003"),
        ("screening:sanctions", "acc-3", "tx-1", "entry:syn-s-0003"),
    ]
    onboarding = next(a for a in out.alerts if a["transaction_id"] == "customer:kyc-1")
    assert onboarding["reason_codes"][1:3] == ["subject:customer:acc-1",
                                              "listed_name:Mohammed Karim Haddad"]
    assert 0.90 <= onboarding["score"] <= 1 and onboarding["customer_risk"] == "medium"

    store = CaseStore(settings.database_url)
    stored = {a["entity_id"]: a for a in store.alerts(source="screening:sanctions")}
    assert set(stored) == {"acc-1", "acc-3"}
    # a medium-risk customer's alert ranks 5 points higher than its score alone
    assert stored["acc-1"]["priority"] == min(100, round(100 * onboarding["score"]) + 5)
    assert stored["acc-3"]["priority"] == round(100 * stored["acc-3"]["score_max"])  # no profile

    hits_before = sum(a["hits"] for a in store.alerts(status=None))
    again = run_pipeline(first, tmp_path)  # a redelivery: nothing new anywhere
    assert again.customers == 0 and again.lake_rows == 0
    assert sum(a["hits"] for a in store.alerts(status=None)) == hits_before
    assert len(store.alerts(source="screening:sanctions")) == 2
    assert all(a["hits"] == 1 for a in store.alerts(source="screening:sanctions"))

    # The analyst finds both sanctions hits are false positives.
    store.add_user("ana", "analyst", "a long enough password")
    for account in ("acc-1", "acc-3"):
        outcome = store.decide(stored[account]["case_id"], "not_fraud", "ana", "other person")
        # a profile hit is no transaction: no label for it; the payment gets its label
        assert [lb.labelled_transaction_id for lb in outcome.labels] == \
            ([] if account == "acc-1" else ["tx-1"])

    later = run_pipeline([
        customer("kyc-3", "acc-1", "Мохаммед Карим Хаддад", version=2, country="SY"),
        payment("tx-5", "acc-3", "Mohamed Karim Hadad", 10),  # whitelisted pair
        payment("tx-6", "acc-5", "Mohamed Karim Hadad", 11),  # same name, other payer
        payment("tx-7", "acc-3", "Mohammed Kareem Haddad", 12),  # another spelling: screened
        customer("kyc-4", "acc-6", "Mohammed Karim Haddad"),  # another customer: screened
    ], tmp_path)
    assert screening_alerts(later) == [
        ("screening:sanctions", "acc-3", "tx-7", "entry:syn-s-0003"),
        ("screening:sanctions", "acc-6", "customer:kyc-4", "entry:syn-s-0003"),
    ]
    assert CustomerBook(settings.database_url).profile("acc-1")["version"] == 2


def test_bad_customer_events_are_dead_letters_and_the_rest_goes_on(tmp_path):
    good = customer("kyc-1", "acc-1", "Ana Lima")
    bad = good.model_dump(mode="json") | {"declared_income_minor": 100}  # no currency
    out = run_pipeline([json.dumps(bad).encode(), good, payment("tx-1", "acc-1", None)],
                       tmp_path)
    assert out.customers == 1 and out.lake_rows == 1
    (dead,) = out.dead_letters
    assert "declared_income_minor and declared_income_currency go together" in dead.reason
