"""Models: the ensemble, how it is trained (``models.training``) and served (``models.serving``),
and the contract every served model honours (``models.contract``). See README.md.

Entry points are imported lazily, so ``import models`` stays cheap (no MLflow):
``models.train_ensemble``, ``models.history_from_simulator``, ``models.Scorer``,
``models.ScoringModel``, ``models.check_scoring_model``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import models._omp  # noqa: F401  (first: OMP_WAIT_POLICY before xgboost/sklearn load)

if TYPE_CHECKING:
    from models.contract import ScoringModel, check_scoring_model
    from models.serving.scorer import Scorer
    from models.training.data import backtest_labels, history_from_simulator
    from models.training.run import TrainConfig, TrainResult, train_ensemble

__all__ = ["Scorer", "ScoringModel", "TrainConfig", "TrainResult", "backtest_labels",
           "check_scoring_model", "history_from_simulator", "train_ensemble"]

_LAZY = {"train_ensemble": "models.training.run", "TrainResult": "models.training.run",
         "TrainConfig": "models.training.run", "backtest_labels": "models.training.data",
         "history_from_simulator": "models.training.data", "Scorer": "models.serving.scorer",
         "ScoringModel": "models.contract", "check_scoring_model": "models.contract"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
