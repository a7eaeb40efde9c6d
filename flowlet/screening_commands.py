"""``flowlet screening load|match|customer``: the sanctions/PEP list and the customer view."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from flowlet.edge import settings_of as _settings

log = logging.getLogger("flowlet")


def cmd_screening_load(args: argparse.Namespace) -> int:
    """Load a list file (all or nothing): exit 2 naming every bad line."""
    from screening import SAMPLE_LIST, ListFileError, ListStore

    path = SAMPLE_LIST if args.path == "sample" else args.path
    store = ListStore(_settings(args).database_url)
    try:
        report = store.load(path)
    except ListFileError as exc:
        sys.stderr.write(f"{path}: nothing loaded; {len(exc.errors)} problem(s):\n")
        sys.stderr.write("".join(f"  {e}\n" for e in exc.errors))
        return 2
    except OSError as exc:
        sys.stderr.write(f"{path}: {exc.strerror or exc}\n")
        return 2
    sys.stdout.write(json.dumps({"version": report.version, "entries": report.entries,
                                 "by_kind": report.by_kind, "sha256": report.sha256}) + "\n")
    return 0


def cmd_screening_match(args: argparse.Namespace) -> int:
    """Screen one name against the current list, as the stream would (exit 1 on a hit)."""
    from screening import ListStore, Matcher

    settings = _settings(args)
    version, entries = ListStore(settings.database_url).current()
    threshold = settings.screening_threshold if args.threshold is None else args.threshold
    matches = Matcher(entries, threshold).match(args.name)
    sys.stdout.write(json.dumps({"list_version": version, "threshold": threshold,
                                 "matches": [m.__dict__ for m in matches]}) + "\n")
    return 1 if matches else 0


def cmd_screening_customer(args: argparse.Namespace) -> int:
    """An account's profile and risk rating, as the case page shows them."""
    from customers import CustomerBook

    view = CustomerBook(_settings(args).database_url).view(args.account_id)
    sys.stdout.write(json.dumps(view, default=str) + "\n")
    return 0 if view["profile"] else 1


def add_screening_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("screening", help="sanctions and PEP screening")
    ssub = p.add_subparsers(dest="screening_command", required=True)
    sp = ssub.add_parser("load", help="replace the list with a file in OpenSanctions' simple "
                                      "CSV format (all or nothing; bad rows are named)")
    sp.add_argument("path", help="the CSV file, or 'sample' for the shipped synthetic list")
    sp.set_defaults(func=cmd_screening_load)
    sp = ssub.add_parser("match", help="screen a name against the current list")
    sp.add_argument("name")
    sp.add_argument("--threshold", type=float, help="0-100 (default: the settings')")
    sp.set_defaults(func=cmd_screening_match)
    sp = ssub.add_parser("customer", help="an account's KYC profile and risk rating")
    sp.add_argument("account_id")
    sp.set_defaults(func=cmd_screening_customer)
