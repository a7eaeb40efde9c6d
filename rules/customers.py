"""The ``customer.<attribute>`` columns of a rule's context, from the customers package's
tables: the latest KYC profile of each account and its risk band.

The stream looks up a batch's accounts (:func:`customer_lookup`, given to
:class:`rules.RuleAlerts`); a backtest reads every profile (:func:`customer_frame`). Both read
the profiles as they are now — a backtest does not see a profile as it was at the time of each
transaction (profiles carry no history).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Engine, select

from customers import CustomerBook
from customers.schema import customer_profiles, customer_risk
from rules.stream import CustomerLookup

_COLUMNS = {"account_id": pl.String(), "type": pl.String(), "country": pl.String(),
            "pep": pl.Boolean(), "declared_income_minor": pl.Float64(),
            "occupation": pl.String(), "onboarded_at": pl.Datetime("us", "UTC"),
            "risk_band": pl.String()}


def _query(accounts: Sequence[str] | None):  # noqa: ANN202 - a SQLAlchemy select
    p, r = customer_profiles.c, customer_risk.c
    query = (select(p.account_id, p.customer_type, p.country, p.pep, p.income_minor,
                    p.occupation, p.business, p.onboarded_on, r.band)
             .outerjoin(customer_risk, r.account_id == p.account_id))
    return query if accounts is None else query.where(p.account_id.in_(list(accounts)))


def customer_frame(engine: Engine, accounts: Sequence[str] | None = None) -> pl.DataFrame:
    """``account_id`` and the attributes of :data:`rules.context.CUSTOMER_ATTRIBUTES` of the
    given accounts (all with a profile when None)."""
    CustomerBook(engine)  # its tables, created when no profile has arrived yet
    with engine.connect() as conn:
        rows = conn.execute(_query(accounts)).all()
    return pl.DataFrame(
        [{"account_id": r.account_id, "type": r.customer_type, "country": r.country,
          "pep": bool(r.pep), "declared_income_minor": (None if r.income_minor is None
                                                        else float(r.income_minor)),
          "occupation": r.occupation or r.business,
          "onboarded_at": pl.Series([r.onboarded_on]).cast(pl.Datetime("us"))
          .dt.replace_time_zone("UTC")[0],
          "risk_band": r.band} for r in rows],
        schema=_COLUMNS)


def customer_lookup(engine: Engine) -> CustomerLookup:
    """The stream's lookup: a batch's accounts → their attributes (one query per batch)."""
    CustomerBook(engine)
    return lambda accounts: customer_frame(engine, accounts)
