"""Posting recipes: how each event type of the contract moves money between ledger accounts.

A recipe returns signed legs (debit positive, credit negative) that sum to zero per currency.
Customer wallets and merchant accounts are liabilities of the platform: their balance is
``-(sum of legs)``; clearing accounts are assets.

| event type          | debit                         | credit                        |
|---------------------|-------------------------------|-------------------------------|
| top_up              | clearing:bank                 | customer wallet               |
| withdrawal          | customer wallet               | clearing:bank                 |
| p2p_transfer        | payer wallet                  | counterparty wallet           |
| merchant_payment    | customer wallet               | merchant                      |
| card_authorization  | customer wallet               | customer holds (earmark)      |
| card_capture        | customer holds if it refers   | clearing:card_scheme          |
|                     | to an authorization, else the |                               |
|                     | customer wallet               |                               |
| refund              | merchant                      | customer wallet               |
| chargeback          | merchant                      | customer wallet               |
| fx_conversion       | wallet (sold ccy) and         | fx:position (sold ccy) and    |
|                     | fx:position (bought ccy)      | wallet (bought ccy)           |

>>> from flowlet.contract import TransactionEvent
>>> ev = TransactionEvent.model_validate({"transaction_id": "t1", "event_type": "p2p_transfer",
...     "occurred_at": "2026-01-01T00:00:00Z", "amount_minor": 500, "currency": "EUR",
...     "account_id": "a", "counterparty_account_id": "b", "country": "DE", "channel": "web"})
>>> for leg in legs(ev):
...     print(leg.ledger_account, leg.currency, leg.amount_minor)
customer:a:wallet EUR 500
customer:b:wallet EUR -500
"""

from __future__ import annotations

from typing import NamedTuple

from flowlet.contract import EventType, TransactionEvent

BANK_CLEARING = "clearing:bank"
CARD_SCHEME_CLEARING = "clearing:card_scheme"
FX_POSITION = "fx:position"


class Leg(NamedTuple):
    ledger_account: str
    currency: str
    amount_minor: int


def wallet(account_id: str) -> str:
    return f"customer:{account_id}:wallet"


def holds(account_id: str) -> str:
    return f"customer:{account_id}:holds"


def merchant(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def _move(debit: str, credit: str, currency: str, amount: int) -> list[Leg]:
    return [Leg(debit, currency, amount), Leg(credit, currency, -amount)]


def legs(ev: TransactionEvent) -> list[Leg]:
    """The balanced legs for one event."""
    et, amt, ccy, acct = ev.event_type, ev.amount_minor, ev.currency, ev.account_id
    match et:
        case EventType.TOP_UP:
            return _move(BANK_CLEARING, wallet(acct), ccy, amt)
        case EventType.WITHDRAWAL:
            return _move(wallet(acct), BANK_CLEARING, ccy, amt)
        case EventType.P2P_TRANSFER:
            assert ev.counterparty_account_id is not None
            return _move(wallet(acct), wallet(ev.counterparty_account_id), ccy, amt)
        case EventType.MERCHANT_PAYMENT:
            assert ev.merchant_id is not None
            return _move(wallet(acct), merchant(ev.merchant_id), ccy, amt)
        case EventType.CARD_AUTHORIZATION:
            return _move(wallet(acct), holds(acct), ccy, amt)
        case EventType.CARD_CAPTURE:
            source = holds(acct) if ev.original_transaction_id else wallet(acct)
            return _move(source, CARD_SCHEME_CLEARING, ccy, amt)
        case EventType.REFUND | EventType.CHARGEBACK:
            assert ev.merchant_id is not None
            return _move(merchant(ev.merchant_id), wallet(acct), ccy, amt)
        case EventType.FX_CONVERSION:
            assert ev.target_currency is not None and ev.target_amount_minor is not None
            return _move(wallet(acct), FX_POSITION, ccy, amt) + _move(
                FX_POSITION, wallet(acct), ev.target_currency, ev.target_amount_minor
            )
    raise ValueError(f"no posting recipe for event type {et!r}")
