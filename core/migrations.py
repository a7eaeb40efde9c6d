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
from sqlalchemy import Engine

#: The advisory lock key upgrades hold on PostgreSQL (any constant the project owns).
MIGRATION_LOCK = 0x466C6F77  # "Flow"


def alembic_config(script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    return cfg


def upgrade(engine: Engine, script_location: Path, revision: str = "head") -> None:
    cfg = alembic_config(script_location)
    # The lock must outlive the commit: released before it, a second process would read the
    # schema as it was (its snapshot) and CREATE what the first has just created.
    with sqlite_file_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")  # to commit
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """A SQLite file's upgrades one process at a time: a lock file beside the database, held
    from before the upgrade's transaction begins until after it commits."""
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
