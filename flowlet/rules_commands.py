"""``flowlet rules import|export|list|backtest|activate|deactivate``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flowlet.edge import settings_of as _settings

log = logging.getLogger("flowlet")
CLI_ACTOR = "flowlet-cli"


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cmd_rules(args: argparse.Namespace) -> int:
    from rules import RuleError, RuleStore, SpecError

    settings = _settings(args)
    store = RuleStore(settings.database_url)
    try:
        return _ACTIONS[args.rules_action](args, store, settings)
    except (RuleError, SpecError) as exc:
        log.error("%s", exc)
        return 2


def _import(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    report = store.import_text(Path(args.file).read_text(), args.by)
    for line in report.new_versions:
        sys.stdout.write(f"new draft {line}\n")
    for line in report.unchanged:
        sys.stdout.write(f"unchanged {line}\n")
    for name in report.lists_changed:
        sys.stdout.write(f"list {name} updated\n")
    return 0


def _export(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    text = store.export_text()
    if args.file:
        Path(args.file).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _list(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    for r in store.listing():
        active = f"v{r['active_version']}" if r["active_version"] else "-"
        tested = "backtested" if r["latest_backtested"] else "no backtest"
        sys.stdout.write(f"{r['rule_id']:<28} latest v{r['latest_version']} ({tested}), "
                         f"active {active:<4} {r['severity']:<8} {r['action']:<14} "
                         f"{r['condition']}\n")
    return 0


def _backtest(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    from rules import backtest, compile_rule

    version = store.version(args.rule, args.version)
    rule = compile_rule(version, store.lists())
    _, active, _ = store.active_rules()
    end = args.to or datetime.now(UTC)
    start = args.start or end - timedelta(days=30)
    labels = None
    if args.labels:
        from models.training.data import load_labels

        labels = load_labels(args.labels)
    from rules.customers import customer_frame

    result = backtest(settings.lake_dir, rule, start, end, others=active, labels=labels,
                      customers=customer_frame(store.engine))
    backtest_id = store.record_backtest(version.rule_id, version.version, start, end,
                                        result.figures, args.by)
    sys.stdout.write(json.dumps(result.figures, indent=2, default=str) + "\n")
    log.info("backtest %d of %s v%d stored", backtest_id, version.rule_id, version.version)
    return 0


def _activate(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    v = store.activate(args.rule, args.by, args.version)
    sys.stdout.write(f"{v.rule_id} v{v.version} is active\n")
    return 0


def _deactivate(args, store, settings) -> int:  # type: ignore[no-untyped-def]
    store.deactivate(args.rule, args.by)
    sys.stdout.write(f"{args.rule} is no longer active\n")
    return 0


_ACTIONS = {"import": _import, "export": _export, "list": _list, "backtest": _backtest,
            "activate": _activate, "deactivate": _deactivate}


def add_rules_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rules", help="AML/fraud rules as data: import, export, list, backtest, "
                                     "activate (see rules/README.md)")
    rs = p.add_subparsers(dest="rules_action", required=True)
    q = rs.add_parser("import", help="import rules and lists from YAML (a changed rule becomes "
                                     "a new draft version)")
    q.add_argument("file", help="the YAML file of rules and lists")
    q.add_argument("--by", default=CLI_ACTOR, help="who, for the audit log")
    q = rs.add_parser("export", help="write every rule's latest version and the lists as YAML")
    q.add_argument("file", nargs="?", help="default: standard output")
    rs.add_parser("list", help="rules, their latest and active versions")
    q = rs.add_parser("backtest", help="run a version over the lake's history and store the "
                                       "figures with it")
    q.add_argument("rule", help="the rule's name")
    q.add_argument("--version", type=int, help="default: the latest")
    q.add_argument("--from", dest="start", type=_instant,
                   help="ISO date or date-time, UTC (default: 30 days before --to)")
    q.add_argument("--to", type=_instant, help="exclusive (default: now)")
    q.add_argument("--labels", help="Parquet labels (transaction_id, is_fraud, labelled_at) "
                                    "instead of the lake's")
    q.add_argument("--by", default=CLI_ACTOR, help="who, for the audit log")
    for action, text in (("activate", "make a backtested version active (lead or admin)"),
                         ("deactivate", "stop a rule (lead or admin)")):
        q = rs.add_parser(action, help=text)
        q.add_argument("rule", help="the rule's name")
        if action == "activate":
            q.add_argument("--version", type=int, help="default: the latest")
        q.add_argument("--by", required=True, help="a workbench user with role lead or admin")
    p.set_defaults(func=cmd_rules)
