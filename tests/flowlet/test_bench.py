import json

import pytest

from flowlet.bench.pipeline import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_reports_every_figure(tmp_path):
    figures = run_bench(400, tmp_path)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["figures"] == figures
    for key in ("raw_produce_per_s", "raw_consume_per_s", "stages_total_per_s",
                "end_to_end_per_s"):
        assert figures[key] > 0, key
    assert figures["lake_rows"] == 400  # the worker really processed everything


def test_ledger_bench_reports_postings_per_second():
    from flowlet.bench.ledger import run_ledger_bench

    figures = run_ledger_bench(None, n_events=600, batch=200)
    assert figures["database"] == "sqlite"
    assert figures["postings_per_s"] > 0
    assert figures["posted"] + figures.get("rejected", 0) == 600
