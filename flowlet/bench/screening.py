"""``flowlet bench screening``: list load rows/s, names screened/s, and the stream's cost.

* load: ``ListStore.load`` of a synthetic list in OpenSanctions' simple CSV format;
* match: distinct names (none cached) screened per second against that list, and against
  the shipped 10-entry sample;
* stream: ``run_pipeline`` over simulated payments that all carry a counterparty name, with
  the list loaded and without one (same events, same machine).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

#: 60 syllables: made-up names about as diverse as a real list's (a poorer inventory makes
#: most names near-duplicates of each other).
SYLLABLES = tuple(c + v for c in "bdfghklmnprstvz" for v in "aeio")


def synthetic_names(n: int, seed: int) -> list[str]:
    """``n`` made-up two- or three-word names (3-7 syllables), deterministic per seed."""
    rng = np.random.default_rng(seed)
    words = ["".join(SYLLABLES[i] for i in rng.integers(len(SYLLABLES),
                                                         size=rng.integers(2, 4))).title()
             for _ in range(3 * n)]
    return [" ".join(words[3 * i:3 * i + 2 + (i % 2)]) for i in range(n)]


def write_list(path: Path, n: int) -> Path:
    from screening.lists import COLUMNS

    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i, name in enumerate(synthetic_names(n, seed=1)):
            writer.writerow([f"bench-{i}", "Person", name, "", "1970", "ru", "", "",
                             "Bench regime", "", "", "Bench list", "", "", ""])
    return path


def run_screening_bench(entries: int = 20_000, names: int = 2_000,
                        payments: int = 2_000) -> dict:
    from core.settings import Settings
    from screening import SAMPLE_LIST, ListStore, Matcher, read_list
    from simulator import Simulator
    from streams.testing import run_pipeline

    threshold = Settings().screening_threshold
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "threshold": threshold}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_list(Path(tmp) / "list.csv", entries)
        store = ListStore(f"sqlite:///{Path(tmp) / 'db.sqlite'}")
        t0 = time.perf_counter()
        store.load(path)
        report["load_rows_per_s"] = round(entries / (time.perf_counter() - t0))
        queries = synthetic_names(names, seed=2)
        for label, listed in (("match_names_per_s", store.current()[1]),
                              ("match_names_per_s_sample", read_list(SAMPLE_LIST))):
            matcher = Matcher(listed, threshold)
            t0 = time.perf_counter()
            hits = sum(bool(matcher.match(q)) for q in queries)
            report[label] = round(names / (time.perf_counter() - t0))
            report[label.replace("per_s", "hits")] = hits
        report["list_entries"] = entries

        end = datetime(2026, 11, 30, tzinfo=UTC)
        events = [t.event.model_copy(update={"counterparty_name": name})
                  for t, name in zip(Simulator(seed=4, n_accounts=500).generate(
                      payments, end - timedelta(days=2), end),
                      synthetic_names(payments, seed=3), strict=True)]
        for label, screened in (("stream_events_per_s_without", False),
                                ("stream_events_per_s_with", True)):
            data = Path(tmp) / label
            settings = Settings(data_dir=data)
            data.mkdir()
            if screened:  # without a list the source answers each batch after one query
                ListStore(settings.database_url).load(path)
            t0 = time.perf_counter()
            run_pipeline(events, data)
            report[label] = round(payments / (time.perf_counter() - t0))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return report
