"""``flowlet bench`` and ``flowlet chaos``: the measuring and fault-injection commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from flowlet.edge import settings_of as _settings

log = logging.getLogger("flowlet")


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "simulator":
        from flowlet.simulate import bench_simulator

        bench_simulator()
    elif args.what == "scorer":
        from flowlet.bench.scorer import run_scorer_bench

        run_scorer_bench(args.events, Path(args.out) if args.out else None)
    elif args.what == "ledger":
        from flowlet.bench.ledger import run_ledger_bench_table

        run_ledger_bench_table(args.db, args.events, args.batch, args.runs, args.workers,
                               args.one_chain)
    elif args.what == "alerts":
        from flowlet.bench.alerts import run_alerts_bench

        report = run_alerts_bench(args.events, args.batch[0], args.db)
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif args.what == "features":
        from flowlet.bench.features import run_features_bench

        run_features_bench(args.events)
    elif args.what == "models":
        from flowlet.bench.models import run_models_bench

        run_models_bench(args.events)
    elif args.what == "soak":
        from flowlet.bench.soak import run_soak

        report = run_soak(args.minutes, args.rate or 20.0,
                          Path(args.out) if args.out else Path("soak"))
        sys.stdout.write(json.dumps({k: v for k, v in report.items() if k != "samples"},
                                    indent=2, default=str) + "\n")
    elif args.what == "screening":
        from flowlet.bench.screening import run_screening_bench

        run_screening_bench(entries=args.events, payments=min(args.events, 2_000))
    elif args.what == "aml":
        from flowlet.bench.aml import run_aml_bench

        run_aml_bench(args.days, args.customers, args.seed,
                      Path(args.out) if args.out else None)
    elif args.what == "dashboard":
        from flowlet.bench.dashboard import run_dashboard_bench

        report = run_dashboard_bench(args.rows, Path(args.out) if args.out else None,
                                     runs=args.runs if args.runs > 1 else 7,
                                     alerts=args.alerts)
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        from flowlet.bench.pipeline import run_bench

        run_bench(args.events, Path(args.out) if args.out else None, workers=args.workers[0],
                  rate=args.rate, seconds=args.seconds, api=not args.no_api, db_url=args.db)
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from flowlet import chaos

    scenarios = list(chaos.SCENARIOS) if args.scenario == ["all"] else args.scenario
    out = Path(args.out or Path(_settings(args).data_dir) / "chaos")
    return chaos.main(scenarios, out, events=args.events, rate=args.rate, kills=args.kills,
                      backlog=args.backlog, progress=lambda line: log.warning("%s", line))


def add_bench_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="measure throughput (pipeline vs raw broker, ledger, "
                       "features, simulator, models or scorer) or the AML detectors' recall")
    p.add_argument("what", nargs="?", help="what to measure (default: pipeline)",
                   choices=["pipeline", "ledger", "features", "simulator", "models", "scorer",
                            "dashboard", "alerts", "soak", "screening", "aml"],
                   default="pipeline")
    p.add_argument("--events", type=int, default=20_000,
                   help="events to measure (screening bench: list entries)")
    p.add_argument("--days", type=int, default=30,
                   help="aml bench: days of simulated history (default: %(default)s)")
    p.add_argument("--customers", type=int, default=2000,
                   help="aml bench: simulated customers (default: %(default)s)")
    p.add_argument("--seed", type=int, default=2,
                   help="aml bench: the simulator's seed (thresholds were tuned on seed 1; "
                        "default: %(default)s)")
    p.add_argument("--minutes", type=float, default=30.0,
                   help="soak bench: how long to run the stack (default: %(default)s)")
    p.add_argument("--rows", type=int, default=10_000_000,
                   help="dashboard bench: lake rows to generate (default: %(default)s)")
    p.add_argument("--alerts", type=int, default=100_000,
                   help="dashboard bench: open alerts in the case store, for the workbench "
                        "pages (default: %(default)s)")
    p.add_argument("--db", help="ledger bench: database URL (default: a fresh SQLite file); "
                   "a PostgreSQL URL is measured next to SQLite. pipeline bench: the ledger's "
                   "and the feature state's database (a new schema of a PostgreSQL URL); "
                   "alerts bench: a PostgreSQL URL measured next to SQLite (a new schema)")
    p.add_argument("--batch", type=int, nargs="+", default=[500],
                   help="ledger bench: events per batch (several: one row each); alerts bench: "
                   "hits per batch (the first value)")
    p.add_argument("--runs", type=int, default=1,
                   help="ledger bench: runs each, median shown (dashboard bench: default 7)")
    p.add_argument("--workers", type=int, nargs="+", default=[1],
                   help="processes at once — pipeline bench: worker processes in the consumer "
                        "group (the first value); ledger bench: each on its own ledger shard "
                        "(several: one row each)")
    p.add_argument("--one-chain", action="store_true",
                   help="ledger bench: also run each worker count above one with every worker "
                        "on shard 0 (one chain head, as before shards)")
    p.add_argument("--out", help="folder for bench.json and the bench's data (default: temp)")
    p.add_argument("--rate", type=float,
                   help="pipeline bench: also produce at this rate (events/s) and measure the "
                        "latency from broker ack to decision there; soak bench: the "
                        "simulator's rate (default 20)")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="pipeline bench: how long to produce at --rate")
    p.add_argument("--no-api", action="store_true",
                   help="pipeline bench: skip the ingestion API measurement")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("chaos", help="fault injection against a real `flowlet up`: kill the "
                       "worker, `up` itself or the broker, or Ctrl-C with a backlog, then check "
                       "that every accepted event was processed exactly once")
    p.add_argument("scenario", nargs="+", help="the scenarios to run (all: every one)",
                   choices=["all", "kill-worker", "kill-up",
                                                   "sigterm-backlog", "kill-broker"])
    p.add_argument("--events", type=int, default=6_000,
                   help="events sent through the API (default: %(default)s)")
    p.add_argument("--rate", type=float, default=400.0,
                   help="events per second (default: %(default)s)")
    p.add_argument("--kills", type=int, default=10,
                   help="kill-worker: how many kills (default: %(default)s)")
    p.add_argument("--backlog", type=int, default=50_000,
                   help="sigterm-backlog: backlog at Ctrl-C (default: %(default)s)")
    p.add_argument("--out", help="folder for the scenarios' data and chaos.json "
                                 "(default: <data-dir>/chaos)")
    p.set_defaults(func=cmd_chaos)
