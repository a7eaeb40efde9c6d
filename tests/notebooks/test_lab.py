"""`make lab`: JupyterLab on the project's kernel, offline, its token printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.processes import free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


@pytest.mark.integration
@pytest.mark.slow
def test_make_lab_serves_the_project_kernel_offline(tmp_path: Path) -> None:
    if not (VENV / "bin" / "jupyter-lab").exists():
        pytest.skip(f"no JupyterLab in {VENV} (make install)")
    port = free_port()
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        lab = subprocess.Popen(["make", "-s", "lab", f"VENV={VENV}", f"LAB_PORT={port}"],
                               cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        token = None
        deadline = time.monotonic() + 60
        while token is None and time.monotonic() < deadline and lab.poll() is None:
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", log.read_text())
            token = found.group(1) if found else None
            time.sleep(0.3)
        assert token, f"no URL with a token printed:\n{log.read_text()[-2000:]}"
        base = f"http://127.0.0.1:{port}"
        params = {"token": token}
        specs = httpx.get(f"{base}/api/kernelspecs", params=params, timeout=10).json()
        assert specs["default"] == "flowlet"
        argv = specs["kernelspecs"]["flowlet"]["spec"]["argv"]
        assert Path(argv[0]).resolve() == Path(sys.executable).resolve()
        # offline: no news fetched, no update check, the announcements plugin disabled, the
        # extension manager does not ask PyPI
        assert httpx.get(f"{base}/lab/api/news", params=params, timeout=10).json() == \
            {"news": []}
        assert httpx.get(f"{base}/lab/api/update", params=params, timeout=10).json() == \
            {"notification": None}
        page = httpx.get(f"{base}/lab", params=params, timeout=10).text
        assert "@jupyterlab/apputils-extension:announcements" in page
        assert "Extension Manager is 'readonly'" in log.read_text()
        assert httpx.get(f"{base}/api/status", timeout=10).status_code == 403  # token needed
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
