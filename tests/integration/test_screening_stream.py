"""Screening and customer profiles through real processes: the API's outbox, the broker and a
worker — a profile and a payment posted to the API raise screening alerts in the workbench."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from cases import CaseStore
from customers import CustomerBook
from screening import SAMPLE_LIST, ListStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_profiles_and_payments_are_screened_by_the_worker(stack_settings, spawn, wait_http_ok,
                                                          wait_until, key_headers):
    s = stack_settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    ListStore(s.database_url).load(SAMPLE_LIST)
    api = spawn("api", ["api"], s)
    spawn("worker", ["worker"], s)
    base = f"http://{s.api_host}:{s.api_port}"
    wait_http_ok(f"{base}/healthz", child=api)
    now = datetime.now(UTC).isoformat()
    profile = {"event_type": "customer", "event_id": "kyc-int-1", "account_id": "acc-int-1",
               "version": 1, "occurred_at": now, "customer_type": "individual",
               "name": "Мохаммед Карим Хаддад", "country": "SY", "pep": False,
               "onboarded_on": now[:10]}
    payment = {"transaction_id": "tx-int-1", "event_type": "top_up", "occurred_at": now,
               "amount_minor": 50_000, "currency": "EUR", "account_id": "acc-int-2",
               "country": "DE", "channel": "web", "counterparty_name": "Jurgen Konig"}
    with httpx.Client(base_url=base, timeout=10, headers=key_headers(s)) as client:
        assert client.post("/v1/customers", json=profile).json()["status"] == "accepted"
        assert client.post("/v1/transactions", json=payment).json()["status"] == "accepted"

        store = CaseStore(s.database_url)

        def screened() -> bool:
            return {(a["source"], a["entity_id"]) for a in store.alerts()
                    if a["source"].startswith("screening:")} == {
                ("screening:sanctions", "acc-int-1"), ("screening:pep", "acc-int-2")}

        wait_until(screened, 120, "both screening alerts in the workbench")
        view = CustomerBook(s.database_url).view("acc-int-1")
        assert view["profile"]["name"] == "Мохаммед Карим Хаддад"
        assert view["risk"]["band"] == "medium"  # SY (35) + no declared income (10)
        # the relay sees both events processed: the profile stored, the payment in the lake
        wait_until(lambda: client.get("/stats").json()["backlog"] == 0, 60,
                   "the outbox's backlog drained")
