"""The supervised member: gradient-boosted trees (XGBoost) on the labelled training rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from models.ensemble.matrix import as_matrix, booster_state, restore_booster


@dataclass(frozen=True)
class XGBParams:
    # 100 rounds of depth 4 (was 300 of depth 6): same test AP over 3 seeds of simulated
    # history (docs/models-history.md), ~4.5× fewer node visits per row. Early stopping
    # on the validation window was tried and rejected: with ~140 validation frauds it stopped
    # anywhere between 5 and 125 rounds and lost AP on some seeds.
    rounds: int = 100
    max_depth: int = 4
    learning_rate: float = 0.15
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    #: 1 by default: on a shared machine OpenMP's spinning threads slow training down ~5×
    nthread: int = 1

    def booster_params(self, seed: int) -> dict[str, object]:
        return {"objective": "binary:logistic", "eval_metric": "aucpr", "tree_method": "hist",
                "max_depth": self.max_depth, "eta": self.learning_rate,
                "subsample": self.subsample, "colsample_bytree": self.colsample_bytree,
                "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                "seed": seed, "nthread": self.nthread}


class SupervisedModel:
    """P(fraud) from an XGBoost booster over ``feature_names``; NaN = missing (learned route)."""

    def __init__(self, feature_names: Sequence[str], booster: xgb.Booster | None) -> None:
        self.feature_names = tuple(feature_names)
        self.booster = booster

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, feature_names: Sequence[str],
            params: XGBParams = XGBParams(), seed: int = 0) -> SupervisedModel:  # noqa: B008
        dtrain = xgb.DMatrix(X, label=y.astype(np.float32), feature_names=list(feature_names),
                             missing=np.nan, nthread=params.nthread)
        booster = xgb.train(params.booster_params(seed), dtrain, num_boost_round=params.rounds)
        booster.set_param({"nthread": 1})
        return cls(feature_names, booster)

    def _booster(self) -> xgb.Booster:
        if self.booster is None:
            raise RuntimeError("supervised booster not loaded")
        return self.booster

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of fraud."""
        if len(X) == 0:
            return np.zeros(0)
        out = self._booster().inplace_predict(X, predict_type="margin", missing=np.nan)
        return np.asarray(out, dtype=np.float64)

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.margin(X)))

    def score(self, X: object) -> np.ndarray:
        return self.score_matrix(as_matrix(X, self.feature_names))  # type: ignore[arg-type]

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Path (Saabas) contributions to the log-odds, bias column dropped, shape (n, F).

        XGBoost's ``approx_contribs``: additive like TreeSHAP (sum + bias = margin) at about
        the cost of a prediction, where exact TreeSHAP is O(leaves × depth²) per tree.
        """
        if len(X) == 0:
            return np.zeros((0, len(self.feature_names)))
        dm = xgb.DMatrix(X, missing=np.nan, nthread=1)  # columns are in order: no names
        contribs = self._booster().predict(dm, pred_contribs=True, approx_contribs=True,
                                           validate_features=False)
        return np.asarray(contribs[:, :-1], dtype=np.float64)

    def __getstate__(self) -> dict:
        return booster_state(self)

    def __setstate__(self, state: dict) -> None:
        restore_booster(self, state)
