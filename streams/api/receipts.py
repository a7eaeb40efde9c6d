"""The API's idempotency receipts: which transaction ids were accepted, with a payload hash.

Claiming is one ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so two requests racing on the
same id cannot both win. A receipt is ``pending`` until the broker acknowledged the publish,
then ``published``. A retry of a pending id with the same payload publishes again (consumers
deduplicate by id), so a failed or ambiguous publish is never reported as a duplicate; a
different payload under a known id is a conflict, whatever the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, select, update

from core.db import claim_statement, claim_table, make_engine

_meta = MetaData()
receipts = claim_table("ingest_receipts", _meta, "accepted_at",
                       Column("payload_sha256", String(64), nullable=False),
                       Column("state", String(16), nullable=False))  # pending | published


class ReceiptStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._claim = claim_statement(self.engine.dialect.name, receipts)
        _meta.create_all(self.engine)

    def claim(self, hashes: Mapping[str, str]
              ) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """Claim ids; return (newly claimed ids, (hash, state) of every id known before)."""
        if not hashes:
            return set(), {}
        now = datetime.now(UTC)
        ids = list(hashes)
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim, [
                {"transaction_id": t, "payload_sha256": hashes[t], "accepted_at": now,
                 "state": "pending"} for t in ids
            ]).scalars())
            earlier = [t for t in ids if t not in claimed]
            previous = {
                tid: (digest, state) for tid, digest, state in conn.execute(
                    select(receipts.c.transaction_id, receipts.c.payload_sha256,
                           receipts.c.state).where(receipts.c.transaction_id.in_(earlier)))
            } if earlier else {}
        return claimed, previous

    def mark_published(self, ids: set[str]) -> None:
        if ids:
            with self.engine.begin() as conn:
                conn.execute(update(receipts).where(receipts.c.transaction_id.in_(list(ids)))
                             .values(state="published"))

    def accepted_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(receipts.c.transaction_id)).scalars())

