"""Feature frames to the float32 matrices the boosters read — with as few copies as possible."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def as_matrix(X: pd.DataFrame | np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """A C-contiguous float32 ``(n, len(feature_names))`` matrix, NaN where missing.

    Columns are taken by name; absent columns are all-NaN (a feature the caller could not
    compute is *missing*, which every model here tolerates), extra columns are ignored. A
    numpy array is taken as already in ``feature_names`` order.
    """
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ValueError(f"expected (n, {len(feature_names)}) features, got {X.shape}")
        return np.ascontiguousarray(X, dtype=np.float32)
    names = list(feature_names)
    if list(X.columns) != names:
        X = X.reindex(columns=names)
    if len(X) == 0:
        return np.empty((0, len(names)), dtype=np.float32)
    out = X.to_numpy(dtype=np.float32, na_value=np.nan)
    return np.ascontiguousarray(out)
