"""Bulk inserts for the posting hot path, below SQLAlchemy's per-row parameter handling.

PostgreSQL gets ``COPY … FROM STDIN`` (psycopg); SQLite a DB-API ``executemany``. Values go
through each column type's own bind processor, so what lands is what SQLAlchemy would write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

_processors: dict[tuple[str, str], list[Callable[[Any], Any] | None]] = {}


def _bind_processors(table: Table, columns: Sequence[str],
                     conn: Connection) -> list[Callable[[Any], Any] | None]:
    key = (table.name, conn.dialect.name)
    if key not in _processors:
        _processors[key] = [table.c[name].type._cached_bind_processor(conn.dialect)
                            for name in columns]
    return _processors[key]


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order)."""
    if not rows:
        return
    procs = _bind_processors(table, columns, conn)
    if any(procs):  # only the datetime columns have processors; convert just those
        todo = [(i, p) for i, p in enumerate(procs) if p is not None]
        converted = []
        for row in rows:
            values = list(row)
            for i, p in todo:
                values[i] = p(values[i])
            converted.append(tuple(values))
        rows = converted
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))


def add_to_balances(conn: Connection, deltas: Sequence[tuple[str, str, int]]) -> None:
    """Add each (account, currency, delta) to the cached balance, creating missing rows."""
    if not deltas:
        return
    if conn.dialect.name == "postgresql":  # one round trip for the whole batch
        accounts, currencies, amounts = (list(col) for col in zip(*deltas, strict=True))
        conn.exec_driver_sql(
            "INSERT INTO ledger_balances (ledger_account, currency, balance) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
            "ON CONFLICT (ledger_account, currency) "
            "DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance",
            (accounts, currencies, amounts))
        return
    conn.exec_driver_sql(
        "INSERT INTO ledger_balances (ledger_account, currency, balance) VALUES (?, ?, ?) "
        "ON CONFLICT (ledger_account, currency) DO UPDATE SET balance = balance + excluded.balance",
        list(deltas))
