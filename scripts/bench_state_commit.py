"""Measure the feature state's lock and commit per batch on entities with a long history.

    PYTHONPATH=$PWD python scripts/bench_state_commit.py --history 120000 --days 37

The worker-path bench (``bench_worker_path.py``) simulates two days, so its states are young;
in production a busy merchant's state carries up to 37 days of series. This script first runs
``--history`` simulated transactions spread over ``--days`` through the features and a fresh
SQLite state store in large batches (not timed), then ``--batches`` batches of
``--batch-size`` of the following transactions as the worker runs them (``begin``,
``featurize``, ``commit``), and reports the milliseconds per batch of the lock + read and of
the commit (wall and CPU), and how many keys were written as a change or whole. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from core.db import make_engine
from features.online import expire
from simulator import Simulator
from streams.pipeline import RawRecord
from streams.stages import featurize, parse_batch, state_keys
from streams.state import StateStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=120_000)
    parser.add_argument("--days", type=int, default=37)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=300)
    args = parser.parse_args()
    end = datetime.now(UTC)
    txs = Simulator(seed=3, n_accounts=max(100, args.history // 40),
                    n_merchants=args.merchants).generate(
        args.history + args.batches * args.batch_size, end - timedelta(days=args.days), end)
    events = sorted((t.event for t in txs), key=lambda e: e.occurred_at)
    records = [RawRecord(e.model_dump_json().encode(), partition=0, offset=i)
               for i, e in enumerate(events)]
    folder = tempfile.mkdtemp(prefix="state-commit-")
    store = StateStore(make_engine(f"sqlite:///{folder}/state.db"), tidy=expire)
    for start in range(0, args.history, 5000):
        parsed = parse_batch(records[start:min(start + 5000, args.history)])
        store.begin(state_keys(parsed.items))
        featurize(parsed, store.lookup, time.time())
        store.commit()
    store.forget_cached()  # as a restarted worker: the first batch reads every state
    written = dict(store.writes)
    begin, commit, cpu, first = 0.0, 0.0, 0.0, 0.0
    live = records[args.history:]
    for n, start in enumerate(range(0, len(live), args.batch_size)):
        parsed = parse_batch(live[start:start + args.batch_size])
        t0 = time.perf_counter()
        store.begin(state_keys(parsed.items))
        t1 = time.perf_counter()
        featurize(parsed, store.lookup, time.time())
        t2, c2 = time.perf_counter(), time.process_time()
        store.commit()
        commit += time.perf_counter() - t2
        cpu += time.process_time() - c2
        if n == 0:
            first = t1 - t0
        else:
            begin += t1 - t0
    n = -(-len(live) // args.batch_size)
    changes = {k: v - written[k] for k, v in store.writes.items()}
    print(f"{args.history:,} transactions over {args.days} days, then {n} batches of "
          f"{args.batch_size}: first lock + read {first * 1e3:.0f} ms, then "
          f"{begin / max(1, n - 1) * 1e3:.1f} ms per batch; commit {commit / n * 1e3:.1f} ms "
          f"per batch (CPU {cpu / n * 1e3:.1f} ms); keys written as a change "
          f"{changes['changes']:,} ({changes['change_bytes'] / 1e6:.1f} MB), whole "
          f"{changes['whole']:,} ({changes['whole_bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
