"""The ingestion API in-process (FastAPI's TestClient runs its lifespan) on the real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from core.contract import TransactionEvent
from core.settings import Settings
from streams.api import create_api
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

EVENT = {
    "transaction_id": "api-1", "event_type": "p2p_transfer",
    "occurred_at": datetime(2026, 11, 22, 9, tzinfo=UTC).isoformat(), "amount_minor": 2500,
    "currency": "GBP", "account_id": "acc-9", "counterparty_account_id": "acc-10",
    "country": "GB", "channel": "mobile_app",
}


@pytest.fixture
def api(broker, tmp_path):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        api_max_batch=5, api_publish_timeout_seconds=3)
    ensure_topics(settings)
    with TestClient(create_api(settings)) as client:
        yield client, settings


def test_accepts_once_then_reports_duplicates_and_conflicts(api, read_topic):
    client, settings = api
    assert client.post("/v1/transactions", json=EVENT).json() == {
        "transaction_id": "api-1", "status": "accepted"}
    assert client.post("/v1/transactions", json=EVENT).json()["status"] == "duplicate"
    resp = client.post("/v1/transactions", json={**EVENT, "amount_minor": 2501})
    assert resp.status_code == 409 and resp.json()["status"] == "conflict"
    batch = [EVENT, {**EVENT, "transaction_id": "api-2"}, {**EVENT, "transaction_id": "api-2"}]
    body = client.post("/v1/transactions", json=batch).json()
    assert [r["status"] for r in body["results"]] == ["duplicate", "accepted", "duplicate"]
    assert (body["accepted"], body["duplicate"], body["conflict"]) == (1, 2, 0)

    records = read_topic(settings.broker, settings.topic_transactions)  # acked before answered
    assert [r.key for r in records] == [b"acc-9", b"acc-9"]  # keyed by account
    assert {TransactionEvent.model_validate_json(r.value).transaction_id
            for r in records} == {"api-1", "api-2"}


@pytest.mark.parametrize(("body", "status", "loc"), [
    ({**EVENT, "amount_minor": 25.0}, 422, ["body", "amount_minor"]),
    ([EVENT, {**EVENT, "currency": "ZZZ"}], 422, ["body", 1, "currency"]),
    ([], 422, ["body"]),
    ("just a string", 422, ["body"]),
    ([EVENT] * 6, 413, None),
])
def test_bad_requests_name_the_problem_and_publish_nothing(api, read_topic, body, status, loc):
    client, settings = api
    resp = client.post("/v1/transactions", json=body)
    assert resp.status_code == status, resp.text
    if loc is not None:
        assert resp.json()["detail"][0]["loc"] == loc
    # A valid event for the same account after it: the producer keeps a partition's order, so
    # anything the bad request had sent (even without waiting) lands before this one's ack.
    marker = {**EVENT, "transaction_id": "api-marker"}
    assert client.post("/v1/transactions", json=marker).json()["status"] == "accepted"
    records = read_topic(settings.broker, settings.topic_transactions)
    assert [TransactionEvent.model_validate_json(r.value).transaction_id
            for r in records] == ["api-marker"]


def test_invalid_json_is_a_422(api):
    client, _ = api
    resp = client.post("/v1/transactions", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert "invalid JSON" in resp.json()["detail"][0]["msg"]


def test_broker_outage_is_a_503_and_the_retry_is_published(api, broker, wait_until,
                                                            read_topic):
    client, settings = api
    event = {**EVENT, "transaction_id": "api-outage"}
    broker.stop()
    assert client.post("/v1/transactions", json=event).status_code == 503
    # Not a "duplicate" on retry: the first attempt never reached the broker.
    assert client.post("/v1/transactions", json=event).status_code == 503
    broker.start()  # same port, empty (memory-only) broker
    ensure_topics(settings)
    def retry():  # as a client would: the producer reconnects in the background
        resp = client.post("/v1/transactions", json=event)
        return resp if resp.status_code != 503 else None

    resp = wait_until(retry, 30, "a POST answered other than 503 after the broker is back",
                      interval=1)
    assert resp.status_code == 200 and resp.json()["status"] == "accepted", resp.text
    assert client.post("/v1/transactions", json=event).json()["status"] == "duplicate"
    # A 503 means "not confirmed", not "not sent": sends buffered during the outage may still
    # be delivered once the broker is back. Every copy is the same event, which the ledger,
    # the lake and the features deduplicate by transaction_id.
    copies = read_topic(settings.broker, settings.topic_transactions)
    assert copies and {(r.key, TransactionEvent.model_validate_json(r.value).transaction_id)
                       for r in copies} == {(b"acc-9", "api-outage")}


def test_out_of_range_dates_are_a_422_not_a_500(api):
    client, _ = api
    resp = client.post("/v1/transactions",
                       json={**EVENT, "occurred_at": "0001-01-01T00:00:00+05:00"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "occurred_at"]


def test_openapi_documents_the_contract(api):
    client, _ = api
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/transactions"]["post"]["requestBody"]
    assert "oneOf" in body["content"]["application/json"]["schema"]
    assert "amount_minor" in spec["components"]["schemas"]["TransactionEvent"]["properties"]
    assert client.get("/healthz").json() == {"status": "ok"}

