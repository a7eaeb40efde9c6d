"""Create or upgrade the customers' schema (Alembic ``upgrade head`` under the lock of
:mod:`core.migrations`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from core import migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine, revision: str = "head") -> None:
    migrations.upgrade(engine, MIGRATIONS, revision)
