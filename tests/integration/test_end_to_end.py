"""Acceptance for the pipeline: broker, worker and API as real processes on Tansu."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kafka import KafkaProducer

from core.contract import find_pan, redact_pans
from core.lake import connect
from ledger import Ledger, verify
from simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def malformed_payloads(valid: dict) -> list[tuple[object, str]]:
    """30 bad payloads, each with the field the error must name."""
    def bad(field: str, value: object) -> tuple[dict, str]:
        return {**valid, "transaction_id": f"bad-{field}-{random.random():.9f}",
                field: value}, field

    def without(field: str) -> tuple[dict, str]:
        payload = {**valid, "transaction_id": f"bad-missing-{field}-{random.random():.9f}"}
        del payload[field]
        return payload, field

    out = [
        bad("amount_minor", 12.5), bad("amount_minor", "1000"), bad("amount_minor", -5),
        bad("amount_minor", 0), bad("amount_minor", True),
        bad("currency", "EURO"), bad("currency", "XXX"), bad("currency", "eur"),
        bad("occurred_at", "2026-11-22T10:00:00"), bad("occurred_at", "yesterday"),
        bad("occurred_at", 1700000000.5),
        bad("event_type", "teleport"), bad("channel", "pigeon"), bad("country", "Germany"),
        bad("card_token", "4111 1111 1111 1111"), bad("card_token", "4111111111111111"),
        bad("account_id", ""), bad("account_id", "x" * 65), bad("ip_address", "999.1.1.1"),
        bad("mcc", "54110"), bad("unexpected_field", 1), bad("schema_version", 2),
        without("transaction_id"), without("amount_minor"), without("currency"),
        without("occurred_at"), without("account_id"), without("event_type"),
        without("country"), without("channel"),
    ]
    assert len(out) == 30
    return out


def test_pipeline_end_to_end(stack_settings, key_headers, spawn, wait_http_ok, wait_until,
                             wait_caught_up,
                             read_topic):
    s = stack_settings
    api = spawn("api", ["api"], s)
    worker = spawn("worker", ["worker"], s)
    base = f"http://{s.api_host}:{s.api_port}"
    wait_http_ok(f"{base}/healthz", child=api)

    now = datetime.now(UTC)
    sim = Simulator(seed=21, n_accounts=150, n_merchants=40)
    valid = [t.event.model_dump(mode="json", exclude_none=True)
             for t in sim.generate(1870, now - timedelta(hours=3), now)]
    rng = random.Random(5)
    duplicates = [dict(p) for p in rng.sample(valid, 100)]
    bad = malformed_payloads(valid[0])
    valid_ids = {p["transaction_id"] for p in valid}
    assert len(valid_ids) == 1870

    started = time.monotonic()
    statuses = _post_through_the_api(base, valid, duplicates, bad, key_headers(s))
    api_seconds = time.monotonic() - started
    assert statuses == {"accepted": 1870, "duplicate": 100}
    raw_bad = _publish_past_the_api(s, bad, rng.sample(valid, 50), now)

    ledger = Ledger.from_url(s.database_url)
    wait_until(lambda: ledger.journal_count() >= 1870, 180, "1870 ledger journals")
    wait_until(lambda: connect(s.lake_dir).sql("select count(*) from transactions")
               .fetchall()[0][0] >= 1870, 60, "1870 lake rows")
    pipeline_seconds = time.monotonic() - started
    wait_caught_up(s)  # every record processed: nothing more will land

    journals = _check_ledger(ledger, valid_ids)
    _check_lake(s, ledger, journals)

    # Dead letters: exactly the 30 malformed records, each with its reason.
    dead = read_topic(s.broker, s.topic_dlq)
    assert len(dead) == 30
    # Kept as sent, but a card number's digits become '#' (no raw PAN on any topic either).
    assert sorted(m.value for m in dead) == sorted(
        redact_pans(r.decode()).encode() if find_pan(r.decode("utf-8", "replace")) else r
        for r in raw_bad)
    for m in dead:
        headers = dict(m.headers)
        assert headers["error.message"], headers
        assert headers["source.topic"] == s.topic_transactions.encode()

    assert str(wait_until(lambda: ledger.rate("EUR", "CHF", now), 30, "the FX rate")) == "0.9412"
    stats = httpx.get(f"http://127.0.0.1:{s.worker_web_port}/stats/",
                      headers=key_headers(s, ("read",))).json()
    assert stats["dead_letters"] == 30
    assert stats["fx_rates"] == 1
    assert worker.stop() == 0, worker.tail()
    assert api.stop() == 0, api.tail()
    print(  # figures for the closing note
        f"\nE2E: {len(valid) + len(duplicates) + 31} API payloads in {api_seconds:.1f}s; "
        f"all 1870 in ledger and lake {pipeline_seconds:.1f}s after the first request "
        f"({sum(st == 'rejected' for st, _ in journals.values())} rejected by the "
        f"ledger's balance rules); worker stats {stats}")


def _post_through_the_api(base: str, valid: list[dict], duplicates: list[dict],
                          bad: list[tuple[object, str]], headers: dict[str, str]
                          ) -> dict[str, int]:
    """Malformed payloads (each a 422 naming its field), then the valid ones and duplicates
    in batches of 100, then a conflicting resend; the answers to the batches by status."""
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        # Each malformed payload alone: 422 naming the field, nothing published.
        for payload, field in bad:
            resp = client.post("/v1/transactions", json=payload)
            assert resp.status_code == 422, (payload, resp.text)
            locs = [e["loc"] for e in resp.json()["detail"]]
            assert any(field in loc for loc in locs) or field == "unexpected_field" and any(
                "unexpected_field" in loc for loc in locs), (field, locs)
        # A batch with one bad item is rejected whole and names the item and field.
        resp = client.post("/v1/transactions", json=[valid[1], bad[0][0]])
        assert resp.status_code == 422
        assert resp.json()["detail"][0]["loc"][:3] == ["body", 1, "amount_minor"]
        payloads = valid + duplicates
        for start in range(0, len(payloads), 100):
            resp = client.post("/v1/transactions", json=payloads[start:start + 100])
            assert resp.status_code == 200, resp.text
            for r in resp.json()["results"]:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        # A resend with the same id but another amount is a conflict, not a silent overwrite.
        changed = {**valid[2], "amount_minor": valid[2]["amount_minor"] + 1}
        assert client.post("/v1/transactions", json=changed).status_code == 409
    return statuses


def _publish_past_the_api(s, bad: list[tuple[object, str]], redelivered: list[dict],
                          now: datetime) -> list[bytes]:
    """Straight to Kafka: 30 malformed records (returned), redeliveries and an FX rate."""
    producer = KafkaProducer(bootstrap_servers=s.broker, acks="all", enable_idempotence=False)
    raw_bad = [json.dumps(p).encode() for p, _ in bad[:28]] + [b"not json", b"\xff\xfe"]
    for value in raw_bad:
        producer.send(s.topic_transactions, value, key=b"acc-x")
    for p in redelivered:
        producer.send(s.topic_transactions, json.dumps(p).encode(),
                      key=p["account_id"].encode())
    # A rate published upstream reaches the ledger's rates table through the stream.
    producer.send(s.topic_fx_rates, json.dumps({
        "base": "EUR", "quote": "CHF", "rate": "0.9412", "as_of": now.isoformat(),
        "source": "e2e"}).encode(), key=b"EUR/CHF")
    producer.flush()
    producer.close()
    return raw_bad


def _check_ledger(ledger: Ledger, valid_ids: set[str]) -> dict[str, tuple[str, str | None]]:
    """One journal per valid transaction (posted, or rejected with its reason), balanced,
    hash chain intact, verified against the API's receipts; (status, reason) by id."""
    statuses = ledger.statuses()
    assert set(statuses) == valid_ids
    assert ledger.journal_count() == len(valid_ids)
    assert all(reason for status, reason in statuses.values() if status == "rejected")
    assert set(ledger.trial_balance().values()) == {0}
    report = verify(ledger, accepted_ids=valid_ids)
    assert report.ok, report.render()
    return statuses


