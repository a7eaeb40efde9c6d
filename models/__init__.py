"""Models: simulator, training, evaluation, the ensemble, MLflow registry and the batch scorer.

``models.train_ensemble`` (and ``TrainResult``) are imported lazily: importing ``models`` stays
cheap (no MLflow) for code that only needs the simulator.
"""

from __future__ import annotations

import os

# OpenMP (XGBoost's and scikit-learn's libgomp) reads OMP_WAIT_POLICY once, when the library is
# loaded — so it has to be set before ``xgboost``/``sklearn`` are first imported, which every
# model module does after this package's ``__init__``. The default (ACTIVE) makes idle worker
# threads spin; on a shared, loaded machine two spinning threads made 2-thread scoring and
# training slower than 1 thread. PASSIVE threads sleep while waiting. ``setdefault``: an
# explicit setting in the environment still wins. (A process default, not a setting we read.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import TYPE_CHECKING, Any  # noqa: E402

from models.simulator import SimulatedTransaction, Simulator  # noqa: E402

if TYPE_CHECKING:
    from models.data import History, history_from_simulator
    from models.training import TrainConfig, TrainResult, train_ensemble

__all__ = ["History", "SimulatedTransaction", "Simulator", "TrainConfig", "TrainResult",
           "history_from_simulator", "train_ensemble"]

_LAZY = {"train_ensemble": "models.training", "TrainResult": "models.training",
         "TrainConfig": "models.training", "History": "models.data",
         "history_from_simulator": "models.data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
