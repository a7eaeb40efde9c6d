"""A registered version loaded for serving (:class:`LoadedModel`), and the validation it must
pass before it may score traffic (:func:`validate`).

Off the hot path: the scorer (``models.serving.scorer``) loads and validates a new version here,
then swaps it in whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from core.settings import Settings
from features.definitions import FEATURE_NAMES
from models.contract import ScoringModel, alert_policy, check_scoring_model
from models.mlflow_env import MlflowClient
from models.registry import load_version

#: Real rows kept from recent batches to validate a new model on (besides synthetic rows).
PROBE_ROWS = 16


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One registered model version, loaded and validated; replaced whole, never mutated.

    ``feature_names`` and ``alert_threshold`` are read from ``model`` once, at load; so are its
    alert policy's ``alert_budget`` and ``validation_alert_rate`` (None for a model without
    them, :func:`models.contract.alert_policy`), which the live alert rate is compared with.
    """

    name: str
    version: str
    alias: str
    model: ScoringModel
    feature_names: tuple[str, ...]
    alert_threshold: float
    loaded_at: datetime
    load_seconds: float
    alert_budget: float | None = None
    validation_alert_rate: float | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @classmethod
    def of(cls, model: ScoringModel, name: str, version: str, alias: str,
           load_seconds: float = 0.0) -> LoadedModel:
        policy = alert_policy(model)
        return cls(name, version, alias, model, tuple(model.feature_names),
                   float(model.alert_threshold), datetime.now(UTC), load_seconds,
                   policy.budget, policy.validation_alert_rate)


def load(client: MlflowClient, settings: Settings, alias: str, version: str) -> LoadedModel:
    """``settings.model_name`` version ``version`` (what ``alias`` resolved to), not yet
    validated. Raises for a version that is not a :class:`ScoringModel`."""
    started = time.perf_counter()
    model = load_version(client, settings.model_name, version)
    return LoadedModel.of(model, settings.model_name, version, alias,
                          time.perf_counter() - started)


def validate(loaded: LoadedModel, recent: pd.DataFrame | None = None) -> None:
    """Raise unless ``loaded`` may score the stream: it reads only features the stream
    computes, and honours the model contract (:func:`models.contract.check_scoring_model`) on
    synthetic rows and the last :data:`PROBE_ROWS` rows of ``recent`` (the latest batch)."""
    missing = sorted(set(loaded.feature_names) - set(FEATURE_NAMES))
    if missing:
        raise ValueError(f"{loaded.ref} needs features the stream does not compute: "
                         f"{missing[:5]}")
    rows = None
    if recent is not None and set(loaded.feature_names) <= set(recent.columns):
        rows = recent.iloc[-PROBE_ROWS:]
    check_scoring_model(loaded.model, rows)
