"""The model as MLflow ships it: one pyfunc that takes the declared features, returns scores.

Every model the scorer loads honours one contract (the ensemble does too):

* ``predict(df)`` returns a pandas DataFrame with float64 columns ``score`` (P(suspicious) in
  [0, 1]), ``score_supervised`` and ``score_anomaly``;
* the unwrapped python model (``loaded.unwrap_python_model()``) has ``feature_names``
  (the input columns, in order), ``alert_threshold`` (the model's own cut-off: scores need not
  be calibrated around 0.5), ``score_frame(X)`` (the fast path, same columns as ``predict``)
  and ``contributions(X)``: an ``(n, len(feature_names))`` array, the signed contribution of
  each feature to the risk of each row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from features.definitions import FEATURE_NAMES
from models.mlflow_env import mlflow

#: The columns of every model's score frame.
SCORE_COLUMNS = ("score", "score_supervised", "score_anomaly")


class FraudModel(mlflow.pyfunc.PythonModel):
    """XGBoost booster over ``FEATURE_NAMES``; ``score`` is a probability in [0, 1].

    A purely supervised model: ``score_supervised`` equals ``score`` and ``score_anomaly`` is
    NaN (there is no anomaly member; the lake stores it as NULL, not as a misleading 0).
    """

    alert_threshold: float = 0.5

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts["booster"])
        self.booster.set_param({"nthread": 1})

    @property
    def feature_names(self) -> tuple[str, ...]:
        # The booster remembers the columns it was trained on; older ones fall back.
        names = getattr(self, "_names", None)
        if names is None:
            names = self._names = tuple(self.booster.feature_names or FEATURE_NAMES)
        return names

    def _matrix(self, x: pd.DataFrame) -> np.ndarray:
        names = self.feature_names
        if tuple(x.columns) != names:
            x = x[list(names)]
        return x.to_numpy(dtype=np.float64)

    def score_frame(self, x: pd.DataFrame) -> pd.DataFrame:
        score = np.asarray(self.booster.inplace_predict(self._matrix(x)), dtype=np.float64)
        return pd.DataFrame({"score": score, "score_supervised": score,
                             "score_anomaly": np.full(len(score), np.nan)}, index=x.index)

    def contributions(self, x: pd.DataFrame) -> np.ndarray:
        """SHAP values (log-odds) per feature, without the bias column."""
        # One thread and no name check (_matrix orders the columns): for the handful of rows
        # explained per batch, building the DMatrix otherwise costs more than the SHAP values.
        matrix = xgb.DMatrix(self._matrix(x), nthread=1)
        contribs = self.booster.predict(matrix, pred_contribs=True, validate_features=False)
        return np.asarray(contribs[:, :-1], dtype=np.float64)

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        return self.score_frame(model_input)
