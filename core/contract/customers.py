"""Customer (KYC) profiles: onboarding and every later KYC update, as their own events.

A profile travels on topic ``transactions`` keyed by ``account_id``, like the account's
transactions, so it is ordered with them; ``event_type`` ``customer`` tells it apart. Each
event carries the *whole* profile at a ``version``: the latest version wins, an older or equal
one arriving late changes nothing, and ``event_id`` is the idempotency key.

>>> c = CustomerEvent.model_validate({"event_type": "customer", "event_id": "kyc-1",
...     "account_id": "acc-1", "version": 1, "occurred_at": "2026-11-01T10:00:00+01:00",
...     "customer_type": "individual", "name": "Ana Lima", "country": "PT",
...     "declared_income_minor": 4_200_000, "declared_income_currency": "EUR",
...     "occupation": "nurse", "onboarded_on": "2026-11-01"})
>>> c.occurred_at.isoformat(), c.pep, c.customer_id
('2026-11-01T09:00:00+00:00', False, 'acc-1')
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from core.contract.events import (
    AmountMinor,
    Country,
    Currency,
    Identifier,
    UtcDatetime,
)
from core.contract.pan import no_pan

CUSTOMER_EVENT_TYPE = "customer"


class CustomerType(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"


def _clean_text(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return no_pan(value)


#: A person's or company's name, or a free-text attribute: whitespace collapsed, no card number.
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]


class CustomerEvent(BaseModel):
    """The whole KYC profile of one account's customer at one version."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="CustomerEvent")

    schema_version: Literal[1] = 1
    event_type: Literal["customer"] = CUSTOMER_EVENT_TYPE
    event_id: Identifier = Field(description="Idempotency key of this profile event")
    account_id: Identifier = Field(description="The customer's account (the topic key)")
    customer_id: Identifier | None = Field(None, description="Defaults to account_id")
    version: StrictInt = Field(ge=1, le=2**31 - 1,
                               description="Profile version: the highest one wins")
    occurred_at: UtcDatetime = Field(description="When the profile took effect")
    customer_type: CustomerType
    name: Text = Field(description="Legal name (person) or registered name (business)")
    country: Country = Field(description="Residence (person) or incorporation (business)")
    pep: StrictBool = Field(False, description="Politically exposed person (self-declared/KYC)")
    declared_income_minor: AmountMinor | None = Field(
        None, description="Declared yearly income (person) or turnover (business), minor units")
    declared_income_currency: Currency | None = None
    occupation: Text | None = Field(None, description="Individuals: occupation")
    business: Text | None = Field(None, description="Businesses: line of business")
    onboarded_on: date

    @model_validator(mode="after")
    def _consistent(self) -> CustomerEvent:
        if (self.declared_income_minor is None) != (self.declared_income_currency is None):
            raise ValueError(
                "declared_income_minor and declared_income_currency go together")
        if self.customer_id is None:
            object.__setattr__(self, "customer_id", self.account_id)
        if self.onboarded_on > self.occurred_at.date():
            raise ValueError("onboarded_on is after occurred_at")
        return self
