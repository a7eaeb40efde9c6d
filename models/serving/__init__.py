"""Serving: the hot-reloading scorer the stream calls (``scorer``), how a registered version is
loaded and validated before it may serve (``loading``; both import MLflow) and what a scored
micro-batch holds (``batch``; no MLflow, so the stream's test doubles use it too)."""

from models.serving.batch import ScoredBatch

__all__ = ["ScoredBatch"]
