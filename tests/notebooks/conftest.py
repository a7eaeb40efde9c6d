"""The environment a notebook's kernel runs in: this checkout's code, as `make lab` gives it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The kernel inherits this environment: this checkout first on the path (as `make lab`),
    no DATA_DIR unless a test sets one."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # the venv's kernel spec before a user-level "python3" of another interpreter
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    monkeypatch.delenv("DATA_DIR", raising=False)
    return monkeypatch
