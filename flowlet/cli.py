"""``flowlet`` — the command line. Settings are read here, once, from the environment."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime

from flowlet.bench_commands import add_bench_commands as _add_bench_commands
from flowlet.edge import settings_of as _settings
from flowlet.errors import Parser, run_command
from flowlet.ledger_commands import add_ledger_commands as _add_ledger_commands
from flowlet.rules_commands import add_rules_commands as _add_rules_commands
from flowlet.screening_commands import add_screening_commands as _add_screening_commands

log = logging.getLogger("flowlet")


def cmd_up(args: argparse.Namespace) -> int:
    from flowlet.up import Stack

    code = Stack(_settings(args), rate=args.rate, dashboard=not args.no_dashboard,
                 simulator=not args.no_simulator,
                 bootstrap_model=not args.no_model_bootstrap).run()
    # Every child has stopped and the logs are written: skip the interpreter's teardown of the
    # ML libraries the model bootstrap imported (2-4 s on a loaded 2-core machine), so Ctrl-C
    # returns the prompt at once.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.app import run_worker
    from streams.topics import ensure_topics

    settings = _settings(args)
    ensure_topics(settings)
    sys.argv = [sys.argv[0]]  # Faust's worker parses argv itself
    run_worker(settings, loglevel=args.loglevel)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from streams.api import run_api
    from streams.topics import ensure_topics

    settings = _settings(args)
    if args.port:
        settings = settings.with_(api_port=args.port)
    ensure_topics(settings)
    run_api(settings)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from flowlet.up import dashboard_command

    settings = _settings(args)
    if args.port:
        settings = settings.with_(dashboard_port=args.port)
    # Replace this process with Streamlit's: Ctrl-C and exit codes then behave as its own.
    os.execvpe(sys.executable, dashboard_command(settings),  # noqa: S606
               {**os.environ, **settings.to_env()})


def cmd_simulate(args: argparse.Namespace) -> int:
    from flowlet.feed import ApiPublisher, KafkaPublisher, describe, run_live, run_tag
    from flowlet.warmstart import live_simulator, replay_history

    settings = _settings(args)
    if args.days:  # history mode: write days of labelled history to the lake
        from flowlet.simulate import run_history

        run_history(settings.lake_dir, args.days, args.seed, args.customers, args.merchants)
        return 0
    # The history's world and mix at a size where each account acts as the history's do; a
    # run tag keeps a restarted run's ids new (the world, and so the accounts, stay the same).
    sim = live_simulator(args.rate, args.seed, args.accounts, run_tag())
    pace = None
    if args.history_start and args.history_end:  # go on from the past the stack materialised
        pace = replay_history(sim, args.rate, args.history_start, args.history_end)
    log.info("simulating %d accounts at %.1f transactions/s on average",
             len(sim.world.customers.ids), args.rate)
    if args.to == "api":
        publisher: ApiPublisher | KafkaPublisher = ApiPublisher(
            args.api_url or f"http://{settings.api_host}:{settings.api_port}",
            key=args.api_key or settings.api_key)
    else:
        publisher = KafkaPublisher(settings.broker, settings.topic_transactions,
                                   settings.producer_idempotence)
    if args.profiles:
        from flowlet.feed import publish_profiles

        publish_profiles(publisher, sim)
    answers = run_live(publisher, sim, rate=args.rate, count=args.count, pace=pace,
                       since=args.history_end if pace else None)
    sent = answers.total()
    refusal = f" (the API answered {publisher.last_refusal})" if publisher.last_refusal else ""
    sys.stdout.write(f"sent {sent} transactions: {describe(answers)}{refusal}\n")
    if sent and not answers["accepted"]:
        sys.stderr.write(f"flowlet simulate: the API accepted none of {sent} transactions"
                         f"{refusal}\n")
        return 1
    return 0


def utc_instant(text: str) -> datetime:
    """An ISO date or date-time as a UTC instant: naive = UTC, an offset converted.

    >>> utc_instant("2026-03-01"), utc_instant("2026-03-01T02:00+02:00").isoformat()
    (datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.timezone.utc), '2026-03-01T00:00:00+00:00')
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.if_missing:
        from flowlet.train_console import ensure_model

        version = ensure_model(settings, days=args.days or 21, customers=args.customers or 500,
                               seed=args.seed)
        log.info("champion is %s version %s", settings.model_name, version)
        return 0
    from flowlet.train_console import run_train

    run_train(settings, events=args.events, labels=args.labels, from_lake=args.from_lake,
              days=args.days or 30, customers=args.customers or 1000, merchants=args.merchants,
              seed=args.seed, gap_days=args.gap_days, train_start=args.train_start,
              train_end=args.train_end, test_start=args.test_start, test_end=args.test_end,
              validation_share=args.validation_share, margin=args.margin, promote=args.promote,
              alert_budget=args.alert_budget, alert_rate_factor=args.alert_rate_factor,
              recent_days=args.recent_days, refit=not args.no_refit)
    return 0


