"""The model as MLflow ships it: one pyfunc that takes the declared features, returns P(fraud)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from features.definitions import FEATURE_NAMES
from models.mlflow_env import mlflow


class FraudModel(mlflow.pyfunc.PythonModel):
    """XGBoost booster over ``FEATURE_NAMES``; output is a probability in [0, 1]."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts["booster"])
        self.booster.set_param({"nthread": 1})

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> np.ndarray:
        matrix = xgb.DMatrix(model_input[list(FEATURE_NAMES)].to_numpy(dtype=np.float64),
                             feature_names=list(FEATURE_NAMES))
        return self.booster.predict(matrix)