def _check_lake(s, ledger: Ledger, journals: dict[str, tuple[str, str | None]]) -> None:
    """Each transaction once, scored, stamped with the model version, alerted at the
    champion's own threshold; DuckDB agrees with the ledger."""
    from sqlalchemy import func, select

    from ledger.schema import journals as journal_table
    from models.mlflow_env import mlflow
    from models.registry import configure_mlflow

    con = connect(s.lake_dir)
    n, distinct, unscored, versions = con.sql(
        "select count(*), count(distinct transaction_id), count(*) filter (where score is null"
        " or score < 0 or score > 1), list(distinct model_version) from transactions"
    ).fetchall()[0]
    assert (n, distinct, unscored) == (len(journals), len(journals), 0)
    assert versions == [f"{s.model_name}/1"]
    # Alerts at the champion's own validation-chosen threshold, not the settings' fallback.
    configure_mlflow(s)
    threshold = mlflow.pyfunc.load_model(f"models:/{s.model_name}/1").unwrap_python_model() \
        .alert_threshold
    assert threshold != s.alert_threshold
    mismatched, alerts = con.execute(
        "select count(*) filter (where is_alert <> (score >= ?)), count(*) filter (where "
        "is_alert) from transactions", [threshold]).fetchall()[0]
    assert mismatched == 0 and alerts > 0, (threshold, alerts)
    lake_status = dict(con.sql("select transaction_id, ledger_status from transactions")
                       .fetchall())
    assert lake_status == {tid: status for tid, (status, _) in journals.items()}
    lake_by_ccy = dict(con.sql("select currency, count(*) from transactions group by 1")
                       .fetchall())
    with ledger.engine.connect() as c:
        ledger_by_ccy = dict(c.execute(select(journal_table.c.currency, func.count())
                                       .group_by(journal_table.c.currency)).all())
    assert lake_by_ccy == ledger_by_ccy
