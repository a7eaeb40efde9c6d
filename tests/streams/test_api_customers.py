"""``POST /v1/customers`` in-process on the real broker: validation naming the field, the
outbox's accepted/duplicate/conflict answers, publication keyed by account, and the relay
seeing a profile processed once the worker's customer book stored it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.contract import CustomerEvent
from core.settings import Settings
from customers import CustomerBook
from streams.api import create_api
from streams.outbox.customers import processed_customers
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

PROFILE = {
    "event_type": "customer", "event_id": "kyc-1", "account_id": "acc-9", "version": 1,
    "occurred_at": "2026-11-22T09:00:00Z", "customer_type": "business",
    "name": "Nordwind Shipping Ltd", "country": "CY", "declared_income_minor": 90_000_000,
    "declared_income_currency": "EUR", "business": "shipping", "onboarded_on": "2026-11-20",
}


@pytest.fixture
def api(broker, tmp_path, key_headers):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        api_max_batch=5, outbox_reconcile_seconds=0.5)
    ensure_topics(settings)
    with TestClient(create_api(settings), headers=key_headers(settings)) as client:
        yield client, settings


@pytest.mark.parametrize(("body", "loc", "msg"), [
    ({**PROFILE, "country": "Cyprus"}, ["body", "country"], "should match pattern"),
    ({**PROFILE, "country": "XX"}, ["body", "country"], "'XX' is not an ISO 3166-1 alpha-2"),
    ({**PROFILE, "pep": "yes"}, ["body", "pep"], "valid boolean"),
    ([PROFILE, {**PROFILE, "declared_income_minor": 12.5}],
     ["body", 1, "declared_income_minor"], "valid integer"),
    ({k: v for k, v in PROFILE.items() if k != "name"}, ["body", "name"], "Field required"),
    ({**PROFILE, "customer_type": "trust"}, ["body", "customer_type"], "'individual'"),
    ({**PROFILE, "onboarded_on": "2026-12-01"}, ["body"], "onboarded_on is after occurred_at"),
])
def test_bad_profiles_are_a_422_naming_the_field(api, body, loc, msg):
    client, _ = api
    resp = client.post("/v1/customers", json=body)
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["detail"]
    assert error["loc"] == loc and msg in error["msg"]


def test_profiles_are_accepted_once_published_by_account_and_seen_processed(
        api, read_topic, wait_until):
    client, settings = api
    assert client.post("/v1/customers", json=PROFILE).json() == {"event_id": "kyc-1",
                                                                  "status": "accepted"}
    assert client.post("/v1/customers", json=PROFILE).json()["status"] == "duplicate"
    resp = client.post("/v1/customers", json={**PROFILE, "pep": True})
    assert resp.status_code == 409 and resp.json()["status"] == "conflict"
    body = client.post("/v1/customers", json=[PROFILE, {**PROFILE, "event_id": "kyc-2",
                                                        "version": 2}]).json()
    assert (body["accepted"], body["duplicate"]) == (1, 1)

    found: list = []

    def published() -> bool:
        found[:] = read_topic(settings.broker, settings.topic_transactions)
        return len(found) >= 2

    wait_until(published, 30, "two profiles on the topic", interval=0.2)
    events = [CustomerEvent.model_validate_json(r.value) for r in found]
    assert sorted(e.event_id for e in events) == ["kyc-1", "kyc-2"]
    assert {r.key for r in found} == {b"acc-9"}

    book = CustomerBook(settings.database_url)  # the worker's side
    assert processed_customers(book.engine, ["customer:kyc-1", "tx-1"]) == set()
    book.apply(events[:1])
    assert processed_customers(book.engine, ["customer:kyc-1", "customer:kyc-2", "tx-1"]) \
        == {f"customer:{events[0].event_id}"}
    wait_until(lambda: client.get("/stats").json()["processed"] >= 1, 20, "the relay's check")


def test_openapi_documents_the_customer_event(api):
    client, _ = api
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/customers"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/CustomerEvent"}
    customer = spec["components"]["schemas"]["CustomerEvent"]
    assert {"event_id", "account_id", "version", "name", "country"} <= set(customer["required"])
    assert "TransactionEvent" in spec["components"]["schemas"]
