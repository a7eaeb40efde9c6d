"""Reading one account's rows from the lake without reading the lake: the filters the case page
uses, written so Parquet metadata answers most of them.

Compacted files are sorted by account with a bloom filter on the payee
(:mod:`streams.lake_compactor`), so ``account_id = x`` and ``counterparty_account_id = x`` read
only the row groups that can hold x; but each row group read is decompressed whole, column by
column, so the wide columns (~90 features) are read only for the rows wanted:
:func:`newest_rows` first finds the newest rows by their narrow order columns, then reads the
wide ones from just those rows' days and times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pandas as pd

#: The filters :func:`newest_rows` takes: one side of a transaction.
SIDES = ("account_id", "counterparty_account_id")


def in_list(name: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """Placeholders and parameters for ``column IN (...)`` over ``values``: a list of constants
    is pushed into the Parquet scan (checked against each row group's statistics), where
    ``IN (SELECT unnest($list))`` is a join that reads the whole column.

    >>> in_list("n", ["b", "a"])
    ('$n0, $n1', {'n0': 'a', 'n1': 'b'})
    """
    ordered = sorted(set(values))
    return (", ".join(f"${name}{i}" for i in range(len(ordered))),
            {f"{name}{i}": v for i, v in enumerate(ordered)})


def newest_rows(con: duckdb.DuckDBPyConnection, side: str, account_id: str,
                columns: Sequence[str], n: int) -> pd.DataFrame:
    """The ``n`` newest lake rows (by ``occurred_at`` descending, then ``transaction_id``)
    whose ``side`` column is ``account_id``, with ``columns``; copies of a redelivered row are
    all there (the caller deduplicates the few rows it gets)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    # 1. The cut-off: narrow columns only. Files are listed newest day first (core.lake), so
    #    the top-N's dynamic filter skips older days' row groups once it has n rows.
    cutoff, days = con.execute(
        f"""SELECT min(occurred_at), list(DISTINCT dt) FROM (
              SELECT occurred_at, dt FROM lake_rows WHERE {side} = $account
              ORDER BY occurred_at DESC, transaction_id LIMIT $n)""",  # noqa: S608 — a SIDES name
        {"account": account_id, "n": int(n)}).fetchone() or (None, None)
    wanted = ", ".join(f'"{c}"' for c in columns)
    if cutoff is None:
        return con.execute(f"SELECT {wanted} FROM lake_rows LIMIT 0").df()  # noqa: S608
    # 2. The wide columns of just those days (the dt partition skips other files) and times.
    day_list, day_params = in_list("day", days)
    return con.execute(
        f"""SELECT {wanted} FROM lake_rows
            WHERE {side} = $account AND dt IN ({day_list}) AND occurred_at >= $cutoff
            ORDER BY occurred_at DESC, transaction_id LIMIT $n""",  # noqa: S608 — placeholders
        {"account": account_id, "n": int(n), "cutoff": cutoff, **day_params}).df()


__all__ = ["SIDES", "in_list", "newest_rows"]
