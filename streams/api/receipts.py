"""The API's idempotency receipts: which transaction ids were accepted, with a payload hash.

Claiming is one ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so two requests racing on the
same id cannot both win. A claim whose publish fails is released, so the client may retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, delete, select

from ledger.schema import UTCDateTime
from ledger.store import claim_statement, make_engine

_meta = MetaData()
receipts = Table(
    "ingest_receipts",
    _meta,
    Column("transaction_id", String(64), primary_key=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("accepted_at", UTCDateTime, nullable=False),
)


class ReceiptStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._claim = claim_statement(self.engine.dialect.name, receipts)
        _meta.create_all(self.engine)

    def claim(self, hashes: Mapping[str, str]) -> tuple[set[str], dict[str, str]]:
        """Claim ids; return (newly claimed ids, stored hash of every id claimed before)."""
        if not hashes:
            return set(), {}
        now = datetime.now(UTC)
        ids = list(hashes)
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim, [
                {"transaction_id": t, "payload_sha256": hashes[t], "accepted_at": now}
                for t in ids
            ]).scalars())
            earlier = [t for t in ids if t not in claimed]
            previous = dict(
                conn.execute(
                    select(receipts.c.transaction_id, receipts.c.payload_sha256).where(
                        receipts.c.transaction_id.in_(earlier))
                ).all()
            ) if earlier else {}
        return claimed, previous

    def accepted_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(receipts.c.transaction_id)).scalars())

    def release(self, ids: set[str]) -> None:
        if ids:
            with self.engine.begin() as conn:
                conn.execute(delete(receipts).where(receipts.c.transaction_id.in_(list(ids))))
