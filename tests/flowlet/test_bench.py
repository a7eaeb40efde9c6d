import json

import pytest

from flowlet.bench.pipeline import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_reports_every_figure(tmp_path):
    report = run_bench(400, tmp_path, rate=100, seconds=2)
    assert json.loads((tmp_path / "bench.json").read_text()) == report
    for key in ("raw_produce_per_s", "raw_consume_per_s", "stages_total_per_s",
                "end_to_end_per_s", "api_per_s"):
        assert report[key] > 0, key
    latency = report["latency_ms"]
    assert latency["n"] == 200  # every event produced at the rate was decided and timed
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert report["api_accepted"] == 400
    # the worker really processed everything it was given (the API's events come after it)
    assert report["lake_rows"] == 600
    assert report["lake_files"] > 0


def test_ledger_bench_reports_postings_per_second():
    from flowlet.bench.ledger import run_ledger_bench

    figures = run_ledger_bench(None, n_events=600, batch=200)
    assert figures["database"] == "sqlite"
    assert figures["postings_per_s"] > 0
    assert figures["posted"] + figures.get("rejected", 0) == 600


def test_alerts_bench_records_every_hit_once():
    from flowlet.bench.alerts import alert_batches, run_alerts_bench

    batches = alert_batches(400, 100)
    keys = {(r["account_id"], r["source"]) for b in batches for r in b}
    figures = run_alerts_bench(400, 100, None)["sqlite"]
    assert (figures["new"], figures["redelivered_new"]) == (400, 0)
    assert figures["open_alerts"] == len(keys) < 400  # hits folded onto alerts
    assert figures["hits_per_s"] > 0
