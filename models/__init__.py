"""Models: simulator, training, evaluation, the ensemble, MLflow registry and the batch scorer.

``models.train_ensemble`` (and ``TrainResult``) are imported lazily: importing ``models`` stays
cheap (no MLflow) for code that only needs the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import models._omp  # noqa: F401  (first: OMP_WAIT_POLICY before xgboost/sklearn load)
from models.simulator import History, SimulatedTransaction, Simulator, simulate_history

if TYPE_CHECKING:
    from models.data import backtest_labels, history_from_simulator
    from models.training import TrainConfig, TrainResult, train_ensemble

__all__ = ["History", "SimulatedTransaction", "Simulator", "TrainConfig", "TrainResult",
           "backtest_labels", "history_from_simulator", "simulate_history", "train_ensemble"]

_LAZY = {"train_ensemble": "models.training", "TrainResult": "models.training",
         "TrainConfig": "models.training", "backtest_labels": "models.data",
         "history_from_simulator": "models.data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
