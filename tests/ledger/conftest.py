"""The ledger suite runs on SQLite always and on PostgreSQL when FLOWLET_TEST_POSTGRES_URL is
set (the shared ``db_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import Ledger


@pytest.fixture
def ledger_url(db_url: str) -> str:
    return db_url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(ledger_url)
    yield led
    led.engine.dispose()
