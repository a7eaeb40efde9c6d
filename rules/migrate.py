"""Create or upgrade the rules' schema (Alembic ``upgrade head`` under the lock of
:mod:`core.migrations`). The workbench's schema comes first: rule changes are audited in its
``audit_log`` and activation checks its users."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cases.migrate import migrate as migrate_cases
from core import migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine, revision: str = "head") -> None:
    migrate_cases(engine)
    migrations.upgrade(engine, MIGRATIONS, revision)
