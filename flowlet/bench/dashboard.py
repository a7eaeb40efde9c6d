"""``flowlet bench dashboard``: every dashboard query timed over a lake of N rows.

The lake is made the way production makes it, only faster: :func:`lake_rows` generates rows of
the declared schema (:mod:`core.lake_schema`) with numpy, a day at a time; all but the last
``tail_rows`` are bulk-loaded as compacted files laid out as compaction lays them out (clustered
by account; :func:`streams.lake_compactor.write_compacted_rows`, aggregates by the same
:func:`core.lake_aggregates.aggregate` the sink and compactor use), and the tail goes through
the real :class:`~streams.sink.LakeSink` in ``batch_rows`` batches (claims in SQLite, one file
per batch) after a first compaction round (which rolls past days up), as a running worker
leaves the lake between two compactions. Queries are timed twice: with the tail's small files
as the sink left them, then after one more compaction round. Each run opens a fresh
connection, as each refresh of the page does; the figures are median and max over ``runs``
runs (the first run is cold).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from core.lake_schema import transaction_schema
from core.settings import Settings

log = logging.getLogger(__name__)

_EVENT_TYPES = np.array(["card_authorization", "card_capture", "p2p_transfer", "top_up",
                         "withdrawal", "merchant_payment", "refund", "chargeback",
                         "fx_conversion"])
_EVENT_P = np.array([0.30, 0.22, 0.14, 0.08, 0.06, 0.14, 0.03, 0.01, 0.02])
_CARD = {"card_authorization", "card_capture", "refund", "chargeback"}
_MERCHANT = _CARD | {"merchant_payment"}
_CURRENCIES = np.array(["EUR", "USD", "GBP", "PLN", "SEK", "CHF", "JPY"])
_COUNTRIES = np.array(["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "SE", "CH", "JP", "NG"])
_CHANNELS = np.array(["card_present", "ecommerce", "mobile_app", "web", "atm", "api"])
ALERT_THRESHOLD = 0.6
ACCOUNTS = 100_000


def lake_rows(n: int, *, seed: int = 0, end: datetime | None = None, days: int = 30,
              accounts: int = ACCOUNTS, merchants: int = 2_000,
              feature_names: tuple[str, ...] | None = None) -> Iterator[pa.Table]:
    """``n`` lake rows over the ``days`` before ``end``, one table per day, oldest first.

    Rows look like the sink's: skewed account activity, merchants for card and merchant
    payments, counterparties for transfers, about 1.5 % alerts, 3 % ledger rejections, two
    model versions (the newer one for the last quarter of the days), lags of about a second.
    """
    if feature_names is None:
        from streams.sink import LAKE_FEATURES
        feature_names = LAKE_FEATURES
    rng = np.random.default_rng(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=days)
    schema = transaction_schema(feature_names)
    account_ids = pa.array([f"acct-{i:07d}" for i in range(accounts)])
    merchant_ids = pa.array([f"merch-{i:05d}" for i in range(merchants)])
    home = rng.integers(0, len(_CURRENCIES), accounts)
    per_day = np.full(days, n // days)
    per_day[-1] += n - per_day.sum()
    made = 0
    for d in range(days):
        size = int(per_day[d])
        day_start = start + timedelta(days=d)
        micros = np.sort(rng.integers(0, 86_400_000_000, size))
        yield _day(rng, size, made, seed, day_start, micros, account_ids, merchant_ids, home,
                   schema, feature_names, model=f"flowlet-ensemble/{3 if d < days * 3 // 4 else 4}")
        made += size


def _day(rng: np.random.Generator, size: int, offset: int, seed: int, day_start: datetime,
         micros: np.ndarray, account_ids: pa.Array, merchant_ids: pa.Array, home: np.ndarray,
         schema: pa.Schema, feature_names: tuple[str, ...], model: str) -> pa.Table:
    occurred = np.datetime64(day_start.replace(tzinfo=None), "us") + micros.astype(
        "timedelta64[us]")
    account = np.minimum(rng.zipf(1.3, size) - 1, len(account_ids) - 1)
    account = (account * 7919 + rng.integers(0, 3, size)) % len(account_ids)
    event_type = rng.choice(_EVENT_TYPES, size, p=_EVENT_P)
    is_merchant = np.isin(event_type, list(_MERCHANT))
    is_card = np.isin(event_type, list(_CARD))
    is_p2p = event_type == "p2p_transfer"
    fraud = rng.random(size) < 0.015
    score = np.where(fraud, rng.beta(6, 2, size), rng.beta(1, 14, size))
    alert = score >= ALERT_THRESHOLD
    rejected = rng.random(size) < 0.03
    lag = rng.exponential(0.8, size) * 1e6
    processed = occurred + lag.astype("timedelta64[us]")
    merchant = rng.integers(0, len(merchant_ids), size)
    reasons = [["amount_log10:+0.41", "acct_count_1h:+0.22"] if a else None for a in alert]
    ts = pa.timestamp("us", tz="UTC")
    columns: dict[str, Any] = {
        "transaction_id": pa.array([f"bench-{seed}-{offset + i:010d}" for i in range(size)]),
        "event_type": event_type,
        "occurred_at": pa.array(occurred, type=ts),
        "amount_minor": np.round(rng.lognormal(7.5, 1.4, size)).astype(np.int64) + 1,
        "currency": _CURRENCIES[home[account]],
        "account_id": account_ids.take(pa.array(account)),
        "counterparty_account_id": pa.array(account_ids.take(pa.array(
            (account + 1 + rng.integers(0, 500, size)) % len(account_ids))).to_numpy(
            zero_copy_only=False), mask=~is_p2p),
        "merchant_id": pa.array(merchant_ids.take(pa.array(merchant)).to_numpy(
            zero_copy_only=False), mask=~is_merchant),
        "card_token": pa.array(np.char.add("tok-", account.astype(str)), mask=~is_card),
        "device_id": np.char.add("dev-", (account % 50_000).astype(str)),
        "country": rng.choice(_COUNTRIES, size),
        "channel": rng.choice(_CHANNELS, size),
        "score": score,
        "score_supervised": np.clip(score + rng.normal(0, 0.05, size), 0, 1),
        "score_anomaly": rng.beta(2, 8, size),
        "reason_codes": pa.array(reasons, type=pa.list_(pa.string())),
        "model_version": pa.array([model] * size),
        "is_alert": alert,
        "shadow_score": pa.nulls(size, pa.float64()),
        "shadow_model_version": pa.nulls(size, pa.string()),
        "ledger_status": np.where(rejected, "rejected", "posted"),
        "ledger_reason": pa.array(np.where(rejected, "insufficient_funds", ""), mask=~rejected),
        "source_partition": (account % 8).astype(np.int32),
        "source_offset": np.arange(offset, offset + size, dtype=np.int64),
        "processed_at": pa.array(processed, type=ts),
    }
    # Feature values: small counts and rounded amounts, as the stream's are (few distinct
    # values, so Parquet encodes them as compactly as real ones).
    pool = [rng.poisson(lam, size).astype(np.float64) for lam in (1, 3, 8)] + [
        np.round(rng.lognormal(3, 1, size), 2), np.round(rng.random(size), 3)]
    for k, name in enumerate(feature_names):
        columns["f_" + name] = pool[k % len(pool)]
    # The event columns the bench does not vary (FX, fees, voids, IP, MCC) are null.
    return pa.table({f.name: columns[f.name] if f.name in columns else pa.nulls(size, f.type)
                     for f in schema}, schema=schema)


def dashboard_queries() -> dict[str, Callable[[Any], Any]]:
    """Every query the overview and model-health pages run, by name."""
    from dashboards import queries

    names = dict.fromkeys((*queries.PAGE_QUERIES, *queries.HEALTH_QUERIES))
    return {name: getattr(queries, name) for name in names}


def time_queries(lake_dir: Path, runs: int) -> dict[str, dict[str, float]]:
    """Median and max milliseconds of opening the lake and of each query, over ``runs``."""
    from dashboards import queries

    samples: dict[str, list[float]] = {"open_lake": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        con = queries.open_lake(lake_dir)
        samples["open_lake"].append((time.perf_counter() - t0) * 1000)
        for name, query in dashboard_queries().items():
            t0 = time.perf_counter()
            query(con)
            samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        con.close()
    figures = summarise(samples)
    # the overview page: opening the lake and its queries
    figures["page_total"] = page_total(figures, ("open_lake", *queries.PAGE_QUERIES))
    return figures


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Median and max of each query's milliseconds.

    >>> summarise({"q": [3.0, 1.0, 2.0]})
    {'q': {'median_ms': 2.0, 'max_ms': 3.0}}
    """
    return {name: {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}
            for name, ms in samples.items()}


