"""Serving: the hot-reloading scorer the stream calls (``scorer``; imports MLflow) and what a
scored micro-batch holds (``batch``; no MLflow, so the stream's test doubles use it too)."""

from models.serving.batch import ScoredBatch

__all__ = ["ScoredBatch"]
