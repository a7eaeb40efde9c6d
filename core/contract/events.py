"""The canonical transaction event, version 1.

Upstream systems publish this to topic ``transactions`` (key = ``account_id``) or POST it to
``/v1/transactions``. The API and the stream both validate with :class:`TransactionEvent`, and
``core/schemas/transaction.v1.json`` is generated from it (a test keeps the two equal).

Money is an integer in minor units plus an ISO 4217 code; times are timezone-aware and
normalised to UTC; a country is an ISO 3166-1 alpha-2 code with a time zone (``core.geo``: an
unknown one is refused, never read as UTC); cards are identified by token only — anything that
looks like a card number is rejected.

>>> ev = TransactionEvent.model_validate({
...     "transaction_id": "tx-1", "event_type": "top_up",
...     "occurred_at": "2026-11-22T10:00:00+01:00", "amount_minor": 2500, "currency": "EUR",
...     "account_id": "acc-1", "country": "DE", "channel": "mobile_app"})
>>> ev.occurred_at.isoformat()
'2026-11-22T09:00:00+00:00'
>>> ev.amount_minor, ev.currency
(2500, 'EUR')
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from core.contract.currencies import MINOR_UNITS
from core.contract.pan import no_pan
from core.geo import KNOWN_COUNTRIES, UnknownCountry, is_known_country

SCHEMA_NAME = "flowlet.transaction"
SCHEMA_VERSION = 1


class EventType(StrEnum):
    CARD_AUTHORIZATION = "card_authorization"
    CARD_CAPTURE = "card_capture"
    P2P_TRANSFER = "p2p_transfer"
    TOP_UP = "top_up"
    WITHDRAWAL = "withdrawal"
    MERCHANT_PAYMENT = "merchant_payment"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    FX_CONVERSION = "fx_conversion"
    CARD_VOID = "card_void"


class Channel(StrEnum):
    CARD_PRESENT = "card_present"
    ECOMMERCE = "ecommerce"
    MOBILE_APP = "mobile_app"
    WEB = "web"
    ATM = "atm"
    BRANCH = "branch"
    API = "api"


#: Event types that move money to or from a merchant and therefore need ``merchant_id``.
MERCHANT_EVENTS = frozenset(
    {
        EventType.CARD_AUTHORIZATION,
        EventType.CARD_CAPTURE,
        EventType.MERCHANT_PAYMENT,
        EventType.REFUND,
        EventType.CHARGEBACK,
    }
)

def _known_country(code: str) -> str:
    """Local-time features need the country's zone: a code without one is refused here, not
    read as UTC later (``core.geo``: every ISO 3166-1 code tzdata gives a zone)."""
    if not is_known_country(code):
        raise UnknownCountry(code)
    return code


def _iso_currency(code: str) -> str:
    if code not in MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


#: Timestamps outside this range are refused: far dates overflow date arithmetic downstream.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: Ids the ledger makes itself; a client id may not start with them.
RESERVED_ID_PREFIXES = ("hold-expiry:", "reversal:")


def _to_utc(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return value


def _not_reserved(value: str) -> str:
    if value.startswith(RESERVED_ID_PREFIXES):
        raise ValueError(f"ids starting with {' or '.join(RESERVED_ID_PREFIXES)} are reserved")
    return value


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"),
    AfterValidator(no_pan),
]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code (one Flowlet knows)",
          json_schema_extra={"enum": sorted(MINOR_UNITS)}),
    AfterValidator(_iso_currency),
]
Country = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code with a time zone (tzdata)",
          json_schema_extra={"enum": sorted(KNOWN_COUNTRIES)}),
    AfterValidator(_known_country),
]
AmountMinor = Annotated[
    StrictInt, Field(gt=0, le=10**15, description="Amount in the currency's minor units")
]


def _no_epoch_numbers(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 timestamp string with an offset, not a number")
    return value


UtcDatetime = Annotated[
    AwareDatetime,
    Field(description="RFC 3339 timestamp with an offset; stored as UTC"),
    BeforeValidator(_no_epoch_numbers),
    AfterValidator(_to_utc),
]


class TransactionEvent(BaseModel):
    """One money movement reported by an upstream system."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", title="TransactionEvent", use_enum_values=False
    )

    schema_version: Literal[1] = Field(1, description="Contract version of this event")
    transaction_id: Annotated[Identifier, AfterValidator(_not_reserved)] = Field(
        description="Client-chosen idempotency key"
    )
    event_type: EventType
    occurred_at: UtcDatetime
    amount_minor: AmountMinor
    currency: Currency
    account_id: Identifier = Field(description="Payer / owning customer account")
    counterparty_account_id: Identifier | None = Field(
        None, description="Other customer account (P2P transfers)"
    )
    merchant_id: Identifier | None = None
    mcc: str | None = Field(None, pattern=r"^\d{4}$", description="ISO 18245 merchant category")
    card_token: Identifier | None = Field(None, description="Tokenised card; never a raw PAN")
    device_id: Identifier | None = None
    ip_address: IPv4Address | IPv6Address | None = None
    country: Country
    channel: Channel
    target_currency: Currency | None = Field(None, description="FX conversion: bought currency")
    target_amount_minor: AmountMinor | None = Field(
        None,
        description="FX conversion: amount bought, in the target currency's minor units; "
        "omitted: the ledger converts at its current rate",
    )
    fee_minor: AmountMinor | None = Field(
        None, description="Fee charged to the account, in the event's currency"
    )
    original_transaction_id: Identifier | None = Field(
        None, description="Refunds/chargebacks/captures: the transaction this one refers to"
    )
    counterparty_name: Annotated[str, Field(min_length=1, max_length=200),
                                 AfterValidator(no_pan)] | None = Field(
        None, description="Name of the payee or payer on the other side, as the payment "
        "carries it (screened against sanctions and PEP lists)"
    )

    @model_validator(mode="after")
    def _type_specific_fields(self) -> TransactionEvent:
        et = self.event_type
        if et in MERCHANT_EVENTS and self.merchant_id is None:
            raise ValueError(f"merchant_id is required for event_type {et.value}")
        if et is EventType.P2P_TRANSFER:
            if self.counterparty_account_id is None:
                raise ValueError("counterparty_account_id is required for p2p_transfer")
            if self.counterparty_account_id == self.account_id:
                raise ValueError("counterparty_account_id must differ from account_id")
        if et is EventType.CARD_VOID and self.original_transaction_id is None:
            raise ValueError(
                "original_transaction_id (the authorization) is required for card_void"
            )
        if et is EventType.FX_CONVERSION:
            if self.target_currency is None:
                raise ValueError("target_currency is required for fx_conversion")
            if self.target_currency == self.currency:
                raise ValueError("target_currency must differ from currency")
        elif self.target_currency is not None or self.target_amount_minor is not None:
            raise ValueError("target_currency/target_amount_minor are only for fx_conversion")
        return self
