"""The registered model: XGBoost + IsolationForest + a stacked combiner, scored as one booster.

``model`` (the MLflow pyfunc and its combiner), ``supervised`` and ``anomaly`` (the members),
``fused`` (both members' trees in one booster), ``native`` (the optional C kernel that walks
them), ``matrix`` (frames to booster input) and ``baseline`` (the rule every model must beat).
"""

from models.ensemble.model import EnsembleModel

__all__ = ["EnsembleModel"]
