"""One simulated history shared by the simulator tests (simulating it takes about a second)."""

from datetime import UTC, datetime

import pytest

from simulator import simulate_history

END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def history():
    return simulate_history(days=21, seed=11, end=END, customers=800, merchants=120)
