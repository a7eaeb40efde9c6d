"""Posting recipes: how each event type moves money between accounts of the chart.

A recipe turns an event into a :class:`Plan`: signed legs (debit positive) that sum to zero per
currency, plus what the journal refers to. It only reads the ledger through a
:class:`RecipeContext` (card holds and FX rates); balance rules are applied by the store.

| event type            | legs (debit → credit)                                                   |
|-----------------------|-------------------------------------------------------------------------|
| top_up                | clearing:bank → wallet                                                  |
| withdrawal            | wallet → clearing:bank                                                  |
| p2p_transfer          | payer wallet → counterparty wallet                                      |
| merchant_payment      | wallet → merchant                                                       |
| card_authorization    | wallet → holds (a pending hold; expires after the hold TTL)             |
| card_capture          | with a pending authorization: holds → wallet (release the hold), then   |
|                       | wallet → clearing:card_scheme; without one: only the second move        |
| card_void             | holds → wallet (releases the pending hold)                              |
| (hold expiry)         | holds → wallet, posted by the ledger once the hold TTL has passed       |
| refund                | merchant → wallet                                                       |
| chargeback            | clearing:chargebacks → wallet (claimed back through the scheme)         |
| fx_conversion         | wallet → fx:position (sold currency); fx:position → wallet (bought      |
|                       | currency, at the event's amount or the ledger's rate)                   |
| any, with fee_minor   | additionally wallet → fees:revenue                                      |
| (reversal)            | every leg of the original, negated                                      |

>>> from core.contract import TransactionEvent
>>> ev = TransactionEvent.model_validate({"transaction_id": "t1", "event_type": "p2p_transfer",
...     "occurred_at": "2026-01-01T00:00:00Z", "amount_minor": 500, "currency": "EUR",
...     "account_id": "a", "counterparty_account_id": "b", "country": "DE", "channel": "web"})
>>> for leg in legs(ev):
...     print(leg.ledger_account, leg.currency, leg.amount_minor)
customer:a:wallet EUR 500
customer:b:wallet EUR -500
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import NamedTuple, Protocol

from core.contract import MINOR_UNITS, EventType, TransactionEvent
from ledger.accounts import (
    BANK_CLEARING,
    CARD_SCHEME_CLEARING,
    CHARGEBACK_CLEARING,
    FEE_REVENUE,
    FX_POSITION,
    holds,
    merchant,
    wallet,
)

#: Largest amount one leg may carry (the contract's bound; fits BIGINT with room to sum).
MAX_AMOUNT_MINOR = 10**15
#: Recorded rates keep 12 significant digits (an implied rate can have arbitrarily many).
_RATE_CONTEXT = Context(prec=12)


class Leg(NamedTuple):
    ledger_account: str
    currency: str
    amount_minor: int


class Hold(NamedTuple):
    """A card hold as a batch sees it (immutable; a tuple, built cheaper than a frozen
    dataclass, whose ``__init__`` sets each field through ``object.__setattr__``)."""

    authorization_id: str
    account_id: str
    currency: str
    amount_minor: int
    status: str  # pending | captured | voided | expired


@dataclass(slots=True)
class Plan:
    """What a recipe decided: the legs, or why not (``rejection``), and what the journal refers
    to. Mutable: :func:`plan` appends the fee legs.

    >>> Plan(rejection="no") == Plan(rejection="no"), Plan().legs
    (True, [])
    """

    legs: list[Leg] = field(default_factory=list)
    closes_hold: str | None = None
    refers_to: str | None = None
    fx_rate: str | None = None
    reversal_of: str | None = None
    rejection: str | None = None


class RecipeContext(Protocol):
    def hold(self, authorization_id: str) -> Hold | None: ...

    def rate(self, base: str, quote: str, at: datetime) -> Decimal | None: ...


class NoContext:
    """No holds, no rates: enough for every recipe but two-phase captures and rate-based FX."""

    def hold(self, authorization_id: str) -> Hold | None:
        return None

    def rate(self, base: str, quote: str, at: datetime) -> Decimal | None:
        return None


_leg = tuple.__new__  # Leg(...) without NamedTuple's Python-level __new__ (hot path)


def move(debit: str, credit: str, currency: str, amount: int) -> list[Leg]:
    return [_leg(Leg, (debit, currency, amount)), _leg(Leg, (credit, currency, -amount))]


def convert(amount_minor: int, source: str, target: str, rate: Decimal) -> int:
    """Convert minor units at ``rate`` (target per source major unit), rounding half-even.

    >>> convert(10_000, "EUR", "USD", Decimal("1.0832")), convert(10_000, "EUR", "JPY",
    ...                                                              Decimal("161.25"))
    (10832, 16125)
    """
    scale = Decimal(10) ** (MINOR_UNITS[target] - MINOR_UNITS[source])
    exact = Decimal(amount_minor) * rate * scale
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def plan(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    """The posting for one event (legs may be empty only when ``rejection`` is set)."""
    recipe = _RECIPES.get(ev.event_type)
    if recipe is None:
        raise ValueError(f"no posting recipe for event type {ev.event_type!r}")
    p = recipe(ev, ctx)
    if ev.fee_minor and p.rejection is None:
        p.legs += move(wallet(ev.account_id), FEE_REVENUE, ev.currency, ev.fee_minor)
    return p


# One function per event type, found by a dict lookup (the hot path calls one per posting).

def _top_up(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    return Plan(move(BANK_CLEARING, wallet(ev.account_id), ev.currency, ev.amount_minor))


def _withdrawal(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    return Plan(move(wallet(ev.account_id), BANK_CLEARING, ev.currency, ev.amount_minor))


def _p2p_transfer(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    assert ev.counterparty_account_id is not None
    return Plan(move(wallet(ev.account_id), wallet(ev.counterparty_account_id), ev.currency,
                     ev.amount_minor))


def _merchant_payment(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    assert ev.merchant_id is not None
    return Plan(move(wallet(ev.account_id), merchant(ev.merchant_id), ev.currency,
                     ev.amount_minor))


def _card_authorization(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    return Plan(move(wallet(ev.account_id), holds(ev.account_id), ev.currency, ev.amount_minor))


def _card_capture(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    w, ccy = wallet(ev.account_id), ev.currency
    if ev.original_transaction_id is None:
        return Plan(move(w, CARD_SCHEME_CLEARING, ccy, ev.amount_minor))
    hold, problem = _pending_hold(ev, ctx)
    if hold is None:
        return Plan(rejection=problem, refers_to=ev.original_transaction_id)
    return Plan(move(holds(ev.account_id), w, ccy, hold.amount_minor)
                + move(w, CARD_SCHEME_CLEARING, ccy, ev.amount_minor),
                closes_hold=hold.authorization_id, refers_to=hold.authorization_id)


def _card_void(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    hold, problem = _pending_hold(ev, ctx)
    if hold is None:
        return Plan(rejection=problem, refers_to=ev.original_transaction_id)
    return Plan(move(holds(ev.account_id), wallet(ev.account_id), ev.currency,
                     hold.amount_minor),
                closes_hold=hold.authorization_id, refers_to=hold.authorization_id)


def _refund(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    assert ev.merchant_id is not None
    return Plan(move(merchant(ev.merchant_id), wallet(ev.account_id), ev.currency,
                     ev.amount_minor), refers_to=ev.original_transaction_id)


def _chargeback(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    return Plan(move(CHARGEBACK_CLEARING, wallet(ev.account_id), ev.currency, ev.amount_minor),
                refers_to=ev.original_transaction_id)


def _fx_conversion(ev: TransactionEvent, ctx: RecipeContext) -> Plan:
    assert ev.target_currency is not None
    amt, ccy, target, w = ev.amount_minor, ev.currency, ev.target_currency, wallet(ev.account_id)
    if ev.target_amount_minor is not None:
        bought = ev.target_amount_minor
        implied = Decimal(bought) / Decimal(amt) / (
            Decimal(10) ** (MINOR_UNITS[target] - MINOR_UNITS[ccy]))
        rate = format(_RATE_CONTEXT.create_decimal(implied).normalize(), "f")
    else:
        found = ctx.rate(ccy, target, ev.occurred_at)
        if found is None:
            return Plan(rejection=f"no {ccy}->{target} FX rate as of "
                                  f"{ev.occurred_at.isoformat()}")
        bought, rate = convert(amt, ccy, target, found), str(found)
        if bought <= 0:
            return Plan(rejection=f"{amt} {ccy} converts to nothing in {target}")
        if bought > MAX_AMOUNT_MINOR:
            return Plan(rejection=f"{amt} {ccy} converts to more than the largest "
                                  f"amount the ledger holds in {target}")
    return Plan(move(w, FX_POSITION, ccy, amt) + move(FX_POSITION, w, target, bought),
                fx_rate=rate)


_RECIPES: dict[str, Callable[[TransactionEvent, RecipeContext], Plan]] = {
    EventType.TOP_UP: _top_up,
    EventType.WITHDRAWAL: _withdrawal,
    EventType.P2P_TRANSFER: _p2p_transfer,
    EventType.MERCHANT_PAYMENT: _merchant_payment,
    EventType.CARD_AUTHORIZATION: _card_authorization,
    EventType.CARD_CAPTURE: _card_capture,
    EventType.CARD_VOID: _card_void,
    EventType.REFUND: _refund,
    EventType.CHARGEBACK: _chargeback,
    EventType.FX_CONVERSION: _fx_conversion,
}
assert set(_RECIPES) == set(EventType), "every event type needs a recipe"


def _pending_hold(ev: TransactionEvent, ctx: RecipeContext) -> tuple[Hold | None, str]:
    auth_id = ev.original_transaction_id
    assert auth_id is not None
    hold = ctx.hold(auth_id)
    if hold is None:
        return None, f"authorization {auth_id} is unknown"
    if hold.status != "pending":
        return None, f"authorization {auth_id} is not pending ({hold.status})"
    if (hold.account_id, hold.currency) != (ev.account_id, ev.currency):
        return None, f"authorization {auth_id} belongs to another account or currency"
    return hold, ""


def legs(ev: TransactionEvent, ctx: RecipeContext | None = None) -> list[Leg]:
    """The balanced legs for one event (raises if the event would be rejected)."""
    p = plan(ev, ctx or NoContext())
    if p.rejection:
        raise ValueError(p.rejection)
    return p.legs
