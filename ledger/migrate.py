"""Create or upgrade the ledger schema with Alembic (``upgrade head``), under the lock of
:mod:`core.migrations` (two processes starting on a new database at once)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine

from core import migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    return migrations.alembic_config(MIGRATIONS)


def migrate(engine: Engine, revision: str = "head") -> None:
    migrations.upgrade(engine, MIGRATIONS, revision)
