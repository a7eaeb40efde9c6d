"""``CustomerBook``: the latest KYC profile and risk rating of every account.

What the stream does with a batch's customer events (:meth:`CustomerBook.apply`) and with its
transactions' features (:meth:`CustomerBook.observe`); what alert priority
(:meth:`CustomerBook.bands`) and the case page (:meth:`CustomerBook.view`) read.

>>> from core.contract import CustomerEvent
>>> book = CustomerBook("sqlite://")
>>> ev = CustomerEvent(event_id="kyc-1", account_id="acc-1", version=1,
...     occurred_at="2026-11-01T09:00:00Z", customer_type="individual", name="Ana Lima",
...     country="IR", pep=True, onboarded_on="2026-11-01")
>>> book.apply([ev]), book.apply([ev])  # a redelivered event changes nothing
(1, 0)
>>> view = book.view("acc-1")
>>> view["profile"]["name"], view["risk"]["band"], view["risk"]["reasons"]
('Ana Lima', 'high', ['country_high_risk:IR', 'pep', 'income_undeclared'])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from core.contract import CustomerEvent, TransactionEvent
from core.db import claim_statement, dialect_insert, make_engine
from customers.migrate import migrate
from customers.risk import Profile, Rating, rate
from customers.schema import customer_events, customer_profiles, customer_risk

PROFILE_FIELDS = ("customer_type", "country", "pep", "income_minor", "income_currency",
                  "occupation", "business")


def _profile_row(ev: CustomerEvent) -> dict[str, Any]:
    return {"account_id": ev.account_id, "customer_id": ev.customer_id,
            "event_id": ev.event_id, "version": ev.version, "occurred_at": ev.occurred_at,
            "customer_type": ev.customer_type.value, "name": ev.name, "country": ev.country,
            "pep": ev.pep, "income_minor": ev.declared_income_minor,
            "income_currency": ev.declared_income_currency, "occupation": ev.occupation,
            "business": ev.business, "onboarded_on": ev.onboarded_on}


def _profile(row: Mapping[str, Any]) -> Profile:
    return Profile(row["account_id"], *(row[f] for f in PROFILE_FIELDS))


class CustomerBook:
    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        migrate(self.engine)

    # -- from the stream ---------------------------------------------------------------------
    def apply(self, events: Sequence[CustomerEvent]) -> int:
        """Store profile events (idempotent by ``event_id``; the highest version per account
        wins) and re-rate the accounts whose profile changed; returns the new events."""
        if not events:
            return 0
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            claimed = set(conn.execute(
                claim_statement(conn.dialect.name, customer_events, "event_id"),
                [{"event_id": ev.event_id, "account_id": ev.account_id,
                  "version": ev.version, "applied_at": now} for ev in events]).scalars())
            new = [ev for ev in {ev.event_id: ev for ev in events}.values()
                   if ev.event_id in claimed]
            insert = dialect_insert(conn.dialect.name)
            for ev in sorted(new, key=lambda e: (e.account_id, e.version)):
                stmt = insert(customer_profiles).values(_profile_row(ev))
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["account_id"],
                    set_={c: stmt.excluded[c] for c in _profile_row(ev) if c != "account_id"},
                    where=customer_profiles.c.version < stmt.excluded.version))
            changed = {ev.account_id for ev in new}
            for row in self._profiles(conn, changed):
                self._store_rating(conn, row, rate(_profile(row)), now)
        return len(new)

    def observe(self, events: Sequence[TransactionEvent],
                vectors: Sequence[Mapping[str, float]]) -> int:
        """Re-rate the batch's accounts that have a profile from their latest feature values
        (each account's last transaction in the batch); returns how many were re-rated."""
        latest: dict[str, tuple[Mapping[str, float], str]] = {}
        for ev, vector in zip(events, vectors, strict=True):
            latest[ev.account_id] = (vector, ev.currency)
        if not latest:
            return 0
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            rows = self._profiles(conn, latest)
            for row in rows:
                features, currency = latest[row["account_id"]]
                self._store_rating(conn, row, rate(_profile(row), features, currency), now)
        return len(rows)

    @staticmethod
    def _profiles(conn: Connection, accounts: Iterable[str]) -> list[dict[str, Any]]:
        accounts = sorted(set(accounts))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(accounts), 500):
            rows += [dict(r._mapping) for r in conn.execute(select(customer_profiles).where(
                customer_profiles.c.account_id.in_(accounts[start:start + 500])))]
        return rows

    @staticmethod
    def _store_rating(conn: Connection, row: Mapping[str, Any], rating: Rating,
                      now: datetime) -> None:
        values = {"account_id": row["account_id"], "band": rating.band, "score": rating.score,
                  "reasons": json.dumps(list(rating.reasons)),
                  "profile_version": row["version"], "rated_at": now}
        stmt = dialect_insert(conn.dialect.name)(customer_risk).values(values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["account_id"],
            set_={k: v for k, v in values.items() if k != "account_id"}))

    def bands_after(self, events: Sequence[CustomerEvent]) -> dict[str, str]:
        """The risk bands the events' accounts will have once :meth:`apply` stored them,
        computed without storing (so alerts can be recorded before the profiles are)."""
        newest: dict[str, CustomerEvent] = {}
        for ev in events:
            if ev.account_id not in newest or ev.version > newest[ev.account_id].version:
                newest[ev.account_id] = ev
        with self.engine.connect() as conn:
            stored = {r["account_id"]: r["version"] for r in self._profiles(conn, newest)}
        bands = self.bands(a for a in newest if a in stored)
        for account, ev in newest.items():
            if ev.version > stored.get(account, 0):
                bands[account] = rate(_profile(_profile_row(ev))).band
        return bands

    # -- reading -----------------------------------------------------------------------------
    def bands(self, accounts: Iterable[str]) -> dict[str, str]:
        """The risk band of each account that has a rating (alert priority reads it)."""
        accounts = sorted(set(accounts))
        if not accounts:
            return {}
        with self.engine.connect() as conn:
            return dict(conn.execute(select(customer_risk.c.account_id, customer_risk.c.band)
                                     .where(customer_risk.c.account_id.in_(accounts))).all())

    def profile(self, account_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            rows = self._profiles(conn, [account_id])
        return rows[0] if rows else None

    def view(self, account_id: str) -> dict[str, Any]:
        """For the case page: the account's profile and rating with its reasons (None if
        unknown)."""
        with self.engine.connect() as conn:
            rows = self._profiles(conn, [account_id])
            risk = conn.execute(select(customer_risk).where(
                customer_risk.c.account_id == account_id)).first()
        rating = None
        if risk is not None:
            rating = {**dict(risk._mapping), "reasons": json.loads(risk.reasons)}
        return {"account_id": account_id, "profile": rows[0] if rows else None, "risk": rating}

    def processed(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these profile events are applied (the API's relay asks)."""
        ids = list(event_ids)
        with self.engine.connect() as conn:
            return set(conn.execute(select(customer_events.c.event_id)
                                    .where(customer_events.c.event_id.in_(ids))).scalars())
