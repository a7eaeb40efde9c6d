"""Scores micro-batches with the registry's champion and hot-reloads when the alias moves."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from features.definitions import FEATURE_NAMES
from flowlet.settings import Settings
from models.mlflow_env import MlflowClient, mlflow

log = logging.getLogger(__name__)


class Scorer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_registry_uri(settings.mlflow_tracking_uri)
        self._client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
        self._model: mlflow.pyfunc.PyFuncModel | None = None
        self.version: str | None = None
        self._checked_at = 0.0

    @property
    def model_version(self) -> str:
        return f"{self.settings.model_name}/{self.version}"

    def _alias_version(self) -> str:
        mv = self._client.get_model_version_by_alias(self.settings.model_name,
                                                      self.settings.model_alias)
        return str(mv.version)

    def load(self) -> None:
        version = self._alias_version()
        # Load by version, not alias: the alias may move between lookup and load.
        model = mlflow.pyfunc.load_model(f"models:/{self.settings.model_name}/{version}")
        self._model, self.version = model, version  # swap only once fully loaded
        self._checked_at = time.monotonic()
        log.info("scoring with %s", self.model_version)

    def maybe_reload(self) -> bool:
        if time.monotonic() - self._checked_at < self.settings.model_reload_seconds:
            return False
        self._checked_at = time.monotonic()
        try:
            if self._alias_version() != self.version:
                self.load()
                return True
        except Exception:
            log.exception("champion lookup failed; keeping %s", self.model_version)
        return False

    def score(self, features: pd.DataFrame) -> np.ndarray:
        if self._model is None:
            self.load()
        assert self._model is not None
        if features.empty:
            return np.zeros(0)
        scores = self._model.predict(features[list(FEATURE_NAMES)].astype("float64"))
        if isinstance(scores, pd.DataFrame):  # the ensemble: score + member scores
            scores = scores["score"]
        return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
