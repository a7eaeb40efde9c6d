"""Where the feature states are stored: the tables, the encoding, and the bookkeeping rows
beside them (``streams.state.StateStore`` reads and writes them)."""

from __future__ import annotations

import marshal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)

from core.db import create_tables, dialect_insert

state_metadata = MetaData()
stream_state = Table(
    "stream_state", state_metadata,
    Column("store", String(64), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("value", LargeBinary, nullable=False),
)
#: The changes written since a key's base: ``version`` is the version the change brings the
#: state to; every row is newer than the base (compaction deletes them with the base write).
stream_state_log = Table(
    "stream_state_log", state_metadata,
    Column("store", String(64), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

#: The stored form of a state: ``marshal`` (format 4), which keeps exactly the types a state
#: holds — dicts, lists, tuples, str, int, float with NaN — and encodes ~9× faster than JSON
#: (JSON encoding was 15 % of a worker's batch thread). The table is written and read by
#: Flowlet's workers only; marshal is not for data from anyone else.
MARSHAL_VERSION = 4


def encode_state(state: dict[str, Any]) -> bytes:
    return marshal.dumps(state, MARSHAL_VERSION)


def decode_state(raw: bytes) -> dict[str, Any]:
    state: dict[str, Any] = marshal.loads(raw)  # noqa: S302 - our own table, see above
    return state


def encode_change(change: dict[str, Any], tidied_at: float | None) -> bytes:
    """A log row: a batch's change (``features.state_delta``) and when it tidied, if it did."""
    return marshal.dumps((change, tidied_at), MARSHAL_VERSION)


def decode_change(raw: bytes) -> tuple[dict[str, Any], float | None]:
    change, tidied_at = marshal.loads(raw)  # noqa: S302 - our own table, see above
    return change, tidied_at



def read_meta(engine: Engine, key: str) -> str | None:
    """A bookkeeping value stored next to the states (e.g. the processing watermark)."""
    create_tables(state_metadata, engine)
    with engine.connect() as conn:
        raw = conn.execute(select(stream_state.c.value).where(
            stream_state.c.store == META_STORE, stream_state.c.key == key)).scalar_one_or_none()
    return None if raw is None else raw.decode()


def write_meta(conn: Connection, dialect: str, key: str, value: str) -> None:
    insert = dialect_insert(dialect)(stream_state)
    conn.execute(insert.values(store=META_STORE, key=key, version=0, value=value.encode())
                 .on_conflict_do_update(index_elements=["store", "key"],
                                        set_={"value": value.encode()}))


#: Bookkeeping rows live under this store name.
META_STORE = "__meta__"

