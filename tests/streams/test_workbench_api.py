"""The workbench API in-process on the real broker: login, queue, case, decision → labels on
the stream, refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cases import CaseStore
from core.contract import LabelEvent
from core.settings import Settings
from streams.api import create_api
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
PASSWORD = "correct horse battery"
ANA, LEA = ("ana", PASSWORD), ("lea", PASSWORD)


def alert(n: int, account: str = "acc-1") -> dict:
    return {"transaction_id": f"tx-{n}", "account_id": account, "merchant_id": "mer-1",
            "score": 0.9, "source": "model", "model_version": "flowlet-fraud/1",
            "amount_minor": 5_000, "currency": "EUR",
            "occurred_at": (T0 + timedelta(minutes=n)).isoformat(), "reason_codes": []}


@pytest.fixture
def workbench(broker, tmp_path):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        outbox_reconcile_seconds=0.5)
    ensure_topics(settings)
    store = CaseStore(settings.database_url)
    for name, role in (("ana", "analyst"), ("bo", "analyst"), ("lea", "lead")):
        store.add_user(name, role, PASSWORD)
    store.record_alerts([alert(1), alert(2), alert(3, "acc-2")])  # as the worker does
    with TestClient(create_api(settings)) as client:
        yield client, settings, store


def test_every_route_needs_a_user_and_failures_are_audited(workbench):
    client, _, store = workbench
    assert client.get("/v1/alerts").status_code == 401
    assert client.get("/v1/alerts", auth=("ana", "not the password")).status_code == 401
    assert store.audit_entries(limit=1)[0]["action"] == "login_failed"
    store.set_disabled("bo")
    assert client.get("/v1/cases", auth=("bo", PASSWORD)).status_code == 401
    assert client.get("/v1/alerts", auth=ANA).status_code == 200


def test_queue_case_decision_and_labels_on_the_stream(workbench, read_topic, wait_until):
    client, settings, _ = workbench
    queue = client.get("/v1/alerts", auth=ANA).json()
    assert sorted((a["entity_id"], a["hits"]) for a in queue) == [("acc-1", 2), ("acc-2", 1)]
    case_id = next(a["case_id"] for a in queue if a["entity_id"] == "acc-1")
    assert client.post(f"/v1/cases/{case_id}/assign", json={"assignee": "ana"},
                       auth=LEA).json()["state"] == "assigned"
    assert client.post(f"/v1/cases/{case_id}/review", auth=ANA).json()["state"] == "in_review"
    client.post(f"/v1/cases/{case_id}/notes", json={"text": "customer called"}, auth=ANA)
    resp = client.post(f"/v1/cases/{case_id}/decision",
                       json={"decision": "confirmed_fraud", "note": "card stolen"}, auth=ANA)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["case"]["state"] == "decided"
    assert sorted(lb["labelled_transaction_id"] for lb in body["labels"]) == ["tx-1", "tx-2"]
    case = client.get(f"/v1/cases/{case_id}", auth=ANA).json()
    assert [n["text"] for n in case["notes"]] == ["customer called", "card stolen"]
    assert {a["status"] for a in case["alerts"]} == {"closed"}

    def labels_published() -> bool:
        records = read_topic(settings.broker, settings.topic_transactions)
        return len([r for r in records if b'"fraud_label"' in r.value]) >= 2

    wait_until(labels_published, 30, "the decision's labels on the stream", interval=0.2)
    records = [r for r in read_topic(settings.broker, settings.topic_transactions)]
    labels = [LabelEvent.model_validate_json(r.value) for r in records]
    assert {(lb.labelled_transaction_id, lb.is_fraud, lb.merchant_id) for lb in labels} == {
        ("tx-1", True, "mer-1"), ("tx-2", True, "mer-1")}
    assert {r.key for r in records} == {b"acc-1"}


@pytest.mark.parametrize(("who", "path", "body", "status"), [
    (ANA, "/v1/cases/case-unknown/decision", {"decision": "not_fraud"}, 404),
    (ANA, "/v1/cases/{case}/decision", {"decision": "maybe"}, 422),
    (ANA, "/v1/cases/{case}/assign", {"assignee": "lea"}, 403),  # analysts assign themselves
    (LEA, "/v1/cases/{case}/assign", {"assignee": "bo"}, 422),  # bo is disabled
    (LEA, "/v1/cases/{case}/assign", {"assignee": "ghost"}, 422),
    (ANA, "/v1/cases/{decided}/decision", {"decision": "not_fraud"}, 409),
    (ANA, "/v1/cases/{case}/decision", {"decision": "report_filed"}, 403),
])
def test_refusals_name_the_problem_and_change_nothing(workbench, who, path, body, status):
    client, _, store = workbench
    store.set_disabled("bo")
    cases = {c["account_id"]: c["case_id"] for c in store.cases()}
    store.decide(cases["acc-2"], "not_fraud", "lea")
    before = store.audit_entries()
    resp = client.post(path.format(case=cases["acc-1"], decided=cases["acc-2"]), json=body,
                       auth=who)
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]
    after = [e for e in store.audit_entries() if e["action"] not in ("login",)]
    assert after == [e for e in before if e["action"] not in ("login",)]
    assert store.case(cases["acc-1"])["state"] == "new"


def test_upstream_labels_are_published_once(workbench, read_topic, wait_until):
    client, settings, _ = workbench
    label = {"label_id": "cb-1", "labelled_transaction_id": "tx-9", "account_id": "acc-9",
             "transaction_occurred_at": T0.isoformat(),
             "occurred_at": (T0 + timedelta(days=9)).isoformat(), "is_fraud": True,
             "source": "chargeback"}
    assert client.post("/v1/labels", json=label).status_code == 401
    first = client.post("/v1/labels", json=label, auth=LEA).json()
    assert first == {"results": [{"label_id": "cb-1", "status": "accepted"}]}
    again = client.post("/v1/labels", json=[label, {**label, "is_fraud": False}],
                        auth=LEA).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "conflict"]
    bad = client.post("/v1/labels", json={**label, "occurred_at": "yesterday"}, auth=LEA)
    assert bad.status_code == 422

    def published() -> bool:
        return bool(read_topic(settings.broker, settings.topic_transactions))

    wait_until(published, 30, "the label on the stream", interval=0.2)
    (record,) = read_topic(settings.broker, settings.topic_transactions)
    assert LabelEvent.model_validate_json(record.value).label_id == "cb-1"


def test_the_openapi_spec_documents_the_workbench(workbench):
    client, _, _ = workbench
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/alerts", "/v1/cases", "/v1/cases/{case_id}", "/v1/cases/{case_id}/decision",
            "/v1/labels"} <= set(paths)
