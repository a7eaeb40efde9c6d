"""``flowlet ledger verify|reverse|rate|expire-holds``."""

from __future__ import annotations

import argparse
import logging
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import Settings
from flowlet.edge import settings_of as _settings

if TYPE_CHECKING:
    from ledger import Ledger

log = logging.getLogger("flowlet")


def positive_decimal(text: str) -> Decimal:
    """An FX rate as typed: a positive decimal (never a float: rates stay exact).

    >>> positive_decimal("1.0832")
    Decimal('1.0832')
    >>> positive_decimal("-3")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: an FX rate must be positive, not -3
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"an FX rate must be positive, not {text}")
    return value


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from ledger import Ledger, verify

    settings = _settings(args)
    ledger = Ledger.from_url(settings.database_url)
    accepted = None if args.no_cross_check else _accepted_ids(settings)
    if accepted and args.settle > 0:
        late = _settle(ledger, accepted, args.settle)
        if late:
            log.warning("%d accepted transactions still unposted after %g s", len(late),
                        args.settle)
    report = verify(ledger, accepted)
    sys.stdout.write(report.render() + "\n")
    return 0 if report.ok else 1


def _settle(ledger: Ledger, accepted: set[str], seconds: float) -> set[str]:
    """Wait up to ``seconds`` for the accepted transactions in flight to be posted; return
    those still unposted. Only ids accepted before the call count: a running stack keeps
    accepting, and those newer events are in flight, not missing."""
    import time

    from sqlalchemy import select

    from ledger.schema import journals

    deadline = time.monotonic() + seconds
    waiting = set(accepted)
    while waiting:
        ids = list(waiting)
        with ledger.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                waiting -= set(conn.execute(select(journals.c.transaction_id).where(
                    journals.c.transaction_id.in_(ids[start:start + 500]))).scalars())
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    return waiting


def _accepted_ids(settings: Settings) -> set[str] | None:
    """Ids the API accepted plus ids the lake holds: each must have exactly one journal."""
    from sqlalchemy import column, create_engine, inspect, select, table

    ids: set[str] = set()
    found = False
    for url, name in ((settings.api_database_url, "ingest_outbox"),
                      (settings.database_url, "lake_index")):
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            continue
        engine = create_engine(url)
        try:
            if not inspect(engine).has_table(name):
                continue
            with engine.connect() as conn:
                ids |= set(conn.execute(select(column("transaction_id")).select_from(
                    table(name))).scalars())
            found = True
        finally:
            engine.dispose()
    return ids if found else None


def cmd_ledger_reverse(args: argparse.Namespace) -> int:
    from ledger import Ledger

    result = Ledger.from_url(_settings(args).database_url).reverse(args.transaction_id,
                                                                    args.reason)
    sys.stdout.write(f"{result.transaction_id}: {result.status}"
                     f"{' — ' + result.reason if result.reason else ''}\n")
    return 0 if result.status in ("posted", "duplicate") else 1


def cmd_ledger_rate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ledger import Ledger

    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC)
    if as_of.tzinfo is None:
        raise ValueError("--as-of needs a UTC offset, e.g. 2026-11-22T10:00:00+00:00")
    Ledger.from_url(_settings(args).database_url).set_rate(args.base, args.quote, args.rate,
                                                            as_of, source="cli")
    log.info("rate %s/%s = %s as of %s", args.base, args.quote, args.rate, as_of.isoformat())
    return 0


def cmd_ledger_expire(args: argparse.Namespace) -> int:
    from ledger import Ledger

    released = Ledger.from_url(_settings(args).database_url).expire_holds()
    sys.stdout.write(f"released {sum(r.status == 'posted' for r in released)} expired holds\n")
    return 0


def add_ledger_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ledger", help="ledger operations")
    lsub = p.add_subparsers(dest="ledger_command", required=True)
    lp = lsub.add_parser("verify", help="trial balance, hash chain, balances, postings; "
                                        "exit 1 and name the rows on problems")
    lp.add_argument("--settle", type=float, default=30.0, metavar="SECONDS",
                    help="wait up to this long for transactions accepted before the check to "
                         "be posted (in flight on a running stack); still unposted then = "
                         "missing (default: %(default)s)")
    lp.add_argument("--no-cross-check", action="store_true",
                    help="skip checking API receipts and lake rows against the journals")
    lp.set_defaults(func=cmd_ledger_verify)
    lp = lsub.add_parser("reverse", help="correct a posted journal with a reversing one")
    lp.add_argument("transaction_id", help="the posted transaction to reverse")
    lp.add_argument("--reason", required=True, help="why (kept with the reversing journal)")
    lp.set_defaults(func=cmd_ledger_reverse)
    lp = lsub.add_parser("rate", help="record an FX rate (quote units per base unit)")
    lp.add_argument("base", help="ISO 4217 code of the base currency, e.g. EUR")
    lp.add_argument("quote", help="ISO 4217 code of the quote currency, e.g. USD")
    lp.add_argument("rate", type=positive_decimal,
                    help="quote units per base unit, a positive decimal, e.g. 1.0832")
    lp.add_argument("--as-of", help="ISO 8601 with offset (default: now)")
    lp.set_defaults(func=cmd_ledger_rate)
    lp = lsub.add_parser("expire-holds", help="release card holds whose authorization expired")
    lp.set_defaults(func=cmd_ledger_expire)
