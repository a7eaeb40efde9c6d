"""The ingestion API in-process (FastAPI's TestClient runs its lifespan) on the real broker."""

from __future__ import annotations

import time
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
def api(broker, tmp_path, key_headers):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        api_max_batch=5, outbox_reconcile_seconds=0.5)
    ensure_topics(settings)
    with TestClient(create_api(settings), headers=key_headers(settings)) as client:
        yield client, settings


def test_accepts_once_then_reports_duplicates_and_conflicts(api, read_topic, wait_until):
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

    records = published(settings, read_topic, wait_until, 2)  # the relay publishes after the answer
    assert [r.key for r in records] == [b"acc-9", b"acc-9"]  # keyed by account
    assert {TransactionEvent.model_validate_json(r.value).transaction_id
            for r in records} == {"api-1", "api-2"}


@pytest.mark.parametrize(("body", "status", "loc"), [
    ({**EVENT, "amount_minor": 25.0}, 422, ["body", "amount_minor"]),
    ([EVENT, {**EVENT, "currency": "ZZZ"}], 422, ["body", 1, "currency"]),
    ([EVENT, {**EVENT, "country": "XX"}], 422, ["body", 1, "country"]),
    ({**EVENT, "country": "BV"}, 422, ["body", "country"]),
    ([], 422, ["body"]),
    ("just a string", 422, ["body"]),
    ([EVENT] * 6, 413, None),
])
def test_bad_requests_name_the_problem_and_publish_nothing(api, read_topic, wait_until, body,
                                                           status, loc):
    client, settings = api
    resp = client.post("/v1/transactions", json=body)
    assert resp.status_code == status, resp.text
    if loc is not None:
        assert resp.json()["detail"][0]["loc"] == loc
    # A valid event after it: the outbox publishes in acceptance order, so anything the bad
    # request had stored would land before this one.
    marker = {**EVENT, "transaction_id": "api-marker"}
    assert client.post("/v1/transactions", json=marker).json()["status"] == "accepted"
    records = published(settings, read_topic, wait_until, 1)
    assert [TransactionEvent.model_validate_json(r.value).transaction_id
            for r in records] == ["api-marker"]


def test_invalid_json_is_a_422(api):
    client, _ = api
    resp = client.post("/v1/transactions", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert "invalid JSON" in resp.json()["detail"][0]["msg"]


def published(settings: Settings, read_topic, wait_until, at_least: int) -> list:  # noqa: ANN001
    """The transactions topic once the relay has published at least ``at_least`` records."""
    found: list = []

    def enough() -> bool:
        found[:] = read_topic(settings.broker, settings.topic_transactions)
        return len(found) >= at_least

    wait_until(enough, 30, f"{at_least} records on {settings.topic_transactions}", interval=0.2)
    return found


def test_accepted_during_a_broker_outage_and_published_when_it_is_back(api, broker,
                                                                       read_topic, wait_until):
    client, settings = api
    event = {**EVENT, "transaction_id": "api-outage"}
    broker.stop()
    # Stored in the outbox before the answer: accepted although no broker is there.
    resp = client.post("/v1/transactions", json=event)
    assert resp.status_code == 200 and resp.json()["status"] == "accepted", resp.text
    assert client.post("/v1/transactions", json=event).json()["status"] == "duplicate"
    broker.start()  # same port, empty (memory-only) broker
    ensure_topics(settings)
    copies = published(settings, read_topic, wait_until, 1)
    assert {(r.key, TransactionEvent.model_validate_json(r.value).transaction_id)
            for r in copies} == {(b"acc-9", "api-outage")}


def test_a_broker_that_lost_its_topics_gets_every_unfinished_event_again(api, broker,
                                                                          read_topic, wait_until):
    client, settings = api
    ids = [f"api-lost-{i}" for i in range(3)]
    body = client.post("/v1/transactions",
                       json=[{**EVENT, "transaction_id": t} for t in ids]).json()
    assert body["accepted"] == 3
    published(settings, read_topic, wait_until, 3)
    wait_until(lambda: client.get("/stats").json()["published"] >= 3, 20, "the publish")
    broker.stop()
    broker.start()  # memory-only: every topic is gone
    ensure_topics(settings)
    again = published(settings, read_topic, wait_until, 3)
    assert sorted(TransactionEvent.model_validate_json(r.value).transaction_id
                  for r in again) == ids
    assert client.get("/stats").json()["republished_broker_loss"] >= 3


def test_a_resent_unfinished_event_is_published_again(broker, tmp_path, key_headers, read_topic,
                                                      wait_until):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        outbox_reconcile_seconds=0.5, outbox_resend_after_seconds=1.0)
    ensure_topics(settings)
    event = {**EVENT, "transaction_id": "api-resent"}
    with TestClient(create_api(settings), headers=key_headers(settings)) as client:
        assert client.post("/v1/transactions", json=event).json()["status"] == "accepted"
        published(settings, read_topic, wait_until, 1)
        wait_until(lambda: client.get("/stats").json()["published"] >= 1, 20, "the publish")
        # At once: a client retrying a lost answer; nothing is published again.
        assert client.post("/v1/transactions", json=event).json()["status"] == "duplicate"
        time.sleep(1.5)
        assert len(read_topic(settings.broker, settings.topic_transactions)) == 1
        # Later, still unfinished (no worker): a client re-sending it repairs a loss it
        # cannot see.
        assert client.post("/v1/transactions", json=event).json()["status"] == "duplicate"
        copies = published(settings, read_topic, wait_until, 2)
    assert {TransactionEvent.model_validate_json(r.value).transaction_id
            for r in copies} == {"api-resent"}


def test_over_the_backlog_bound_the_answer_is_429_with_retry_after(broker, tmp_path, key_headers):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        api_max_backlog=2, api_retry_after_seconds=3)
    ensure_topics(settings)
    with TestClient(create_api(settings), headers=key_headers(settings)) as client:
        batch = [{**EVENT, "transaction_id": f"bp-{i}"} for i in range(2)]
        assert client.post("/v1/transactions", json=batch).json()["accepted"] == 2
        # Nothing processes them (no worker): the backlog stays at its bound.
        resp = client.post("/v1/transactions", json={**EVENT, "transaction_id": "bp-2"})
        assert resp.status_code == 429, resp.text
        assert resp.headers["retry-after"] == "3"
        assert client.get("/stats").json()["backlog"] == 2


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

