"""The customers' tables, in the database the ledger uses (``settings.database_url``).

Created and upgraded by Alembic (``customers/migrations``, version table
``customers_alembic_version``).

* ``customer_events`` — one row per applied profile event (``event_id``): the key that makes a
  redelivered event change nothing, and what the API's relay reads to see it processed;
* ``customer_profiles`` — the latest profile per account (highest ``version`` wins);
* ``customer_risk`` — the latest rating per account: band, 0–100 score, reasons (JSON list).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, Integer, MetaData, String, Table, Text

from core.db import UTCDateTime

metadata = MetaData()
ID = 128

customer_events = Table(
    "customer_events", metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("account_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

customer_profiles = Table(
    "customer_profiles", metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("customer_id", String(ID), nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("customer_type", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("pep", Boolean, nullable=False),
    Column("income_minor", BigInteger),
    Column("income_currency", String(3)),
    Column("occupation", String(200)),
    Column("business", String(200)),
    Column("onboarded_on", Date, nullable=False),
)

customer_risk = Table(
    "customer_risk", metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("band", String(8), nullable=False),  # low | medium | high
    Column("score", Integer, nullable=False),  # 0-100
    Column("reasons", Text, nullable=False),  # JSON list
    Column("profile_version", Integer, nullable=False),
    Column("rated_at", UTCDateTime, nullable=False),
)
