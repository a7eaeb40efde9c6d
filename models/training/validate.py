"""The event contract checked over whole frames: every broken rule, with the rows that break it.

``core.contract.TransactionEvent`` validates one event at a time (the API, the stream); a
history has millions, so the same rules are polars expressions over the frame here, one pass.
A :class:`ContractError` lists every broken rule with its field, how many rows break it and the
first of them — the row's position in the input (counted from 0; files of a folder in path
order) and its ``transaction_id``::

    events break the contract (2 rules, at least 2 rows):
      amount_minor: must be > 0 and <= 10^15 (minor units) — 2 rows: row 0 (transaction_id
        't0'), row 5 (transaction_id 't5'); values: 0, -300
      event_type: not an event type of the contract (card_authorization, …) — 1 row: row 2
        (transaction_id 't2'); values: 'purchase'

Checked: required fields present; amounts (``amount_minor``, ``fee_minor``,
``target_amount_minor``) whole minor units in ``(0, 10^15]``; ``event_type`` and ``channel`` in
the contract's enumerations; ``currency``/``target_currency`` ISO 4217 codes Flowlet knows;
``country`` a known country (``core.geo``: an ISO 3166-1 alpha-2 code with a time zone, as the
contract requires); ``occurred_at`` in 2000–2100; the type-specific fields (``merchant_id``
for card and merchant events, a counterparty other than the payer for ``p2p_transfer``,
``target_currency`` only and always for ``fx_conversion``, ``original_transaction_id`` for
``card_void``). Not checked offline: the identifiers' character set and length, raw card
numbers in identifiers, ``mcc`` and ``ip_address`` formats.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.contract import MINOR_UNITS, Channel, EventType
from core.contract.events import EARLIEST, LATEST, MERCHANT_EVENTS
from core.geo import KNOWN_COUNTRIES, KNOWN_COUNTRY_RULE

#: the row-position column added while checking
ROW = "__input_row__"
#: rows named per broken rule
SHOWN_ROWS = 5
MAX_AMOUNT = 10**15

EVENT_TYPES = [e.value for e in EventType]
CHANNELS = [c.value for c in Channel]


@dataclass(frozen=True)
class Problem:
    """One broken rule: its field, what it requires, how many rows break it, the first ones."""

    field: str
    rule: str
    count: int
    rows: list[int]
    transaction_ids: list[str | None]
    values: list[object]

    def __str__(self) -> str:
        shown = ", ".join(f"row {r} (transaction_id {t!r})"
                          for r, t in zip(self.rows, self.transaction_ids, strict=True))
        more = f", … {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
        values = "; values: " + ", ".join(repr(v) for v in self.values) if self.values else ""
        plural = "row" if self.count == 1 else "rows"
        return f"{self.field}: {self.rule} — {self.count} {plural}: {shown}{more}{values}"


class ContractError(ValueError):
    """Rows of a frame break the contract; :attr:`problems` has one entry per broken rule."""

    def __init__(self, what: str, problems: list[Problem]) -> None:
        self.problems = problems
        rows = max(p.count for p in problems)
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"{what} break the contract ({len(problems)} rule"
                         f"{'s' if len(problems) > 1 else ''}, at least {rows} row"
                         f"{'s' if rows > 1 else ''}):\n  {lines}")


@dataclass(frozen=True)
class Rule:
    field: str
    rule: str
    #: true on the rows that break the rule
    bad: pl.Expr
    #: show the offending values (categorical fields, amounts)
    show_values: bool = True


def _amount(name: str, optional: bool) -> Rule:
    c = pl.col(name)
    bad = ~c.is_between(1, MAX_AMOUNT)
    return Rule(name, "must be > 0 and <= 10^15 (minor units)",
                c.is_not_null() & bad if optional else bad)


def _known(name: str, allowed: list[str], rule: str) -> Rule:
    c = pl.col(name)
    return Rule(name, rule, c.is_not_null() & ~c.is_in(allowed))


def required_nulls(columns: tuple[str, ...]) -> list[Rule]:
    return [Rule(c, "nulls in required column", pl.col(c).is_null(), show_values=False)
            for c in columns]


def event_rules(required: tuple[str, ...]) -> list[Rule]:
    """The contract's rules over canonical event columns (``core.frames.EVENT_SCHEMA``)."""
    et, cp, tc = pl.col("event_type"), pl.col("counterparty_account_id"), pl.col("target_currency")
    fx = et == EventType.FX_CONVERSION.value
    currencies = sorted(MINOR_UNITS)
    return [
        *required_nulls(required),
        _amount("amount_minor", optional=False),
        _amount("fee_minor", optional=True),
        _amount("target_amount_minor", optional=True),
        _known("event_type", EVENT_TYPES, "not an event type of the contract ("
               + ", ".join(EVENT_TYPES) + ")"),
        _known("channel", CHANNELS, "not a channel of the contract (" + ", ".join(CHANNELS)
               + ")"),
        _known("currency", currencies, "not an ISO 4217 currency Flowlet knows"),
        _known("target_currency", currencies, "not an ISO 4217 currency Flowlet knows"),
        _known("country", sorted(KNOWN_COUNTRIES), f"not {KNOWN_COUNTRY_RULE}"),
        Rule("occurred_at", f"must be in [{EARLIEST.year}, {LATEST.year})",
             ~pl.col("occurred_at").is_between(EARLIEST, LATEST, closed="left")),
        Rule("merchant_id", "required for " + ", ".join(sorted(e.value for e in MERCHANT_EVENTS)),
             et.is_in([e.value for e in MERCHANT_EVENTS]) & pl.col("merchant_id").is_null(),
             show_values=False),
        Rule("counterparty_account_id", "p2p_transfer needs one, other than account_id",
             (et == EventType.P2P_TRANSFER.value)
             & (cp.is_null() | (cp == pl.col("account_id"))), show_values=False),
        Rule("target_currency", "fx_conversion needs one, other than currency",
             fx & (tc.is_null() | (tc == pl.col("currency"))), show_values=False),
        Rule("target_currency", "target_currency/target_amount_minor only for fx_conversion",
             ~fx & (tc.is_not_null() | pl.col("target_amount_minor").is_not_null()),
             show_values=False),
        Rule("original_transaction_id", "card_void needs the authorization's id",
             (et == EventType.CARD_VOID.value) & pl.col("original_transaction_id").is_null(),
             show_values=False),
    ]