def page_total(figures: dict[str, dict[str, float]],
               names: tuple[str, ...]) -> dict[str, float]:
    """A page's figures: the sums of its queries' medians and maxima."""
    return {k: round(sum(figures[n][k] for n in names), 1) for k in ("median_ms", "max_ms")}


def run_dashboard_bench(rows: int, out: Path | None = None, *, runs: int = 7,
                        tail_rows: int = 100_000, batch_rows: int = 500, days: int = 30,
                        seed: int = 0, alerts: int = 100_000) -> dict[str, Any]:
    """Build the lake under ``out`` (default: a temporary folder), time, write bench.json.

    ``alerts``: open alerts put in the case store for the workbench pages' figures
    (:mod:`flowlet.bench.workbench`; 0: none)."""
    import os
    import tempfile

    from core.db import make_engine
    from core.lake import lake_files
    from streams.lake_compactor import compact, write_compacted_rows
    from streams.sink import LakeSink

    out = Path(out or tempfile.mkdtemp(prefix="flowlet-bench-dashboard-"))
    settings = Settings(data_dir=out / "data")
    lake_dir = settings.lake_dir
    if lake_dir.exists() and any(lake_dir.iterdir()):
        raise FileExistsError(f"{lake_dir} is not empty; give --out a new folder")
    tail_rows = min(tail_rows, rows)
    engine = make_engine(settings.database_url)
    sink = LakeSink(lake_dir, engine)
    started = time.perf_counter()
    end = datetime.now(UTC)
    generated = 0
    tails: list[pa.Table] = []
    for day in lake_rows(rows, seed=seed, end=end, days=days):
        bulk = max(0, min(day.num_rows, rows - tail_rows - generated))
        if bulk:
            write_compacted_rows(lake_dir, day.slice(0, bulk))
        tails.append(day.slice(bulk))
        generated += day.num_rows
        log.info("generated %d of %d rows", generated, rows)
    # The state a running worker keeps: past days rolled up, then the tail the sink wrote
    # since the last compaction.
    first_round = compact(lake_dir, engine, grace_seconds=0.0)
    tail = pa.concat_tables(tails)
    sink_started = time.perf_counter()
    for start in range(0, tail.num_rows, batch_rows):
        sink.write(tail.slice(start, batch_rows).to_pylist())
    sink_seconds = time.perf_counter() - sink_started
    build_seconds = time.perf_counter() - started
    with_tail_files = len(lake_files(lake_dir))
    with_tail = time_queries(lake_dir, runs)
    stats = compact(lake_dir, engine, grace_seconds=0.0)
    figures = time_queries(lake_dir, runs)
    workbench: dict[str, Any] = {}
    if alerts:
        from cases import CaseStore
        from flowlet.bench.workbench import fill_case_store, time_workbench

        filled = time.perf_counter()
        fill_case_store(CaseStore(engine), [f"acct-{i:07d}" for i in range(ACCOUNTS)], alerts,
                        seed=seed, end=end)
        workbench = {"alerts": alerts,
                     "fill_seconds": round(time.perf_counter() - filled, 1),
                     "queries": time_workbench(settings, runs)}
    report: dict[str, Any] = {
        **figures,
        "rows": rows,
        "lake_files": len(lake_files(lake_dir)),
        "aggregate_files": len(lake_files(lake_dir, "aggregates")),
        "runs": runs,
        "build_seconds": round(build_seconds, 1),
        "compaction": {k: (round(v, 2) if isinstance(v, float) else v)
                       for k, v in stats.as_dict().items()},
        # The first round rolls every past day up (by month): the roll-up's biggest round.
        "roll_up_compaction": {k: (round(v, 2) if isinstance(v, float) else v)
                               for k, v in first_round.as_dict().items()},
        "before_compaction": {"tail_rows": tail_rows, "batch_rows": batch_rows,
                              "sink_rows_per_s": round(tail_rows / sink_seconds),
                              "lake_files": with_tail_files, "queries": with_tail},
        "workbench": workbench,
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    engine.dispose()
    return report
