import json

import pytest

from flowlet.bench import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_reports_every_figure(tmp_path):
    figures = run_bench(400, tmp_path)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["figures"] == figures
    for key in ("raw_produce_per_s", "raw_consume_per_s", "stages_total_per_s",
                "end_to_end_per_s"):
        assert figures[key] > 0, key
    assert figures["lake_rows"] == 400  # the worker really processed everything
