"""Import MLflow through here: telemetry must be off before mlflow is first imported."""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

__all__ = ["MlflowClient", "mlflow"]
