"""``flowlet bench soak`` at a small size: the whole stack, the model's live alert rate next to
its validation rate, a plot."""

import json

import pytest

from flowlet.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_soak_bench_reports_live_against_validation(tmp_path, capsys):
    assert main(["bench", "soak", "--minutes", "1.5", "--rate", "20",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert json.loads(capsys.readouterr().out)["transactions"] == report["transactions"]
    # 20/s on average, less the start-up; the world's rhythm makes it 1.8/s at 03:00 UTC
    assert report["transactions"] > 50
    (version,) = report["versions"]  # the bootstrap champion scored everything
    assert version["model_version"].startswith("flowlet-fraud/")
    assert 0 < version["validation_alert_rate"] < 1  # the reference training tagged
    assert version["live_alert_rate"] == pytest.approx(
        version["alerts"] / version["transactions"])
    assert report["worst_live_to_validation_ratio"] == pytest.approx(
        version["live_alert_rate"] / version["validation_alert_rate"])
    assert report["samples"] and (tmp_path / "soak.png").stat().st_size > 5_000
