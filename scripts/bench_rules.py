"""Measure the rules: evaluation per stream micro-batch, and backtest speed over a lake.

    PYTHONPATH=$PWD python scripts/bench_rules.py --events 20000 --rules 5

Builds a lake with the in-memory pipeline (simulated traffic), activates ``--rules`` rules,
then reports (1) the rules' added time per 500-row batch (RuleAlerts.evaluate) and (2) the
backtest's rows per second over the whole lake. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cases import CaseStore
from core.settings import Settings
from rules import RuleAlerts, RuleStore, backtest, compile_rule
from simulator import Simulator
from streams.pipeline import RawRecord
from streams.testing import InMemoryFeatures, in_memory_processor

CONDITIONS = [
    'amount_minor >= 20_000 and acct_count_24h >= 3 and channel in list("watched")',
    "acct_sum_24h > 500_000 or amount_minor > 900_000",
    'event_type == "p2p_transfer" and acct_count_1h >= 2',
    "score > 0.3 and amount_log10 > 4",
    'country in list("high_risk") and amount_minor > 10_000',
    "days_since(customer.onboarded_at) < 30 and amount_minor > 50_000",
    "abs(amount_minor - acct_sum_24h) < 100 and acct_count_24h > 1",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rules", type=int, default=5)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    settings = Settings(data_dir=data)
    proc = in_memory_processor(settings)
    CaseStore(proc.ledger.engine).add_user("lea", "lead", "a long enough password")
    store = RuleStore(proc.ledger.engine)
    lists = "lists: {watched: [ecommerce, api], high_risk: [IR, KP, MM, RU]}\n"
    body = "".join(f"  - id: r{i}\n    condition: '{c}'\n"
                   for i, c in enumerate(CONDITIONS[:args.rules]))
    store.import_text(lists + "rules:\n" + body, "lea")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = start + timedelta(days=max(1, args.events // 3000))
    for i in range(args.rules):
        v = store.version(f"r{i}")
        store.record_backtest(v.rule_id, 1, start, end, {}, "lea")
        store.activate(v.rule_id, "lea")
    source = RuleAlerts(store)
    proc.alert_sources = []  # time the rules apart from the rest of the batch
    txs = Simulator(seed=5, n_accounts=max(50, args.events // 40), n_merchants=60).generate(
        args.events, start, end)
    features = InMemoryFeatures()
    records = [RawRecord(t.event.model_dump_json().encode(), offset=i) for i, t in
               enumerate(txs)]
    per_batch, batch_seconds = [], []
    for s in range(0, len(records), 500):
        t0 = time.perf_counter()
        out = proc.commit(features.run(records[s:s + 500]))
        batch_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        source.evaluate([], None, out.rows)
        per_batch.append(time.perf_counter() - t0)
    _, active, _ = store.active_rules()
    t0 = time.perf_counter()
    result = backtest(settings.lake_dir, compile_rule(store.version("r0"), store.lists()),
                      start, end, others=active)
    elapsed = time.perf_counter() - t0
    sys.stdout.write(
        f"{args.events} events, {args.rules} active rules, 500-row batches\n"
        f"rules per batch: median {1000 * statistics.median(per_batch):.1f} ms "
        f"(the batch's commit without them: median "
        f"{1000 * statistics.median(batch_seconds):.0f} ms)\n"
        f"backtest r0 + overlap with {len(active) - 1} rules over {result.figures['transactions']}"
        f" lake rows: {elapsed:.2f} s ({result.figures['transactions'] / elapsed:,.0f} rows/s), "
        f"{result.figures['alerts']} alerts\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
