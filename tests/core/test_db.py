"""Tables created by several processes at once, as workers starting together on a new
database do."""

from __future__ import annotations

import threading

from sqlalchemy import Column, Integer, MetaData, String, Table, inspect

from core.db import create_tables, make_engine


def _metadata() -> MetaData:
    metadata = MetaData()
    for name in ("race_a", "race_b", "race_c"):
        Table(name, metadata, Column("key", String(40), primary_key=True),
              Column("n", Integer))
    return metadata


def test_workers_creating_the_same_tables_at_once_all_succeed(db_url):
    # Two workers starting on a new PostgreSQL schema both saw stream_state missing; the
    # second CREATE failed on pg_type's unique index (an IntegrityError, not "already
    # exists" as an OperationalError) and that worker exited.
    engines = [make_engine(db_url) for _ in range(6)]
    start, errors = threading.Barrier(len(engines)), []

    def create(engine) -> None:  # type: ignore[no-untyped-def]
        try:
            start.wait()
            create_tables(_metadata(), engine)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    for _round in range(3):
        threads = [threading.Thread(target=create, args=(e,)) for e in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert {"race_a", "race_b", "race_c"} <= set(inspect(engines[0]).get_table_names())
        with engines[0].begin() as conn:
            for name in ("race_a", "race_b", "race_c"):
                conn.exec_driver_sql(f"DROP TABLE {name}")  # noqa: S608 - test names
