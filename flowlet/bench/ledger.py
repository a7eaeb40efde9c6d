"""``flowlet bench ledger``: postings/s on SQLite (and PostgreSQL), by batch size and by the
number of writer processes (``--workers``), each posting on its own ledger shard (or, with
``--one-chain``, all on shard 0: how every worker waited on one chain head before shards)."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def _ledger_events(n_events: int) -> list:
    from simulator import Simulator

    with console.status(f"simulating {n_events:,} events"):
        end = datetime.now(UTC)
        return [t.event for t in Simulator(seed=17, n_accounts=max(200, n_events // 50))
                .generate(n_events, end - timedelta(days=7), end)]


def _split_by_account(events: list, workers: int) -> list[list]:
    """The events each worker posts: by a hash of the account, as Kafka partitions by key
    (so an account's events stay in order on one shard), in their original order."""
    parts: list[list] = [[] for _ in range(workers)]
    for e in events:
        parts[zlib.crc32(e.account_id.encode()) % workers].append(e)
    return parts


def _post_all(url: str, events: list, batch: int, shard: int,
              start: object = None) -> dict:
    """Post ``events`` in batches on ``shard``; (start, end) on the system-wide monotonic
    clock, so workers' spans compare across processes; this process's CPU seconds."""
    from ledger import Ledger

    ledger = Ledger.from_url(url)
    if start is not None:
        start.wait()  # type: ignore[attr-defined]  # every worker connected and ready
    statuses: dict[str, int] = {}
    t0, cpu0 = time.monotonic(), time.process_time()
    for i in range(0, len(events), batch):
        for r in ledger.post_batch(events[i:i + batch], shard=shard):
            statuses[r.status] = statuses.get(r.status, 0) + 1
    done = {"start": t0, "end": time.monotonic(), "cpu": time.process_time() - cpu0,
            "statuses": statuses}
    ledger.engine.dispose()
    return done


def _worker(url: str, events: list, batch: int, shard: int, start: object,
            out: object) -> None:
    out.put(_post_all(url, events, batch, shard, start))  # type: ignore[attr-defined]


def _post_with_workers(url: str, events: list, batch: int, workers: int,
                       one_chain: bool = False) -> list[dict]:
    """``workers`` processes (forked: they inherit the events), each on its own shard (or all
    on shard 0: ``one_chain``), all released at once; one result each."""
    if workers == 1:
        with console.status(f"posting {len(events):,} events in batches of {batch}"):
            return [_post_all(url, events, batch, 0)]
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker,
                         args=(url, part, batch, 0 if one_chain else shard, start, out))
             for shard, part in enumerate(_split_by_account(events, workers))]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    with console.status(f"{workers} workers posting {len(events):,} events in batches of "
                        f"{batch}"):
        results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a ledger bench worker exited with {p.exitcode}")
    return results


def _ledger_run(url: str | None, events: list, batch: int, workers: int = 1,
                one_chain: bool = False) -> dict:
    """One timed run on a fresh database: a new SQLite file (``url`` None) or a scratch schema
    (PostgreSQL, dropped afterwards); any other ``url`` is used as it is. ``workers``
    processes post at once, each the events of its share of the accounts on its own shard;
    the rate is all events over the span from the first worker's start to the last one's
    end."""
    import uuid

    from sqlalchemy import create_engine, text

    from ledger import Ledger

    scratch = None
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='flowlet-ledger-bench-')}/ledger.db"
    elif url.startswith("postgresql"):
        scratch = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{scratch}"'))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{scratch}"
    try:
        ledger = Ledger.from_url(url)  # the schema, before the workers connect
        dialect = ledger.engine.dialect.name
        ledger.engine.dispose()
        done = _post_with_workers(url, events, batch, workers, one_chain)
        elapsed = max(d["end"] for d in done) - min(d["start"] for d in done)
        statuses: dict[str, int] = {}
        for d in done:
            for status, n in d["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        figures = {"database": dialect, "events": len(events), "batch": batch,
                   "workers": workers, "shards": 1 if one_chain else workers,
                   "seconds": round(elapsed, 3),
                   "postings_per_s": round(len(events) / elapsed),
                   # the posting processes; PostgreSQL's own CPU not included
                   "cpu_seconds": round(sum(d["cpu"] for d in done), 3),
                   "load_avg_1m": round(os.getloadavg()[0], 2), **statuses}
    finally:
        if scratch is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{scratch}" CASCADE'))
            admin.dispose()
    return figures


def run_ledger_bench(url: str | None, n_events: int = 50_000, batch: int = 500,
                     workers: int = 1) -> dict:
    """Postings per second through ``Ledger.post_batch`` (one database transaction per batch),
    with the posting processes' CPU seconds and the 1-minute load average at the end of the
    run; ``workers`` processes post at once, each on its own shard.

    ``url`` None means a fresh SQLite file; a PostgreSQL URL gets a scratch schema, dropped
    afterwards.
    """
    figures = _ledger_run(url, _ledger_events(n_events), batch, workers)
    Console().print(figures)
    return figures


def run_ledger_bench_table(url: str | None, n_events: int = 50_000,
                           batches: Sequence[int] = (500,), runs: int = 1,
                           workers: Sequence[int] = (1,),
                           one_chain: bool = False) -> list[dict]:
    """The ledger bench for every batch size and number of workers, ``runs`` times each, on
    SQLite and — when ``url`` is PostgreSQL — on PostgreSQL too; a table of the medians, side
    by side. Runs alternate between the worker counts, so a change in the neighbours' load
    hits each of them alike. ``one_chain`` adds, for every count above one, a run with all
    those workers on shard 0."""

    events = _ledger_events(n_events)
    targets: list[str | None] = [None]
    if url is not None:
        targets = [None, url] if url.startswith("postgresql") else [url]
    rows = []
    for target in targets:
        for batch in batches:
            variants = [(k, False) for k in workers]
            if one_chain:
                variants += [(k, True) for k in workers if k > 1]
            done: dict[tuple[int, bool], list[dict]] = {v: [] for v in variants}
            for _ in range(runs):
                for k, one in variants:
                    figures = _ledger_run(target, events, batch, k, one)
                    console.print(json.dumps(figures), soft_wrap=True)
                    done[(k, one)].append(figures)
            for runs_k in done.values():
                runs_k.sort(key=lambda f: f["postings_per_s"])
                median = runs_k[len(runs_k) // 2]
                rows.append({**median, "runs": runs,
                             "runs_postings_per_s": [f["postings_per_s"] for f in runs_k],
                             "median_postings_per_s": round(statistics.median(
                                 f["postings_per_s"] for f in runs_k))})
    table = Table(title=f"flowlet bench ledger — {n_events:,} events, median of {runs}, "
                        f"{platform.node()} {os.cpu_count()} cores")
    for name in ("batch", "workers", "shards", *dict.fromkeys(r["database"] for r in rows)):
        table.add_column(name, justify="right")
    by_row: dict[tuple[int, int, int], list[str]] = {}
    for r in rows:
        by_row.setdefault((r["batch"], r["workers"], r["shards"]), []).append(
            f"{r['median_postings_per_s']:,}/s  cpu {r['cpu_seconds']:.1f}s  "
            f"load {r['load_avg_1m']:.2f}")
    for (batch, k, shards), cells in by_row.items():
        table.add_row(str(batch), str(k), str(shards), *cells)
    Console().print(table)
    return rows
