"""`flowlet up` starts the whole local stack, serves API and dashboard, and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from core.lake import connect
from core.processes import free_port
from core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_flowlet_up_serves_and_stops(tmp_path, model_registry, wait_http_ok, wait_until):
    data = tmp_path / "data"
    env = {
        **os.environ,
        "FLOWLET_DATA_DIR": str(data),
        "FLOWLET_API_PORT": str(free_port()),
        "FLOWLET_DASHBOARD_PORT": str(free_port()),
        "FLOWLET_MLFLOW_TRACKING_URI": model_registry.mlflow_tracking_uri,
        "PYTHONUNBUFFERED": "1",
    }
    settings = Settings.from_env(env)
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
