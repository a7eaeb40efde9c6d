"""No raw card number anywhere: hostile PAN forms posted to the API (refused, 422) and produced
straight to the stream (dead letters, redacted) beside valid traffic; then every file of the
data folder — SQLite databases with their WAL, the lake's Parquet, logs — is scanned for the
numbers, as posted and as bare digits. Also: the worker's stats page listens on loopback only
and wants a key with scope ``read``, as the API does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from simulator import Simulator

from ..streams.pan_scan import needles_for, pan_hits
from ..streams.test_fuzz import PANS, pan_forms

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FIELDS = ["transaction_id", "account_id", "merchant_id", "card_token", "device_id"]


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp) a LISTEN socket on ``port`` uses."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(local.rsplit(":", 1)[0])
    return found


def test_hostile_card_numbers_leave_no_trace_in_the_data_folder(
        stack_settings, spawn, wait_http_ok, wait_until, wait_caught_up, read_topic,
        key_headers, lake_count):
    s = stack_settings
    api = spawn("api", ["api"], s)
    worker = spawn("worker", ["worker"], s)
    base = f"http://{s.api_host}:{s.api_port}"
    wait_http_ok(f"{base}/healthz", child=api)
    headers = key_headers(s)
    now = datetime.now(UTC)
    valid = [t.event.model_dump(mode="json", exclude_none=True) for t in Simulator(
        seed=5, n_accounts=20, n_merchants=5).generate(60, now - timedelta(hours=2), now)]
    forms = [f for pan in PANS[:4] for f in pan_forms(pan) if " " not in f]
    refused = 0
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        assert client.post("/v1/transactions", json=valid).json()["accepted"] == len(valid)
        for i, form in enumerate(forms):
            field = FIELDS[i % len(FIELDS)]
            resp = client.post("/v1/transactions", json={**valid[i], field: form})
            assert resp.status_code == 422, resp.text
            assert resp.json()["detail"][0]["loc"] == ["body", field]
            refused += 1
    # Past the API: straight onto the topic, as an upstream producer could.
    producer = KafkaProducer(bootstrap_servers=s.broker, acks="all")
    hostile = [{**valid[i], "transaction_id": f"h-{i}", FIELDS[i % len(FIELDS)]: form}
               for i, form in enumerate(forms)]
    hostile.append({**valid[0], "transaction_id": "h-note", "note": f"card {forms[0]}"})
    for event in hostile:
        producer.send(s.topic_transactions, json.dumps(event).encode(), key=b"acc-hostile")
    producer.flush()
    producer.close()

    wait_until(lambda: lake_count(s) >= len(valid), 120, "the valid events in the lake")
    wait_caught_up(s)
    stats_url = f"http://127.0.0.1:{s.worker_web_port}/stats/"
    assert httpx.get(stats_url, timeout=5).status_code == 401
    assert httpx.get(stats_url, timeout=5, headers=key_headers(s, ("publish",))).status_code == 403
    stats = httpx.get(stats_url, timeout=5, headers=key_headers(s, ("read",))).json()
    assert stats["dead_letters"] == len(hostile)
    assert listening_addresses(s.worker_web_port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0
    dead = read_topic(s.broker, s.topic_dlq)
    needles = needles_for(forms)
    assert len(dead) == len(hostile)
    assert not [n for m in dead for n in needles if n.encode() in m.value]  # redacted
    assert all(b"#" in m.value for m in dead)
    assert worker.stop() == 0, worker.tail()
    assert api.stop() == 0, api.tail()
    folder = s.data_dir.parent  # the data folder, the children's logs and the broker's
    scanned = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in scanned) or any(
        p.suffix == ".db" for p in scanned)
    assert any(p.suffix == ".parquet" for p in scanned)
    hits = pan_hits(folder, needles)
    print(f"\nPAN scan: {refused} hostile posts refused (422), {len(hostile)} hostile records "
          f"dead-lettered (redacted); {len(scanned)} files scanned for {len(needles)} strings: "
          f"{len(hits)} hits")
    assert hits == {}


def test_the_scan_finds_a_number_even_in_compressed_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    form = pan_forms(PANS[0])[0]
    pq.write_table(pa.table({"card_token": [form] * 50}), tmp_path / "x.parquet",
                   compression="zstd")
    (tmp_path / "app.log").write_text(f"oops {PANS[1]}\n")
    assert pan_hits(tmp_path, needles_for([form, PANS[1]])) == {
        "x.parquet": [form], "app.log": [PANS[1]]}
