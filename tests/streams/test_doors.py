"""The API's locked doors, in-process on the real broker: keys and scopes (401/403), per-key
rate limits (429 + Retry-After), revocation, the body guard (413, 415, JSON depth), card numbers
refused in ids and free text without being echoed, /docs offline, and a spec that says so."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cases import CaseStore
from core.settings import Settings
from streams.api import create_api
from streams.keys import KeyStore
from streams.topics import ensure_topics

from .test_api import EVENT

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
PAN_FORMS = ["6011.3650.0407.1610", "tx-6011.3650.0407.1610", "id:6011:3650:0407:1610:end",
             "tx_4111_1111_1111_1111", "card-5500-0000-0000-0004", "ref:378282246310005"]


@pytest.fixture
def doors(broker, tmp_path):
    settings = Settings(data_dir=tmp_path, broker=broker.bootstrap, partitions=2,
                        api_key_cache_seconds=0.0, api_max_body_bytes=256 * 1024,
                        outbox_reconcile_seconds=0.5)
    ensure_topics(settings)
    keys = KeyStore(settings.api_database_url)
    CaseStore(settings.database_url).add_user("ana", "analyst", PASSWORD)
    tokens = {scope: keys.create(scope, [scope], actor="tests", rate_per_second=1000,
                                 burst=1000)[1] for scope in ("publish", "label", "read")}
    with TestClient(create_api(settings)) as client:
        yield client, keys, {s: {"Authorization": f"Bearer {t}"} for s, t in tokens.items()}


def test_no_key_or_a_bad_one_is_401_and_a_key_outside_its_scope_is_403(doors):
    client, _, key = doors
    post = client.post
    assert post("/v1/transactions", json=EVENT).status_code == 401
    resp = post("/v1/transactions", json=EVENT, headers={"X-API-Key": "flk_abcdefghij_" + "x" * 43})
    assert resp.status_code == 401 and "www-authenticate" in resp.headers
    assert post("/v1/transactions", json=EVENT, auth=("ana", PASSWORD)).status_code == 401
    resp = post("/v1/transactions", json=EVENT, headers=key["read"])
    assert resp.status_code == 403 and "publish" in resp.json()["detail"]
    assert client.get("/stats", headers=key["publish"]).status_code == 403
    assert client.get("/v1/alerts", headers=key["publish"]).status_code == 403
    assert client.get("/stats").status_code == 401
    assert post("/v1/customers", json={"event_type": "customer"}).status_code == 401
    assert post("/v1/customers", json={"event_type": "customer"},
                headers=key["read"]).status_code == 403
    # The right scope, by either header; reads also by a workbench login.
    assert post("/v1/transactions", json=EVENT, headers=key["publish"]).status_code == 200
    x_api_key = {"X-API-Key": key["publish"]["Authorization"].split()[1]}
    assert post("/v1/transactions", json=EVENT, headers=x_api_key).json()["status"] == "duplicate"
    assert client.get("/stats", headers=key["read"]).status_code == 200
    assert client.get("/v1/alerts", headers=key["read"]).status_code == 200
    assert client.get("/v1/alerts", auth=("ana", PASSWORD)).status_code == 200
    assert client.get("/healthz").status_code == 200  # health stays open for probes


def test_labels_take_a_label_key_or_a_login(doors):
    client, _, key = doors
    label = {"label_id": "l-1", "labelled_transaction_id": "api-1", "account_id": "acc-9",
             "transaction_occurred_at": "2026-11-22T09:00:00Z",
             "occurred_at": "2026-11-30T09:00:00Z", "is_fraud": True, "source": "chargeback"}
    assert client.post("/v1/labels", json=label).status_code == 401
    assert client.post("/v1/labels", json=label, headers=key["publish"]).status_code == 403
    assert client.post("/v1/labels", json=label, headers=key["label"]).status_code == 200
    again = client.post("/v1/labels", json=label, auth=("ana", PASSWORD)).json()
    assert again["results"][0]["status"] == "duplicate"


def test_each_key_has_its_own_rate_limit_with_retry_after(doors):
    client, keys, key = doors
    _, slow = keys.create("slow", ["read"], actor="tests", rate_per_second=0.5, burst=3)
    codes = [client.get("/stats", headers={"X-API-Key": slow}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    resp = client.get("/stats", headers={"X-API-Key": slow})
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) in (1, 2)
    assert client.get("/stats", headers=key["read"]).status_code == 200  # others unaffected


def test_a_revoked_key_is_refused_and_create_revoke_are_audited(doors):
    client, keys, _ = doors
    created, token = keys.create("temp", ["read"], actor="ops")
    assert client.get("/stats", headers={"X-API-Key": token}).status_code == 200
    keys.revoke(created.key_id, actor="ops")
    assert client.get("/stats", headers={"X-API-Key": token}).status_code == 401
    audit = keys.audit()
    assert [(e["actor"], e["action"]) for e in audit[-2:]] == [("ops", "create"),
                                                               ("ops", "revoke")]
    assert token not in json.dumps(audit, default=str)  # the secret is never stored
    assert keys.verify_audit() == (len(audit), None)


def test_bodies_wrong_type_too_big_or_too_deep_are_4xx(doors):
    client, _, key = doors
    post = client.post
    h = key["publish"]
    as_json = {**h, "content-type": "application/json"}
    resp = post("/v1/transactions", content=json.dumps(EVENT),
                headers={**h, "content-type": "text/plain"})
    assert resp.status_code == 415
    assert post("/v1/transactions", content=json.dumps(EVENT), headers=h).status_code == 415
    for deep in (b"[" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
                 b"[" * 33 + b"]" * 33):
        resp = post("/v1/transactions", content=deep, headers=as_json)
        assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "json_too_deep"
    big = json.dumps([EVENT] * 2000).encode()  # > 256 KiB
    resp = post("/v1/transactions", content=big, headers=as_json)
    assert resp.status_code == 413
    # Deep JSON to a workbench route is refused the same way (it was a RecursionError → 500).
    resp = client.post("/v1/labels", content=b"[" * 50_000, headers={
        **key["label"], "content-type": "application/json"})
    assert resp.status_code == 422
    assert post("/v1/transactions", json=EVENT, headers=h).status_code == 200  # still serving


@pytest.mark.parametrize("form", PAN_FORMS)
@pytest.mark.parametrize("field", ["transaction_id", "account_id", "card_token", "device_id"])
def test_a_card_number_in_any_id_is_a_422_naming_the_field_not_the_number(doors, field, form):
    client, _, key = doors
    resp = client.post("/v1/transactions", json=[EVENT, {**EVENT, field: form}],
                       headers=key["publish"])
    assert resp.status_code == 422
    assert [e["loc"] for e in resp.json()["detail"]] == [["body", 1, field]]
    assert "card number" in resp.text
    assert not any(group in resp.text for group in form.replace(":", ".").replace(
        "_", ".").replace("-", ".").split(".") if len(group) >= 4 and group.isdigit())


def test_a_card_number_in_free_text_is_refused_without_echo(doors):
    client, _, _ = doors
    resp = client.post("/v1/cases/case-x/notes", auth=("ana", PASSWORD),
                       json={"text": "customer read out 4111 1111 1111 1111 on the phone"})
    assert resp.status_code == 422 and "card number" in resp.text
    assert "4111" not in resp.text and resp.json()["detail"][0]["loc"] == ["body", "text"]


def test_docs_work_offline_and_the_spec_matches_the_behaviour(doors):
    client, _, _ = doors
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text and "http://" not in page.text.replace(
        "http://www.w3.org", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/transactions"]["post"]
    assert {"401", "403", "413", "415", "422", "429"} <= set(post["responses"])
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
    currency = spec["components"]["schemas"]["TransactionEvent"]["properties"]["currency"]
    assert "EUR" in currency["enum"] and "AAA" not in currency["enum"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