def cmd_lake_compact(args: argparse.Namespace) -> int:
    from streams.lake_compactor import compact_once

    stats = compact_once(_settings(args), target_rows=args.target_rows,
                         merge_factor=args.merge_factor, grace_seconds=args.grace)
    sys.stdout.write(json.dumps(stats.as_dict()) + "\n")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from features.catalogue import write_readme

    log.info("wrote the feature registry to %s", write_readme())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from core.contract.schema import write_schema

    log.info("wrote %s", write_schema())
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from flowlet.users import cmd_users as run

    if args.action != "list" and not args.username:
        log.error("users %s needs a USERNAME", args.action)
        return 2
    return run(args, _settings(args))


def cmd_keys(args: argparse.Namespace) -> int:
    from flowlet.keys import cmd_keys as run

    return run(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="flowlet", description=__doc__)
    parser.add_argument("--data-dir", help="local data folder (default: ./data, or "
                                           "FLOWLET_DATA_DIR)")
    parser.add_argument("--broker", help="Kafka bootstrap host:port (default: the embedded "
                                         "broker `up` starts, or FLOWLET_BROKER)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logs, migration logs and tracebacks of failed commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_component_commands, _add_data_commands, _add_ledger_commands,
                _add_rules_commands, _add_screening_commands, _add_bench_commands,
                _add_tool_commands):
        add(sub)
    return parser


def _add_component_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("up", help="run broker, worker, API, simulator and dashboard locally")
    p.add_argument("--rate", type=float, default=20.0, help="simulated transactions per second")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.add_argument("--no-simulator", action="store_true",
                   help="do not feed simulated transactions (only what you POST flows)")
    p.add_argument("--no-model-bootstrap", action="store_true",
                   help="do not train a first model on simulated history when there is no "
                        "champion; the worker waits for `flowlet train`")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("worker", help="run a stream worker")
    p.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"],
                   help="the worker's log level")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("api", help="run the ingestion API")
    p.add_argument("--port", type=int, help="port to listen on (default: FLOWLET_API_PORT, "
                                            "8000)")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("dashboard", help="run the Streamlit dashboard")
    p.add_argument("--port", type=int, help="port to listen on (default: "
                                            "FLOWLET_DASHBOARD_PORT, 8501)")
    p.set_defaults(func=cmd_dashboard)

    from flowlet.users import add_parser as add_users

    add_users(sub).set_defaults(func=cmd_users)

    from flowlet.keys import add_parser as add_keys

    add_keys(sub).set_defaults(func=cmd_keys)


