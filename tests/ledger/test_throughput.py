"""What the posting hot path relies on: SQLite pragmas, and the in-process balance cache."""

from __future__ import annotations

import pytest

from flowlet.settings import Settings
from ledger import Ledger
from ledger.store import make_engine


def _pragma(ledger: Ledger, name: str) -> object:
    with ledger.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_is_durable_by_default_and_tuned(tmp_path):
    ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    assert _pragma(ledger, "synchronous") == 2  # FULL: every committed batch is synced
    assert _pragma(ledger, "journal_mode") == "wal"
    assert _pragma(ledger, "foreign_keys") == 1
    assert _pragma(ledger, "temp_store") == 2  # memory
    assert _pragma(ledger, "cache_size") == -65536
    ledger.engine.dispose()


def test_sqlite_synchronous_comes_from_the_settings_and_off_is_refused(tmp_path):
    settings = Settings.from_env({"FLOWLET_DATA_DIR": str(tmp_path),
                                  "FLOWLET_LEDGER_SQLITE_SYNCHRONOUS": "normal"})
    assert settings.ledger_sqlite_synchronous == "normal"
    ledger = Ledger.from_settings(settings)
    assert _pragma(ledger, "synchronous") == 1  # NORMAL
    ledger.engine.dispose()
    assert Settings().ledger_sqlite_synchronous == "FULL"
    with pytest.raises(ValueError, match="OFF can corrupt"):
        make_engine(f"sqlite:///{tmp_path / 'b.db'}", sqlite_synchronous="OFF")
