"""Small simulated histories and one fitted ensemble, shared by the model tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.training.data import History, history_from_simulator
from models.training.fit import Fitted, TrainConfig, fit_and_evaluate
from models.training.splits import TimeSplit, time_split
from simulator import merchants_for

END = datetime(2026, 3, 1, tzinfo=UTC)


def small_history(seed: int = 3, days: int = 21, customers: int = 400) -> History:
    """``simulate_history`` (≈2.75 events per customer and day), validated; labels known by END."""
    return history_from_simulator(days, seed=seed, end=END, customers=customers,
                                  merchants=merchants_for(customers))


def split_of(history: History, config: TrainConfig) -> TimeSplit:
    t = history.events["occurred_at"]
    return time_split(t.min(), t.max() + timedelta(microseconds=1), gap=config.gap,
                      test_fraction=config.test_fraction,
                      validation_fraction=config.validation_fraction)


@pytest.fixture(scope="session")
def history() -> History:
    return small_history()


@pytest.fixture(scope="session")
def fitted(history: History) -> Fitted:
    config = TrainConfig()
    return fit_and_evaluate(history.events, history.labels, split_of(history, config), config,
                            seed=11)
