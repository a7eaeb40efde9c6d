"""Offline, point-in-time-correct feature computation over event history (being rewritten)."""

from __future__ import annotations

import polars as pl

from features.definitions import FEATURE_NAMES


def build_features(events: pl.DataFrame, labels: pl.DataFrame | None = None) -> pl.DataFrame:
    raise NotImplementedError


def feature_matrix(features: pl.DataFrame) -> pl.DataFrame:
    """Just the model inputs, in declaration order."""
    return features.select(FEATURE_NAMES)
