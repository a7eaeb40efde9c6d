"""The workbench pages' queries timed over a big case store and lake: ``flowlet bench
dashboard --alerts N`` fills the case store with N open alerts (one per account and source, on
the bench lake's accounts) and times the alert queue, a case and its customer 360 on the
busiest account (the worst case: the most lake rows; ``case_*``) and on a typical one (the
median account by lake rows; ``typical_case_*``), the Ledger and Decisions pages' reads.

Each figure is median and max milliseconds over ``runs`` runs on fresh connections, as a page
refresh has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from cases import CaseStore
from core.settings import Settings

log = logging.getLogger(__name__)

SOURCES = ("model", "rule:bench-large-amount", "typology:bench-fan-out")


def fill_case_store(store: CaseStore, accounts: list[str], n: int, *, seed: int = 0,
                    end: datetime | None = None, batch: int = 5_000) -> int:
    """``n`` alert hits, one per (account, source): account ``i % len(accounts)``, source
    ``i // len(accounts)`` (so ``n`` open alerts); the hits' times spread over 30 days."""
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC)
    made = 0
    for start in range(0, n, batch):
        ids = np.arange(start, min(n, start + batch))
        minutes = rng.integers(0, 30 * 24 * 60, len(ids))
        records = [{
            "transaction_id": f"bench-alert-{i:08d}", "source": SOURCES[i // len(accounts)
                                                                        % len(SOURCES)],
            "model_version": "bench/1", "account_id": accounts[i % len(accounts)],
            "merchant_id": None, "score": float(0.6 + 0.4 * rng.random()),
            "amount_minor": int(rng.integers(100, 500_000)), "currency": "EUR",
            "occurred_at": end - timedelta(minutes=int(m)),
            "reason_codes": ["amount_log10:+0.41", "acct_count_1h:+0.22"]}
            for i, m in zip(ids.tolist(), minutes.tolist(), strict=True)]
        made += store.record_alerts(records)
        log.info("recorded %d of %d alerts", start + len(ids), n)
    return made


def time_workbench(settings: Settings, runs: int) -> dict[str, dict[str, float]]:
    """Median/max ms of each workbench page's reads (see the module doc)."""
    from cases.metrics import decisions_per_day, precision_by_source, time_to_decision
    from dashboards import customer, ledger_health, queries, workbench
    from dashboards.workbench import QueueFilter
    from flowlet.bench.dashboard import page_total, summarise
    from ledger import Ledger

    store = CaseStore(settings.database_url)
    Ledger.from_url(settings.database_url)  # the ledger's tables (empty: the lake is generated)
    with queries.open_lake(settings.lake_dir) as con:
        busiest, typical = _busiest_and_typical(con)
    alerted = store.alerts(account_id=busiest, limit=1)
    case_id = alerted[0]["case_id"] if alerted else store.alerts(limit=1)[0]["case_id"]
    words = workbench.feature_descriptions()
    lake: dict[str, Callable[[Any], Any]] = {
        "case_recent_transactions": lambda con: workbench.recent_transactions(con, busiest),
        "case_labels": lambda con: workbench.account_labels(con, busiest),
        "case_features_vs_usual": lambda con: customer.features_vs_usual(con, busiest, words),
        "case_network": lambda con: customer.counterparty_network(con, busiest),
        "ledger_rejections": ledger_health.rejections_by_reason,
        "typical_case_recent_transactions":
            lambda con: workbench.recent_transactions(con, typical),
        "typical_case_labels": lambda con: workbench.account_labels(con, typical),
        "typical_case_features_vs_usual":
            lambda con: customer.features_vs_usual(con, typical, words),
        "typical_case_network": lambda con: customer.counterparty_network(con, typical),
    }
    db: dict[str, Callable[[], Any]] = {
        "queue_default": lambda: workbench.queue(store),
        "queue_filtered": lambda: workbench.queue(
            store, QueueFilter(sources=("model",), min_score=0.8, within_hours=24)),
        "case_store": lambda: store.case(case_id),
        "case_balances": lambda: customer.ledger_balances(store.engine, busiest),
        "ledger_trial_balance": lambda: ledger_health.trial_balance(store.engine),
        "decisions": lambda: _decisions(store, precision_by_source, decisions_per_day,
                                        time_to_decision),
    }
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, read in db.items():
            t0 = time.perf_counter()
            read()
            samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        con = queries.open_lake(settings.lake_dir)
        samples.setdefault("open_lake", []).append((time.perf_counter() - t0) * 1000)
        for name, query in lake.items():
            t0 = time.perf_counter()
            query(con)
            samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        con.close()
    figures = summarise(samples)
    figures["case_page_total"] = page_total(figures, (
        "case_store", "open_lake", "case_recent_transactions", "case_labels",
        "case_features_vs_usual", "case_network", "case_balances"))
    figures["typical_case_page_total"] = page_total(figures, (
        "case_store", "open_lake", "typical_case_recent_transactions", "typical_case_labels",
        "typical_case_features_vs_usual", "typical_case_network", "case_balances"))
    return figures


def _busiest_and_typical(con: Any) -> tuple[str, str]:
    """The account with the most lake rows and the median one (from the account cube)."""
    counts = con.sql("SELECT account_id FROM aggregates WHERE cube = 'account' GROUP BY ALL "
                     "ORDER BY sum(transactions), account_id").fetchall()
    return counts[-1][0], counts[len(counts) // 2][0]


def _decisions(store: CaseStore, *reads: Callable[[Any], Any]) -> None:
    with store.engine.connect() as conn:
        for read in reads:
            read(conn)
