"""The model contract: :class:`ScoringModel`, and :func:`check_scoring_model`, which checks it.

The contract is written once, in :class:`ScoringModel`'s docstring. The one check runs before a
model may serve (``models.serving.loading``), before a candidate may be promoted
(``models.training.gate``) and in the tests on every model (``tests/models/test_contract.py``),
in the manner of river's ``check_estimator``: each clause is a check function
(:func:`yield_checks`), and a failure raises :class:`ContractViolation` naming the clause.

>>> from models.ensemble.baseline import RuleBaseline
>>> check_scoring_model(RuleBaseline())
>>> class Constant:
...     feature_names, alert_threshold = ("amount_log10",), 0.5
...     def score_frame(self, X):
...         return pd.DataFrame({c: 2.0 for c in SCORE_COLUMNS}, index=X.index)
...     def contributions(self, X):
...         return np.zeros((len(X), 1))
>>> try:
...     check_scoring_model(Constant())
... except ContractViolation as violation:
...     print(violation)
score_frame: score not finite in [0, 1] on 8 of 8 rows: [2.0, 2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

#: The columns of every model's score frame, in this order.
SCORE_COLUMNS = ("score", "score_supervised", "score_anomaly")

#: What a :class:`ScoringModel` must have (for the message when an object has not).
MEMBERS = ("feature_names", "alert_threshold", "score_frame", "contributions")

#: Rows scored alone and compared with the same rows in a batch.
SINGLE_ROWS = 8


@runtime_checkable
class ScoringModel(Protocol):
    """A model the scorer may serve. The contract, clause by clause (:func:`yield_checks`):

    * **attributes** — ``feature_names``: the input columns, in order (distinct strings; the
      stream computes ``features.FEATURE_NAMES``, so a served model reads a subset of them);
      ``alert_threshold``: the model's own cut-off in [0, 1] — a row is an alert when its
      ``score >= alert_threshold`` (scores need not be calibrated around 0.5).
    * **score_frame** — ``score_frame(X)``, ``X`` a pandas frame with exactly
      ``feature_names`` as float64 columns, in order (:func:`model_input`), NaN = missing:
      a frame with ``X``'s index and the float64 columns :data:`SCORE_COLUMNS` —
      ``score``, P(suspicious), finite in [0, 1]; ``score_supervised`` and ``score_anomaly``,
      the supervised and anomaly members' scores in [0, 1], NaN for a model without them.
    * **contributions** — ``contributions(X)``, same ``X``: a finite float array of shape
      ``(len(X), len(feature_names))``, the signed contribution of each feature to each row's
      risk (positive raises it; the reason codes rank them). Its scale is the model's own
      (the ensemble's add up to its log-odds).
    * **deterministic** — the same ``X`` twice gives the same output, bit for bit.
    * **empty_batch**, **single_rows** — any number of rows, 0 and 1 included; a row scores
      the same alone as within a batch (up to float rounding).
    * **missing_features** — NaN in any column, all of them included, is accepted and scored.

    Optional (read with :func:`alert_policy`; absent or None on older models, which still
    serve): ``alert_budget``, the share of transactions the model's alert policy may alert,
    and ``validation_alert_rate``, the share ``alert_threshold`` alerted on validation data —
    what the gate and monitoring compare observed alert rates with.

    Registered models are MLflow python-function models whose python model
    (``pyfunc.unwrap_python_model()``) is a ScoringModel; by convention their ``predict``
    returns ``score_frame``. The scorer may call a model from several threads and never
    mutates it. ``models.ensemble.EnsembleModel`` is the model ``flowlet train`` registers;
    ``models.ensemble.baseline.RuleBaseline`` is a ScoringModel too.
    """

    @property
    def feature_names(self) -> Sequence[str]: ...

    @property
    def alert_threshold(self) -> float: ...

    def score_frame(self, X: pd.DataFrame) -> pd.DataFrame: ...  # noqa: N803

    def contributions(self, X: pd.DataFrame) -> np.ndarray: ...  # noqa: N803


@dataclass(frozen=True)
class AlertPolicyFigures:
    """A model's optional alert-policy members; None where the model does not say."""

    budget: float | None
    validation_alert_rate: float | None

    @property
    def reference_rate(self) -> float | None:
        """The alert rate observed rates are held to: the budget (what analysts can work, and
        a figure that does not move with a small validation window's noise), else the
        validation rate, else None (nothing to hold the model to)."""
        return self.budget if self.budget is not None else self.validation_alert_rate


def alert_policy(model: object) -> AlertPolicyFigures:
    """``model``'s ``alert_budget`` and ``validation_alert_rate``, each None when absent or
    not a finite number in [0, 1] (a model registered before they existed).

    >>> alert_policy(object())
    AlertPolicyFigures(budget=None, validation_alert_rate=None)
    """
    def figure(name: str) -> float | None:
        v = getattr(model, name, None)
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating):
            return None
        return float(v) if np.isfinite(v) and 0 <= v <= 1 else None

    return AlertPolicyFigures(figure("alert_budget"), figure("validation_alert_rate"))


