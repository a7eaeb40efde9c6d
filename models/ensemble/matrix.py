"""Feature frames to the matrices the boosters read — without a copy when the input allows.

XGBoost's ``inplace_predict`` reads any 2-D float32/float64 array through the array interface
(strides included) and casts each value to float32 itself, exactly as ``astype(np.float32)``
would. So a float64 pandas frame whose columns are already in model order (what the scorer
passes: one float64 block) is handed over as a strided view — no column selection, no cast,
no copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import xgboost as xgb

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@lru_cache(maxsize=16)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """A pandas Index of ``names``, built once: comparing a frame's columns with
    ``Index.equals`` is ~40× faster than ``list(columns) != names`` on pandas' string columns."""
    return pd.Index(list(names))


def as_matrix(X: pd.DataFrame | np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """A float32 or float64 ``(n, len(feature_names))`` matrix, NaN where missing.

    Columns are taken by name; absent columns are all-NaN (a feature the caller could not
    compute is *missing*, which every model here tolerates), extra columns are ignored. A
    numpy array is taken as already in ``feature_names`` order. The result may be a view of
    ``X`` (possibly not C-contiguous); treat it as read-only.
    """
    names = tuple(feature_names)
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != len(names):
            raise ValueError(f"expected (n, {len(names)}) features, got {X.shape}")
        return X if X.dtype in _FLOATS else X.astype(np.float32)
    if not X.columns.equals(column_index(names)):
        X = X.reindex(columns=list(names))
    if len(X) == 0:
        return np.empty((0, len(names)), dtype=np.float32)
    out = X.to_numpy()  # a view for a single float block
    if out.dtype not in _FLOATS:  # ints, bools, nullable dtypes with pd.NA, mixed
        out = X.to_numpy(dtype=np.float32, na_value=np.nan)
    return out


def booster_state(obj: object, transient: tuple[str, ...] = ()) -> dict:
    """``obj.__dict__`` for pickling, its ``booster`` as raw UBJSON bytes (and without
    ``transient`` attributes): an XGBoost booster travels in its own format."""
    state = {k: v for k, v in vars(obj).items() if k != "booster" and k not in transient}
    booster = vars(obj).get("booster")
    state["booster_raw"] = None if booster is None else bytes(booster.save_raw("ubj"))
    return state


def restore_booster(obj: object, state: dict) -> None:
    """Undo :func:`booster_state`; the booster scores on one thread, as the stream expects."""
    raw = state.pop("booster_raw")
    vars(obj).update(state)
    booster = None
    if raw is not None:
        booster = xgb.Booster(model_file=bytearray(raw))
        booster.set_param({"nthread": 1})
    vars(obj)["booster"] = booster
