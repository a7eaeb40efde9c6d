"""What a scenario must end with: each accepted id once in ledger and lake, features equal to
the offline builder, re-sent payloads answered ``duplicate``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings


@dataclass
class Report:
    scenario: str
    accepted: int = 0
    resent: int = 0
    resent_not_duplicate: int = 0
    ledger_posted_once: int = 0
    lake_rows: int = 0
    lake_file_rows: int = 0
    feature_mismatches: int = 0
    verify_ok: bool = False
    verify_exit: int = -1  # of `flowlet ledger verify --settle` on the running stack
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def settle(settings: Settings, accepted: set[str], timeout: float) -> None:
    """Wait until every accepted id has its lake row (the last of its effects)."""
    from core.lake import connect

    def landed() -> bool:
        if not (settings.lake_dir / "transactions").exists():
            return False
        ids = {r[0] for r in connect(settings.lake_dir).sql(
            "select transaction_id from transactions").fetchall()}
        return accepted <= ids

    wait_for(landed, timeout, f"{len(accepted)} accepted events to reach the lake")


def check(settings: Settings, accepted: set[str], report: Report) -> None:
    from core.lake import connect, lake_files
    from ledger import Ledger, verify

    ledger = Ledger.from_url(settings.database_url)
    result = verify(ledger, accepted)
    report.verify_ok = result.ok
    report.problems += [f"ledger: {p}" for p in result.problems[:10]]
    report.ledger_posted_once = len(accepted) if result.ok else 0
    con = connect(settings.lake_dir)
    lake_ids = [r[0] for r in con.sql("select transaction_id from transactions").fetchall()]
    report.lake_rows = len(lake_ids)
    files = lake_files(settings.lake_dir)
    if files:
        report.lake_file_rows = con.sql(
            "select count(*) from read_parquet(?)", params=[files]).fetchall()[0][0]
    if set(lake_ids) != accepted or len(lake_ids) != len(set(lake_ids)):
        report.problems.append(f"lake: {len(set(lake_ids))} distinct ids for "
                               f"{len(accepted)} accepted")
    if report.resent_not_duplicate:
        report.problems.append(f"{report.resent_not_duplicate} re-sent payloads were not "
                               "answered duplicate")
    report.feature_mismatches = feature_mismatches(settings)
    if report.feature_mismatches:
        report.problems.append(f"{report.feature_mismatches} feature values differ from the "
                               "offline builder")


def feature_mismatches(settings: Settings) -> int:
    """Lake feature values that differ from the offline builder over the lake's history."""
    import polars as pl

    from core.frames import EVENT_SCHEMA
    from core.lake import connect
    from features import FEATURES, build_features

    columns = [c for c in EVENT_SCHEMA if c not in ("mcc", "ip_address", "target_currency",
                                                    "target_amount_minor", "fee_minor",
                                                    "original_transaction_id")]
    lake = pl.from_arrow(connect(settings.lake_dir).sql(
        "select " + ", ".join(columns) + ", "
        + ", ".join(f'"f_{f.name}"' for f in FEATURES)
        + " from transactions order by processed_at, source_partition, source_offset, "
        "occurred_at, transaction_id").arrow())
    events = lake.select(columns).with_columns(
        [pl.lit(None, dtype=EVENT_SCHEMA[c]).alias(c) for c in EVENT_SCHEMA
         if c not in columns]).select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    offline = build_features(events, None)
    mismatches = 0
    for f in FEATURES:
        want, got = offline[f.name].to_list(), lake[f"f_{f.name}"].to_list()
        for w, g in zip(want, got, strict=True):
            if not ((math.isnan(w) and math.isnan(g))
                    or abs(w - g) <= 1e-9 * max(1.0, abs(w))):
                mismatches += 1
    return mismatches