class ContractViolation(ValueError):  # noqa: N818  (a violation, not an error of the checker)
    """A model breaks a clause of :class:`ScoringModel` (``clause`` names it)."""

    def __init__(self, clause: str, detail: str) -> None:
        super().__init__(f"{clause}: {detail}")
        self.clause = clause


def model_input(features: pd.DataFrame, feature_names: Sequence[str]) -> pd.DataFrame:
    """``features``' columns ``feature_names``, in that order, as float64 — the ``X`` of the
    contract (no copy when they already are)."""
    names = tuple(feature_names)
    if tuple(features.columns) != names:
        features = features.loc[:, list(names)]
    if all(dtype == np.float64 for dtype in features.dtypes):
        return features
    return features.astype(np.float64)


def probe_frame(feature_names: Sequence[str], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows to check a model on: all zeros, all ones, all minus ones, all 10⁶, four seeded
    random rows — then ``rows`` (real feature rows, e.g. the stream's latest), as
    :func:`model_input`, on a descending index. (Missing values are the ``missing_features``
    clause's.)"""
    names = list(feature_names)
    f = len(names)
    random = np.random.default_rng(0).normal(scale=10.0, size=(4, f))
    synthetic = np.vstack([np.zeros(f), np.ones(f), -np.ones(f), np.full(f, 1e6), random])
    probe = pd.DataFrame(synthetic, columns=names)
    if rows is not None and len(rows):
        probe = pd.concat([probe, model_input(rows, names)], ignore_index=True)
    # an index that is not 0..n-1: a score frame must carry its input's, not make its own
    return probe.set_axis(pd.RangeIndex(len(probe) + 99, 99, -1))


# -- the clauses: each takes the model and a probe frame, and raises ContractViolation ---------

def check_attributes(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    names = model.feature_names
    if (isinstance(names, str) or not len(names) or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names)):
        raise ContractViolation("attributes", f"feature_names must be distinct strings, got "
                                              f"{list(names)[:5]!r}")
    t = model.alert_threshold
    if isinstance(t, bool) or not isinstance(t, int | float | np.floating) or not 0 <= t <= 1:
        raise ContractViolation("attributes", f"alert_threshold {t!r} is not a number in [0, 1]")


def check_score_frame(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    _score_frame_of(model, X, "score_frame")


def check_contributions(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    _contributions_of(model, X, "contributions")


def check_empty_batch(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    _score_frame_of(model, X.iloc[:0], "empty_batch")
    _contributions_of(model, X.iloc[:0], "empty_batch")


def check_single_rows(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    batch = _score_frame_of(model, X, "single_rows")
    contributions = _contributions_of(model, X, "single_rows")
    for i in range(min(len(X), SINGLE_ROWS)):
        one = X.iloc[[i]]
        alone = _score_frame_of(model, one, "single_rows").to_numpy()
        if not np.allclose(alone[0], batch.iloc[i].to_numpy(), rtol=1e-6, atol=1e-9,
                           equal_nan=True):
            raise ContractViolation("single_rows", f"row {i} scores {alone[0].tolist()} alone, "
                                                   f"{batch.iloc[i].tolist()} in the batch")
        if not np.allclose(_contributions_of(model, one, "single_rows")[0], contributions[i],
                           rtol=1e-5, atol=1e-6):
            raise ContractViolation("single_rows", f"row {i}'s contributions differ alone and "
                                                   "in the batch")


def check_missing_features(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    nothing = pd.DataFrame(np.nan, index=range(3), columns=X.columns)
    holes = X.copy()
    holes.iloc[::2, ::3] = np.nan
    for frame in (nothing, holes):
        _score_frame_of(model, frame, "missing_features")
        _contributions_of(model, frame, "missing_features")


def check_deterministic(model: ScoringModel, X: pd.DataFrame) -> None:  # noqa: N803
    first, second = model.score_frame(X), model.score_frame(X)
    if not np.array_equal(first.to_numpy(), second.to_numpy(), equal_nan=True):
        raise ContractViolation("deterministic", "the same rows scored twice differ")
    c1, c2 = np.asarray(model.contributions(X)), np.asarray(model.contributions(X))
    if not np.array_equal(c1, c2, equal_nan=True):
        raise ContractViolation("deterministic", "the same rows' contributions differ")


Check = Callable[[ScoringModel, pd.DataFrame], None]


def yield_checks() -> tuple[Check, ...]:
    """The contract's clauses, in the order :func:`check_scoring_model` runs them."""
    return (check_attributes, check_score_frame, check_contributions, check_deterministic,
            check_empty_batch, check_single_rows, check_missing_features)


def clause_of(check: Check) -> str:
    return check.__name__.removeprefix("check_")


def as_scoring_model(obj: object) -> ScoringModel:
    """``obj``, if it has every member of :class:`ScoringModel` (it is not checked further);
    else :class:`ContractViolation` naming the members it lacks."""
    if not isinstance(obj, ScoringModel):
        missing = [m for m in MEMBERS if not hasattr(obj, m)]
        raise ContractViolation("ScoringModel", f"{type(obj).__name__} is not a ScoringModel: "
                                                f"it lacks {', '.join(missing)}")
    return obj


def check_scoring_model(model: object, X: pd.DataFrame | None = None) -> None:  # noqa: N803
    """Raise :class:`ContractViolation` unless ``model`` honours :class:`ScoringModel`.

    ``model`` is scored on :func:`probe_frame` (synthetic rows, then ``X``'s rows if given: a
    model that needs realistic inputs to misbehave is caught on them). An exception raised by
    the model is reported as a violation of the clause that called it.
    """
    model = as_scoring_model(model)
    try:
        probe = probe_frame(model.feature_names, X)
    except Exception as exc:
        raise ContractViolation("attributes", f"no input for its feature_names: {exc!r}"
                                ) from exc
    for check in yield_checks():
        try:
            check(model, probe)
        except ContractViolation:
            raise
        except Exception as exc:
            raise ContractViolation(clause_of(check), f"raised {type(exc).__name__}: {exc}"
                                    ) from exc


def _score_frame_of(model: ScoringModel, X: pd.DataFrame, clause: str) -> pd.DataFrame:  # noqa: N803
    out = model.score_frame(X)
    if not isinstance(out, pd.DataFrame) or tuple(out.columns) != SCORE_COLUMNS:
        got = list(out.columns) if isinstance(out, pd.DataFrame) else type(out).__name__
        raise ContractViolation(clause, f"score_frame gave {got}, not the columns "
                                        f"{list(SCORE_COLUMNS)}")
    if not all(dtype == np.float64 for dtype in out.dtypes):
        raise ContractViolation(clause, f"score columns are {list(map(str, out.dtypes))}, "
                                        "not float64")
    if len(out) != len(X) or not out.index.equals(X.index):
        raise ContractViolation(clause, f"{len(out)} scores for {len(X)} rows, or not on "
                                        "their index")
    score = out["score"].to_numpy()
    bad = ~((score >= 0) & (score <= 1))  # NaN too
    if bad.any():
        raise ContractViolation(clause, f"score not finite in [0, 1] on {bad.sum()} of "
                                        f"{len(bad)} rows: {score[bad][:3].tolist()}")
    for member in SCORE_COLUMNS[1:]:
        s = out[member].to_numpy()
        bad = (s < 0) | (s > 1)  # NaN is allowed: a model without that member
        if bad.any():
            raise ContractViolation(clause, f"{member} neither NaN nor in [0, 1] on "
                                            f"{bad.sum()} rows: {s[bad][:3].tolist()}")
    return out


def _contributions_of(model: ScoringModel, X: pd.DataFrame, clause: str) -> np.ndarray:  # noqa: N803
    c = np.asarray(model.contributions(X))
    shape = (len(X), len(model.feature_names))
    if c.shape != shape or not np.issubdtype(c.dtype, np.floating):
        raise ContractViolation(clause, f"contributions of shape {c.shape} ({c.dtype}), not "
                                        f"float {shape}")
    if not np.isfinite(c).all():
        raise ContractViolation(clause, "contributions are not all finite")
    return c
