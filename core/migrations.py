"""Alembic upgrades under a lock, for every store with its own migrations (ledger, cases).

Several processes may start on a new database at once (two workers, a worker and the API):
an upgrade takes a lock first — a PostgreSQL advisory lock held until commit, a lock file
beside a SQLite file — so the second one finds the schema at head and does nothing. Each store
keeps its own version table (``<store>_alembic_version``), so their histories never mix.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

#: The advisory lock key upgrades hold on PostgreSQL (any constant the project owns).
MIGRATION_LOCK = 0x466C6F77  # "Flow"


def alembic_config(script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def upgrade(engine: Engine, script_location: Path, revision: str = "head") -> None:
    cfg = alembic_config(script_location)
    with engine.begin() as conn, migration_lock(engine, conn):
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def migration_lock(engine: Engine, conn: Connection) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")  # until commit
        yield
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:  # the first process holds it, the
        fcntl.flock(lock, fcntl.LOCK_EX)  # others wait and then find the schema at head
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
