"""``flowlet bench soak``: does the live alert rate stay where validation put it?

Runs the whole stack (``flowlet up`` without the dashboard) on a fresh data folder for
``--minutes`` with the simulator at ``--rate``, and reads the lake every ``sample_seconds``:
each model version's live alert rate next to the rate it had on validation data and its score
drift (:mod:`models.monitoring`). Writes ``DIR/bench.json`` and ``DIR/soak.png`` (the alert
rate over time against the validation rate and the 2× line). A benchmark, not a test: it
reports the figures; the issue's bar is the live rate within 2× the validation rate.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from core.processes import free_port
from core.settings import Settings

log = logging.getLogger(__name__)


def sample(settings: Settings) -> list[dict[str, Any]]:
    """Each model version's health row now (``dashboards.health.health_table``)."""
    from dashboards import queries
    from dashboards.health import health_table
    from models.monitoring import read_references
    from models.registry import registry_client

    con = queries.open_lake(settings.lake_dir)
    try:
        versions = queries.model_versions(con)
        bins = queries.score_bins_by_version(con)
    finally:
        con.close()
    refs = read_references(registry_client(settings), settings.model_name)
    table = health_table(versions, bins, refs)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in row.items() if k != "last_used"}
            for row in table.to_dict("records")]


def run_soak(minutes: float, rate: float, out: Path, *, sample_seconds: float = 60.0) -> dict:
    from rich.progress import Progress

    from flowlet.up import Stack
    from models.monitoring import ALERT_RATE_FACTOR

    out.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=out / "data", api_port=free_port(),
                        dashboard_port=free_port())
    stack = Stack(settings, rate=rate, dashboard=False)
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        stack.start()
        settings = stack.settings
        with Progress() as bar:
            task = bar.add_task(f"soak at {rate:g}/s", total=minutes * 60)
            next_sample = t0 + sample_seconds
            while (elapsed := time.monotonic() - t0) < minutes * 60:
                stack.watch()
                if time.monotonic() >= next_sample:
                    samples.append({"seconds": round(elapsed), "versions": sample(settings)})
                    next_sample += sample_seconds
                bar.update(task, completed=elapsed)
                time.sleep(0.5)
    finally:
        stack.stop()
    final = sample(settings)
    worst = max((v["live_alert_rate"] / v["validation_alert_rate"] for v in final
                 if v.get("validation_alert_rate")), default=None)
    report = {
        "minutes": minutes, "rate": rate, "sample_seconds": sample_seconds,
        "transactions": sum(v["transactions"] for v in final),
        "versions": final,
        "worst_live_to_validation_ratio": worst,
        "within_factor": None if worst is None else worst <= ALERT_RATE_FACTOR,
        "factor": ALERT_RATE_FACTOR,
        "samples": samples,
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    _plot(samples, out / "soak.png")
    log.info("soak: %d transactions in %.0f min; worst live/validation alert-rate ratio %s",
             report["transactions"], minutes, worst)
    return report


def _plot(samples: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.monitoring import ALERT_RATE_FACTOR

    fig, ax = plt.subplots(figsize=(8, 4))
    versions = sorted({v["model_version"] for s in samples for v in s["versions"]})
    for name in versions:
        points = [(s["seconds"] / 60, v) for s in samples for v in s["versions"]
                  if v["model_version"] == name]
        if not points:
            continue
        ax.plot([m for m, _ in points], [v["live_alert_rate"] for _, v in points],
                marker="o", label=f"{name} live")
        promised = points[-1][1].get("validation_alert_rate")
        if promised:
            ax.axhline(promised, linestyle="--", color="grey", label=f"{name} validation")
            ax.axhline(ALERT_RATE_FACTOR * promised, linestyle=":", color="red",
                       label=f"{ALERT_RATE_FACTOR:g}× validation")
    ax.set_xlabel("minutes since start")
    ax.set_ylabel("share of transactions alerted (cumulative)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
