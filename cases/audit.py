"""The append-only audit log: who did what, when, before → after; tamper-evident.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own content
(canonical JSON), like the ledger's journal chain: editing, inserting or deleting an entry breaks
every hash after it, which :func:`verify` finds. Appends are serialised by the chain's last row
(PostgreSQL: ``FOR UPDATE`` on it; SQLite: one writer at a time).

>>> from sqlalchemy import create_engine
>>> from cases.schema import metadata
>>> engine = create_engine("sqlite://"); metadata.create_all(engine)
>>> with engine.begin() as conn:
...     _ = append(conn, "ana", "assign", "case", "case-1", {"assignee": None},
...                {"assignee": "ana"})
>>> with engine.connect() as conn:
...     verify(conn)
(1, None)
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, MetaData, Table, select

from cases.schema import audit_log

GENESIS = "0" * 64


def _digest(prev_hash: str, entry: dict[str, Any]) -> str:
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _content(seq: int, at: datetime, actor: str, action: str, object_type: str,
             object_id: str, before: str, after: str) -> dict[str, Any]:
    return {"seq": seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor, "action": action, "object_type": object_type,
            "object_id": object_id, "before": before, "after": after}


def chain_table(name: str, metadata: MetaData) -> Table:
    """Another append-only chain with the audit log's columns (e.g. in another database)."""
    return audit_log.to_metadata(metadata, name=name)


def append(conn: Connection, actor: str, action: str, object_type: str, object_id: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None,
           table: Table = audit_log) -> int:
    """Add one entry in the caller's transaction; returns its sequence number."""
    last = select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    if conn.dialect.name == "postgresql":
        last = last.with_for_update()
    row = conn.execute(last).first()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    at = datetime.now(UTC)
    b = json.dumps(before or {}, sort_keys=True, default=str)
    a = json.dumps(after or {}, sort_keys=True, default=str)
    digest = _digest(prev, _content(seq, at, actor, action, object_type, object_id, b, a))
    conn.execute(table.insert().values(
        seq=seq, at=at, actor=actor, action=action, object_type=object_type,
        object_id=object_id, before=b, after=a, prev_hash=prev, hash=digest))
    return seq


def verify(conn: Connection, table: Table = audit_log) -> tuple[int, str | None]:
    """``(entries checked, first problem or None)``, walking the chain from the start."""
    prev, n = GENESIS, 0
    for r in conn.execute(select(table).order_by(table.c.seq)):
        n += 1
        if r.seq != n:
            return n, f"entry {n} is missing (next is {r.seq})"
        if r.prev_hash != prev:
            return n, f"entry {r.seq} does not follow entry {r.seq - 1}"
        expected = _digest(prev, _content(r.seq, r.at, r.actor, r.action, r.object_type,
                                          r.object_id, r.before, r.after))
        if r.hash != expected:
            return n, f"entry {r.seq} was altered"
        prev = r.hash
    return n, None
