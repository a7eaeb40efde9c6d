"""``flowlet up`` as a child process under test, and its children found through /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.settings import Settings


class Stack:
    """``flowlet up`` as a child process, and its children found through /proc."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.key_headers: dict[str, str] = {}  # a key for its API (set by the scenario)

    def start(self) -> None:
        env = {**os.environ, **self.settings.to_env(), "PYTHONUNBUFFERED": "1",
               "MLFLOW_DISABLE_TELEMETRY": "true"}
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowlet", "up", "--no-simulator", "--no-dashboard"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        self.wait_api()

    def wait_api(self, timeout: float = 180) -> None:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"flowlet up exited ({self.proc.returncode}); see "
                                   f"{self.log_path}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the API did not answer within {timeout} s; see {self.log_path}")

    def child_pid(self, marker: str) -> int | None:
        """The pid of the child of ``up`` whose command line contains ``marker``."""
        if self.proc is None:
            return None
        for pid in _children(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                return pid
        return None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> float:
        """Wait for ``up`` to exit; return how long it took."""
        started = time.monotonic()
        if self.proc is not None:
            self.proc.wait(timeout)
        return time.monotonic() - started


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found