def _add_data_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="publish simulated transactions live, or with --days "
                                        "write labelled history to the lake")
    p.add_argument("--to", choices=["api", "kafka"], default="api",
                   help="POST to the ingestion API, or produce straight to the topic")
    p.add_argument("--api-url", help="the API's base URL (default: http://FLOWLET_API_HOST:"
                                     "FLOWLET_API_PORT)")
    p.add_argument("--rate", type=float, default=20.0,
                   help="transactions per second, on average: the world's daily rhythm sets "
                        "the rate of the moment (nights quieter)")
    p.add_argument("--api-key", help="the API key to post with (scope publish; default "
                                     "FLOWLET_API_KEY)")
    p.add_argument("--count", type=int, help="stop after this many (default: run forever)")
    p.add_argument("--profiles", action="store_true",
                   help="first publish a KYC profile (customer event) per simulated customer, "
                        "a few with names of the synthetic sanctions/PEP sample")
    p.add_argument("--seed", type=int, default=11, help="the simulator's random seed")
    p.add_argument("--accounts", type=int,
                   help="simulated customers (default: as many as make --rate with each "
                        "acting like the history's, ~2.8 transactions a day)")
    p.add_argument("--history-start", type=utc_instant,
                   help="with --history-end: continue the world's past the stack materialised "
                        "(`flowlet up` passes them; drawn again, not published)")
    p.add_argument("--history-end", type=utc_instant,
                   help="the end of that past: live traffic starts there")
    p.add_argument("--days", type=int, help="history mode: days of history to write")
    p.add_argument("--customers", type=int, default=2000, help="history mode")
    p.add_argument("--merchants", type=int, default=300, help="history mode")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train", help="train, evaluate and register the ensemble; the champion "
                                     "alias moves only if it beats the champion")
    p.add_argument("--events", help="Parquet file or folder of canonical events (with --labels; "
                                     "default: simulate a history)")
    p.add_argument("--labels", help="Parquet file or folder of labels (transaction_id, is_fraud, "
                                    "labelled_at; optional pattern, source)")
    p.add_argument("--from-lake", action="store_true",
                   help="train on the lake: its simulated history (`flowlet simulate --days`) "
                        "plus the transactions processed and the labels applied live")
    p.add_argument("--days", type=int, help="simulated history length (default 30; 21 with "
                                            "--if-missing)")
    p.add_argument("--customers", type=int, help="simulated customers (default 1000; 500 with "
                                                 "--if-missing)")
    p.add_argument("--merchants", type=int, help="simulated merchants (default customers / 7)")
    p.add_argument("--seed", type=int, default=7, help="random seed (history and models)")
    p.add_argument("--gap-days", type=float,
                   help="train/test gap in days (default: the label delay measured in --labels, "
                        "95%% of fraud labels, rounded up; 2 on simulated histories); a gap "
                        "shorter than the measured delay is logged as a warning")
    for name, what in (("train-start", "first instant of the train window (default: the first "
                                        "event)"),
                       ("train-end", "end of the train window, excluded (default: test start "
                                     "minus the gap)"),
                       ("test-start", "first instant of the test window = the label cutoff "
                                      "(default: train end plus the gap, else the last quarter "
                                      "of the history)"),
                       ("test-end", "end of the test window, excluded (default: after the last "
                                    "event)")):
        p.add_argument(f"--{name}", type=utc_instant, metavar="ISO",
                       help=f"{what}; an ISO date or date-time, UTC unless it has an offset")
    p.add_argument("--validation-share", type=float,
                   help="latest share of the train window used for validation (default 0.45)")
    p.add_argument("--margin", type=float, default=0.0, help="AP margin the gate requires")
    p.add_argument("--promote", choices=["gate", "always", "never"], default="gate",
                   help="always: past the AP checks, never past the contract or the alert rate")
    p.add_argument("--alert-budget", type=float, default=0.005,
                   help="most a model may alert, as a share of transactions (default 0.005): "
                        "the threshold never alerts more on validation")
    p.add_argument("--alert-rate-factor", type=float, default=2.0,
                   help="the gate refuses a candidate alerting more than this × its budget on "
                        "the test window or on recent live rows (default 2)")
    p.add_argument("--recent-days", type=float, default=1.0,
                   help="the gate also checks the alert rate on the lake's rows processed in "
                        "the last N days (default 1; 0: not)")
    p.add_argument("--no-refit", action="store_true",
                   help="serve the members fitted on the fit window only (default: refit them on "
                        "the whole train window once the combiner and the policy are chosen)")
    p.add_argument("--if-missing", action="store_true", help="only when there is no champion")
    p.set_defaults(func=cmd_train)


def _add_tool_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lake", help="lake maintenance")
    lsub = p.add_subparsers(dest="lake_command", required=True)
    lp = lsub.add_parser("compact", help="merge the sink's per-batch files (rows and "
                         "aggregates) into large ones; safe beside a running worker")
    lp.add_argument("--target-rows", type=int, default=1_000_000,
                    help="a compacted file this large is no longer merged (default: %(default)s)")
    lp.add_argument("--merge-factor", type=int, default=4,
                    help="merge a day's open compacted files when there would be this many "
                         "(default: %(default)s)")
    lp.add_argument("--grace", type=float, default=300.0,
                    help="seconds superseded files stay for readers that listed them "
                         "(default: %(default)s)")
    lp.set_defaults(func=cmd_lake_compact)

    p = sub.add_parser("features", help="regenerate the feature registry in features/README.md")
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("schema", help="regenerate core/schemas/transaction.v1.json and "
                                      "customer.v1.json")
    p.set_defaults(func=cmd_schema)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the schema migrations each command runs first: logged only with -v
    logging.getLogger("alembic").setLevel(logging.NOTSET if args.verbose else logging.WARNING)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
