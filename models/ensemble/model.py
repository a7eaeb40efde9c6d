"""The registered model: XGBoost + IsolationForest + a stacked logistic combiner, one pyfunc.

``score = σ(b + w_s · logit(score_supervised) + w_a · log2(score_anomaly))`` — a logistic
regression with ``w_s, w_a ≥ 0`` fitted on member scores of rows the members never saw (the
validation window, plus out-of-fold XGBoost scores over the fit window: ``models.training.fit``),
so the output is a calibrated P(suspicious) and the mix of the two members is learned, not guessed.
Because the combiner is linear in the members' log-scale outputs and both members are tree
ensembles with additive per-feature path attributions, :meth:`EnsembleModel.contributions`
decomposes the ensemble's log-odds into per-feature terms that add up exactly:

    logit(score) = bias + Σ_f contributions[:, f]

It is the reference :class:`models.contract.ScoringModel` (the contract is written there). Beyond
it: absent columns in ``score_frame`` are treated as missing, picklable, and the boosters run
with ``nthread=1`` after loading (``set_threads`` changes that).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from models.contract import SCORE_COLUMNS
from models.ensemble.anomaly import AnomalyModel
from models.ensemble.fused import fuse
from models.ensemble.matrix import as_matrix, column_index
from models.ensemble.native import NativeForest, compile_booster
from models.ensemble.supervised import SupervisedModel
from models.mlflow_env import mlflow


@dataclass(frozen=True)
class Combiner:
    """Logistic regression over (supervised log-odds, log2 anomaly score), weights ≥ 0."""

    intercept: float
    w_supervised: float
    w_anomaly: float

    def logit(self, margin: np.ndarray, exponent: np.ndarray) -> np.ndarray:
        return self.intercept + self.w_supervised * margin + self.w_anomaly * exponent

    @classmethod
    def fit(cls, margin: np.ndarray, exponent: np.ndarray, y: np.ndarray,
            C: float = 1.0,  # noqa: N803
            sample_weight: np.ndarray | None = None) -> Combiner:
        """L2-penalised logistic regression, fitted on standardised inputs (so ``C`` regularises
        both alike, scikit-learn's convention: ``½‖w‖² + C·Σ loss``), returned on the raw scale.

        Both weights are bounded at 0 (L-BFGS-B): a member can only add risk. Unbounded, a window
        where the anomalous rows labelled so far are mostly legitimate (AML labels take weeks)
        teaches the combiner to *subtract* the anomaly score — which then costs AP on the later
        period where those AML cases are labelled (docs/models-history.md, "The combiner").
        """
        from scipy.optimize import minimize

        Z = np.column_stack([margin, exponent]).astype(np.float64)  # noqa: N806
        mu, sd = Z.mean(axis=0), Z.std(axis=0)
        sd[sd == 0] = 1.0
        Zs = (Z - mu) / sd  # noqa: N806
        t = y.astype(np.float64)
        sw = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, np.float64)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            z = theta[0] + Zs @ theta[1:]
            # log(1 + e^z) − t·z, stable; gradient σ(z) − t
            val = float(np.sum(sw * (np.logaddexp(0.0, z) - t * z)))
            g = sw * (_sigmoid(z) - t)
            w = theta[1:]
            return (C * val + 0.5 * float(w @ w),
                    np.concatenate([[C * g.sum()], C * (Zs.T @ g) + w]))

        prior = float(np.clip(np.average(t, weights=sw), 1e-6, 1 - 1e-6))
        theta0 = np.array([np.log(prior / (1 - prior)), 1.0, 0.0])
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B",
                       bounds=[(None, None), (0.0, None), (0.0, None)], options={"maxiter": 1000})
        w = res.x[1:] / sd
        b = float(res.x[0] - np.sum(w * mu))
        return cls(b, float(w[0]), float(w[1]))


@dataclass
class ThresholdRule:
    """How ``alert_threshold`` was chosen (kept with the model, logged as params).

    ``budget`` (share of transactions the policy may alert) and ``validation_alert_rate`` (the
    share it did alert on validation) are what serving and monitoring compare the live alert
    rate with; ``rule_threshold`` is the rule's own choice before the budget capped it. The
    three are NaN on models pickled before the budget existed (unpickling a dataclass restores
    the instance dict only, so they fall back to these class defaults).
    """

    kind: str  # "cost", "precision" (lowest score reaching the target) or "top_share"
    target: float
    validation_precision: float = float("nan")
    validation_recall: float = float("nan")
    extra: dict[str, float] = field(default_factory=dict)
    budget: float = float("nan")
    validation_alert_rate: float = float("nan")
    rule_threshold: float = float("nan")


class EnsembleModel(mlflow.pyfunc.PythonModel):
    def __init__(self, supervised: SupervisedModel, anomaly: AnomalyModel, combiner: Combiner,
                 alert_threshold: float = 0.5,
                 threshold_rule: ThresholdRule | None = None) -> None:
        if supervised.feature_names != anomaly.feature_names:
            raise ValueError("members must read the same features")
        self.supervised = supervised
        self.anomaly = anomaly
        self.combiner = combiner
        self.alert_threshold = float(alert_threshold)
        self.threshold_rule = threshold_rule
        #: which members the training kept and why (``models.training.card``); None when the
        #: model was not made by ``fit_ensemble``
        self.member_selection: object | None = None
        self._threads = 1
        self._fused: xgb.Booster | None = None
        self._native: NativeForest | None = None
        self._fuse_if_loaded()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.supervised.feature_names

    # -- the alert policy (optional members of the contract: models.contract.alert_policy) ----
    @property
    def alert_budget(self) -> float | None:
        """The share of transactions the policy may alert; None for a model without one."""
        return _known(getattr(self.threshold_rule, "budget", None))

    @property
    def validation_alert_rate(self) -> float | None:
        """The share of validation rows ``alert_threshold`` alerted; None when not recorded."""
        return _known(getattr(self.threshold_rule, "validation_alert_rate", None))

    # -- the fused booster (models.ensemble.fused): both members in one XGBoost call, and the same
    # trees for the native kernel (models.ensemble.native), which scores when it was built
    # -----------
    def _fuse_if_loaded(self) -> None:
        if self.supervised.booster is not None and self.anomaly.booster is not None:
            fused = fuse(self.supervised.booster, self.anomaly.booster)
            fused.set_param({"nthread": self.__dict__.get("_threads", 1)})
            self._fused = fused
            self._native = compile_booster(fused)

    def _fused_booster(self) -> xgb.Booster:
        if self.__dict__.get("_fused") is None:  # a model pickled before the fused booster
            self.supervised._booster(), self.anomaly._booster()  # raise if not loaded
            self._fuse_if_loaded()
        return self._fused  # type: ignore[return-value]

    # -- scoring --------------------------------------------------------------------------
    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ensemble log-odds, supervised log-odds, log2 anomaly score — one call of the native
        kernel or, without it, of XGBoost; the two margins are bit-identical to the members'
        own either way (``models.ensemble.fused``, ``models.ensemble.native``)."""
        booster = self._fused_booster()
        native = self.__dict__.get("_native")
        if native is not None:
            out = native.margins(X, self.__dict__.get("_threads", 1)).astype(np.float64)
        else:
            out = booster.inplace_predict(X, predict_type="margin", missing=np.nan)
            out = np.asarray(out, dtype=np.float64).reshape(len(X), 2)
        margin = out[:, 0]
        exponent = -out[:, 1] / self.anomaly.normaliser
        return self.combiner.logit(margin, exponent), margin, exponent

    def score_frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """``score``, ``score_supervised``, ``score_anomaly`` per row (index kept for frames).

        The hot path of the stream: one view of the input (no copy for a float frame in
        feature order), one call scoring both members' trees, the combiner in numpy, and the
        output built from one ``(3, n)`` block (building a frame from a dict of columns costs
        ~0.7 ms in pandas 3 — more than scoring 500 rows).
        """
        m = as_matrix(X, self.feature_names)
        out = np.empty((3, len(m)))
        if len(m):
            z, margin, exponent = self._parts(m)
            _sigmoid(z, out=out[0])
            _sigmoid(margin, out=out[1])
            np.exp2(exponent, out=out[2])
        return pd.DataFrame(out.T, columns=column_index(SCORE_COLUMNS), copy=False,
                            index=X.index if isinstance(X, pd.DataFrame) else None)

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Just the ensemble score (the common interface every model in the comparison has)."""
        m = as_matrix(X, self.feature_names)
        if len(m) == 0:
            return np.zeros(0)
        z, _, _ = self._parts(m)
        return _sigmoid(z)

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Signed per-feature contributions to the ensemble's log-odds, shape (n, F).

        ``w_s`` × the XGBoost member's path attributions (log-odds) + ``w_a`` × the isolation
        forest's (as log2 anomaly score); positive raises the risk. Both are XGBoost's
        ``approx_contribs`` (Saabas: each split on a row's path credits its feature with the
        change in the tree's expected value, node means weighted by training cover) — about
        one prediction's cost, ~100× faster than exact TreeSHAP and as additive:
        ``logit(score) = bias + Σ contributions`` with one bias per model. The native kernel
        (``models.ensemble.native``) computes the same numbers bit for bit when it is built.
        """
        m = as_matrix(X, self.feature_names)
        if len(m) == 0:
            return np.zeros((0, len(self.feature_names)))
        booster = self._fused_booster()
        native = self.__dict__.get("_native")
        # the same numbers (models.ensemble.native), without XGBoost's call cost
        if native is not None:
            c = native.contributions(m, self.__dict__.get("_threads", 1)).astype(np.float64)
        else:
            dm = xgb.DMatrix(m, missing=np.nan, nthread=1)  # columns are in order: no names
            c = booster.predict(dm, pred_contribs=True, approx_contribs=True,
                                validate_features=False)
            c = np.asarray(c, dtype=np.float64).reshape(len(m), 2, -1)[:, :, :-1]  # no bias
        return (self.combiner.w_supervised * c[:, 0]
                - (self.combiner.w_anomaly / self.anomaly.normaliser) * c[:, 1])

    def set_threads(self, n: int) -> None:
        """Threads per prediction call for both boosters (1 after loading: safe to share)."""
        self._threads = n
        for booster in (self.supervised.booster, self.anomaly.booster,
                        self.__dict__.get("_fused")):
            if booster is not None:
                booster.set_param({"nthread": n})

    # -- MLflow pyfunc ----------------------------------------------------------------------
    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        return self.score_frame(model_input)

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        artifacts = context.artifacts or {}
        for name, member in (("supervised", self.supervised), ("anomaly", self.anomaly)):
            if member.booster is None and name in artifacts:
                booster = xgb.Booster()
                booster.load_model(artifacts[name])
                booster.set_param({"nthread": 1})
                member.booster = booster
        self._threads = 1
        self._fuse_if_loaded()

    def save_boosters(self, folder: Path) -> dict[str, str]:
        """Write both boosters (UBJSON) for ``log_model(artifacts=...)``."""
        paths = {}
        for name, member in (("supervised", self.supervised), ("anomaly", self.anomaly)):
            path = folder / f"{name}.ubj"
            member._booster().save_model(path)
            paths[name] = str(path)
        return paths

    def shell(self) -> EnsembleModel:
        """A copy without boosters: what MLflow pickles; ``load_context`` loads the boosters."""
        out = copy.copy(self)
        out.supervised = copy.copy(self.supervised)
        out.anomaly = copy.copy(self.anomaly)
        out.supervised.booster = None
        out.anomaly.booster = None
        out._fused = None
        out._native = None
        return out

    # -- pickling: the fused booster and native forest are rebuilt from the members' -------
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_fused", "_native")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fused = None
        self._native = None
        self._fuse_if_loaded()

    def describe(self) -> dict[str, object]:
        return {"combiner_intercept": self.combiner.intercept,
                "combiner_w_supervised": self.combiner.w_supervised,
                "combiner_w_anomaly": self.combiner.w_anomaly,
                "alert_threshold": self.alert_threshold,
                "threshold_rule": None if self.threshold_rule is None
                else self.threshold_rule.kind,
                "alert_budget": self.alert_budget,
                "validation_alert_rate": self.validation_alert_rate,
                "rule_threshold": _known(getattr(self.threshold_rule, "rule_threshold", None)),
                "n_features": len(self.feature_names)}


def _known(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``1 / (1 + e^-z)`` in float64, in place into ``out`` when given."""
    out = np.negative(z, out=out, dtype=np.float64)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def members_of(model: EnsembleModel) -> dict[str, object]:
    """Every model in the comparison that lives inside ``model``: itself and its members."""
    return {"ensemble": model, "xgboost": model.supervised, "isolation_forest": model.anomaly}


__all__: Sequence[str] = ("Combiner", "EnsembleModel", "ThresholdRule", "members_of")
