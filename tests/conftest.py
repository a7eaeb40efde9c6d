"""Shared fixtures: a real embedded broker, a trained model registry, child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from core.settings import Settings  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        yield b


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An MLflow store with a champion trained on simulated history (shared by the session)."""
    from models.training.run import ensure_champion

    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    ensure_champion(settings, days=28, customers=250, seed=3)
    return settings


@pytest.fixture
def stack_settings(tmp_path: Path, broker: EmbeddedBroker, model_registry: Settings) -> Settings:
    """Settings for one isolated stack: own data dir, broker and ports; the shared registry."""
    return Settings(
        data_dir=tmp_path / "data", broker=broker.bootstrap,
        mlflow_tracking_uri=model_registry.mlflow_tracking_uri,
        api_port=free_port(), worker_web_port=free_port(), dashboard_port=free_port(),
        batch_within_seconds=0.2,
    )


class Child:
    """A ``python -m flowlet …`` child process with its log kept for failure messages."""

    def __init__(self, args: list[str], settings: Settings, log: Path) -> None:
        self.log = log
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowlet", *args], cwd=REPO, env=env,
            stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig: int = 15, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not stop within {timeout}s:\n{self.tail()}") from None
        return self.proc.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    children: list[Child] = []

    def _spawn(name: str, args: list[str], settings: Settings) -> Child:
        child = Child(args, settings, tmp_path / f"{name}.log")
        children.append(child)
        return child

    yield _spawn
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


def wait_http_ok(url: str, timeout: float = 60, child: Child | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(f"process exited ({child.proc.returncode}):\n{child.tail()}")
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200:
                return resp
            last = resp.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    detail = child.tail() if child else ""
    raise AssertionError(f"{url} not OK after {timeout}s (last: {last!r})\n{detail}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")


@pytest.fixture(name="wait_http_ok")
def _wait_http_ok_fixture():  # type: ignore[no-untyped-def]
    return wait_http_ok


@pytest.fixture(name="wait_until")
def _wait_until_fixture():  # type: ignore[no-untyped-def]
    return wait_until
