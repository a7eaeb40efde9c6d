"""Create or upgrade the ledger schema with Alembic (``upgrade head``).

Several processes may start on a new database at once (two workers, a worker and the API):
migrations take a lock first — a PostgreSQL advisory lock, a lock file beside a SQLite file —
so the second one finds the schema at head and does nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


#: The advisory lock key migrations hold on PostgreSQL (any constant the project owns).
MIGRATION_LOCK = 0x466C6F77  # "Flow"


def migrate(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.begin() as conn, _migration_lock(engine, conn):
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def _migration_lock(engine: Engine, conn: Connection) -> Iterator[None]:
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