def whole_amounts(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[Rule]:
    """Float amount columns (e.g. from CSV-born Parquet) must hold whole minor units."""
    return [Rule(c, "must be a whole number of minor units",
                 pl.col(c).is_not_null() & (pl.col(c).is_nan() | (pl.col(c) != pl.col(c).round())))
            for c in columns if c in frame.columns and frame.schema[c].is_float()]


def check(frame: pl.DataFrame, rules: list[Rule], what: str) -> None:
    """Raise :class:`ContractError` listing every rule some row of ``frame`` breaks.

    ``frame`` carries :data:`ROW` (the input position) and may carry ``transaction_id``."""
    if not rules or frame.height == 0:
        return
    flags = frame.select([r.bad.fill_null(False).alias(str(i)) for i, r in enumerate(rules)])
    counts = flags.sum().row(0)
    tid = (pl.col("transaction_id").cast(pl.String) if "transaction_id" in frame.columns
           else pl.lit(None, pl.String)).alias("transaction_id")
    problems = []
    for i, (rule, n) in enumerate(zip(rules, counts, strict=True)):
        if not n:
            continue
        mask = flags[str(i)]
        first = frame.filter(mask).select(ROW, tid).sort(ROW).head(SHOWN_ROWS)
        values = (frame[rule.field].filter(mask).unique(maintain_order=True).head(SHOWN_ROWS)
                  .to_list() if rule.show_values else [])
        problems.append(Problem(rule.field, rule.rule, int(n), first[ROW].to_list(),
                                first["transaction_id"].to_list(), values))
    if problems:
        raise ContractError(what, problems)
