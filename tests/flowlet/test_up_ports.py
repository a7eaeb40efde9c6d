"""`flowlet up` checks its ports before starting anything and names the one taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.processes import free_port

pytestmark = pytest.mark.integration  # a subprocess

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("taken", ["API", "dashboard"])
def test_up_names_the_taken_port_and_starts_nothing(tmp_path, taken):
    ports = {"API": free_port(), "dashboard": free_port()}
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", ports[taken]))
    squatter.listen()
    env = {**os.environ, "FLOWLET_DATA_DIR": str(tmp_path / "data"),
           "FLOWLET_API_PORT": str(ports["API"]),
           "FLOWLET_DASHBOARD_PORT": str(ports["dashboard"]),
           "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "flowlet", "up"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    finally:
        squatter.close()
    seconds = time.monotonic() - started
    setting = {"API": "FLOWLET_API_PORT", "dashboard": "FLOWLET_DASHBOARD_PORT"}[taken]
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback, no log noise
    assert f"{taken} port {ports[taken]}" in lines[0] and setting in lines[0], lines[0]
    assert "Flowlet is up" not in done.stdout
    # nothing was started: no broker log, no model trained, no data folder filled
    assert not (tmp_path / "data" / "logs").exists()
    print(f"port check answered in {seconds:.1f} s")
