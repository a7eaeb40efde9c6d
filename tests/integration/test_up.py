"""`flowlet up` starts the whole local stack, serves API and dashboard, and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from core.lake import connect
from core.processes import free_port
from core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _stack_env(tmp_path, model_registry) -> tuple:  # noqa: ANN001
    """A data folder, the environment of a `flowlet up` on free ports with the session's model
    registry, and the settings it reads from it."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        "FLOWLET_DATA_DIR": str(data),
        "FLOWLET_API_PORT": str(free_port()),
        "FLOWLET_DASHBOARD_PORT": str(free_port()),
        "FLOWLET_MLFLOW_TRACKING_URI": model_registry.mlflow_tracking_uri,
        "PYTHONUNBUFFERED": "1",
    }
    return data, env, Settings.from_env(env)


def test_flowlet_up_serves_and_stops(tmp_path, model_registry, wait_http_ok, wait_until):
    data, env, settings = _stack_env(tmp_path, model_registry)
    log = tmp_path / "up.log"
    proc = subprocess.Popen([sys.executable, "-m", "flowlet", "up", "--rate", "40"], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    try:
        api = wait_http_ok(f"http://127.0.0.1:{settings.api_port}/healthz", timeout=120)
        assert api.json() == {"status": "ok"}
        docs = httpx.get(f"http://127.0.0.1:{settings.api_port}/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "cdn" not in docs.text  # Swagger UI's assets are served locally
        assert httpx.get(f"http://127.0.0.1:{settings.api_port}/docs/assets/swagger-ui-bundle.js"
                         ).status_code == 200
        spec = httpx.get(f"http://127.0.0.1:{settings.api_port}/openapi.json").json()
        assert "TransactionEvent" in spec["components"]["schemas"]
        dash = wait_http_ok(f"http://127.0.0.1:{settings.dashboard_port}/", timeout=120)
        assert "<html" in dash.text.lower()
        wait_http_ok(f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health", timeout=30)
        # The simulator feeds the API and the worker fills the lake: the flow is live.
        wait_until(lambda: connect(settings.lake_dir).sql(
            "select count(*) from transactions").fetchall()[0][0] > 0, 120, "lake rows")
        assert "Flowlet is up" in log.read_text()
        # The local key, printed once, opens the API; without it the door is shut.
        key = re.search(r"api key\s+(flk_\S+)", log.read_text())
        assert key, log.read_text()[-3000:]
        stats = f"http://127.0.0.1:{settings.api_port}/stats"
        assert httpx.get(stats, timeout=5).status_code == 401
        assert httpx.get(stats, timeout=5, headers={"X-API-Key": key[1]}).status_code == 200
        worker = re.search(r"worker\s+(http://127\.0\.0\.1:\d+/stats/)", log.read_text())
        assert worker and httpx.get(worker[1], timeout=5).status_code == 401
        assert httpx.get(worker[1], timeout=5,
                         headers={"Authorization": f"Bearer {key[1]}"}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("flowlet up did not stop within 90 s:\n"
                                 + log.read_text()[-3000:]) from None
    assert code == 0, log.read_text()[-3000:]
    # `up` waited for its children, whose sockets closed when they exited.
    for port in (settings.api_port, settings.dashboard_port):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert "stack stopped" in log.read_text()


def test_ctrl_c_stops_the_stack_cleanly(tmp_path, model_registry, wait_until):
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group. `up` alone
    gets it (its children have their own groups) and stops them in order, the broker last;
    the worker stops by itself, none is killed. The stop time is printed, not asserted."""
    data, env, settings = _stack_env(tmp_path, model_registry)
    log = tmp_path / "up.log"

    def as_a_terminal() -> None:  # a session of its own, SIGINT not inherited as ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    proc = subprocess.Popen([sys.executable, "-m", "flowlet", "up", "--rate", "40"], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            preexec_fn=as_a_terminal)  # noqa: PLW1509
    try:  # the worker processes events: it is in its consumer group, mid-stream
        wait_until(lambda: (settings.lake_dir / "transactions").exists() and connect(
            settings.lake_dir).sql("select count(*) from transactions").fetchall()[0][0] > 0,
            180, "lake rows")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("flowlet up did not stop within 30 s:\n"
                             + log.read_text()[-3000:]) from None
    seconds = time.monotonic() - started
    print(f"flowlet up stopped {seconds:.1f} s after Ctrl-C")
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "killing it" not in text and "stack stopped" in text, text[-3000:]
    worker_log = (data / "logs" / "worker.log").read_text()
    assert "worker stopped" in worker_log, worker_log[-3000:]
    # the broker outlived the processes using it: nobody logged a refused broker connection
    for name in ("worker", "api"):
        assert "Connect call failed" not in (data / "logs" / f"{name}.log").read_text(), name
