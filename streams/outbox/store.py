"""The API's transactional outbox: every accepted event is stored here before it is answered.

One row per ``transaction_id`` (a claim table: the database decides which of two racing requests
wins) holding the event's wire bytes, their SHA-256, the Kafka key and a state:

* ``accepted`` — stored, answered, not yet acknowledged by the broker;
* ``published`` — acknowledged at ``(partition, offset)``; the worker has not finished it yet;
* ``processed`` — its lake row exists (the last of its effects): done; the payload is dropped.

The relay (:mod:`streams.outbox.relay`) moves rows forward and moves a ``published`` row back to
``accepted`` whenever it may have been lost (the broker lost its data, or the worker went past
it without finishing it), so an accepted event reaches the ledger and the lake even when the
memory-only embedded broker or any process dies. Processing is idempotent by
``transaction_id``, so re-publishing costs a little work and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    and_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from core.db import UTCDateTime, claim_statement, claim_table, create_tables, make_engine

ACCEPTED, PUBLISHED, PROCESSED = 0, 1, 2

_meta = MetaData()
outbox = claim_table(
    "ingest_outbox", _meta, "accepted_at",
    Column("position", Integer, nullable=False),  # order within one request
    Column("payload_sha256", String(64), nullable=False),
    Column("kafka_key", String(128), nullable=False),
    Column("payload", LargeBinary),  # NULL once processed
    Column("state", SmallInteger, nullable=False),
    Column("partition", Integer),
    Column("offset", BigInteger),
    Column("published_at", UTCDateTime),
    Column("republished", Integer, nullable=False, default=0),
)
Index("ix_ingest_outbox_state", outbox.c.state, outbox.c.accepted_at, outbox.c.position)


@dataclass(frozen=True)
class Pending:
    """An accepted event to publish."""

    transaction_id: str
    key: bytes
    payload: bytes


@dataclass(frozen=True)
class InFlight:
    """A published event the worker has not finished."""

    transaction_id: str
    partition: int
    offset: int
    published_at: datetime


class Outbox:
    def __init__(self, url: str, resend_after_seconds: float = 5.0) -> None:
        self.engine = make_engine(url)
        # A re-send sooner than this after the publish is a client retrying a lost answer,
        # not a repair: publishing it again would only add a redundant record.
        self.resend_after = timedelta(seconds=resend_after_seconds)
        self._claim = claim_statement(self.engine.dialect.name, outbox)
        create_tables(_meta, self.engine)

    def accept(self, items: Sequence[tuple[str, str, bytes, str]]
               ) -> tuple[set[str], dict[str, tuple[str, int]]]:
        """Store ``(transaction_id, key, payload, sha256)`` items in one transaction.

        Returns the ids this call stored and, for ids known before, their (sha256, state).
        An earlier id whose event was published at least ``resend_after_seconds`` ago and is not
        processed yet is queued to be published again: a client re-sending a lost event repairs
        the loss."""
        if not items:
            return set(), {}
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim, [
                {"transaction_id": tid, "accepted_at": now, "position": i,
                 "payload_sha256": digest, "kafka_key": key, "payload": payload,
                 "state": ACCEPTED, "republished": 0}
                for i, (tid, key, payload, digest) in enumerate(items)
            ]).scalars())
            earlier = [tid for tid, *_ in items if tid not in claimed]
            previous: dict[str, tuple[str, int]] = {}
            if earlier:
                rows = conn.execute(
                    select(outbox.c.transaction_id, outbox.c.payload_sha256, outbox.c.state,
                           outbox.c.published_at)
                    .where(outbox.c.transaction_id.in_(earlier))).all()
                previous = {tid: (digest, state) for tid, digest, state, _ in rows}
                digests = {tid: digest for tid, _, _, digest in items}
                again = [tid for tid, digest, state, published_at in rows
                         if state == PUBLISHED and digests[tid] == digest
                         and published_at is not None
                         and now - published_at >= self.resend_after]
                self._requeue(conn, again)
        return claimed, previous

    def to_publish(self, limit: int) -> list[Pending]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.transaction_id, outbox.c.kafka_key, outbox.c.payload)
                .where(outbox.c.state == ACCEPTED)
                .order_by(outbox.c.accepted_at, outbox.c.position).limit(limit))
            return [Pending(tid, key.encode(), payload) for tid, key, payload in rows]

    def mark_published(self, acks: Iterable[tuple[str, int, int]]) -> None:
        """Record ``(transaction_id, partition, offset)`` of acknowledged sends."""
        rows = [{"tid": tid, "p": p, "o": o} for tid, p, o in acks]
        if not rows:
            return
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox).where(and_(outbox.c.transaction_id == bindparam("tid"),
                                          outbox.c.state == ACCEPTED))
                .values(state=PUBLISHED, partition=bindparam("p"), offset=bindparam("o"),
                        published_at=now), rows)

    def in_flight(self, limit: int = 100_000) -> list[InFlight]:
        with self.engine.connect() as conn:
            return [InFlight(*row) for row in conn.execute(
                select(outbox.c.transaction_id, outbox.c.partition, outbox.c.offset,
                       outbox.c.published_at)
                .where(outbox.c.state == PUBLISHED)
                .order_by(outbox.c.accepted_at, outbox.c.position).limit(limit))]

    def mark_processed(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                update(outbox).where(outbox.c.transaction_id.in_(ids),
                                     outbox.c.state != PROCESSED)
                .values(state=PROCESSED, payload=None)).rowcount or 0

    def requeue(self, ids: Iterable[str]) -> int:
        """Publish these (published, unfinished) events again."""
        with self.engine.begin() as conn:
            return self._requeue(conn, list(ids))

    @staticmethod
    def _requeue(conn, ids: list[str]) -> int:  # type: ignore[no-untyped-def]
        count = 0
        for start in range(0, len(ids), 500):
            count += conn.execute(
                update(outbox).where(outbox.c.transaction_id.in_(ids[start:start + 500]),
                                     outbox.c.state == PUBLISHED)
                .values(state=ACCEPTED, partition=None, offset=None, published_at=None,
                        republished=outbox.c.republished + 1)).rowcount or 0
        return count

    def oldest_unprocessed(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(outbox.c.accepted_at))
                                .where(outbox.c.state != PROCESSED)).scalar()

    def unprocessed(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)
                                    .where(outbox.c.state != PROCESSED)).scalar() or 0)


def backlog(engine: Engine) -> tuple[int, datetime | None]:
    """Accepted-but-unprocessed events and the oldest one's acceptance time, read only (for
    dashboards); (0, None) before the API created its outbox."""
    try:
        with engine.connect() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(outbox.c.accepted_at))
                .where(outbox.c.state != PROCESSED)).one()
    except DBAPIError:
        return 0, None
    return int(count or 0), oldest
