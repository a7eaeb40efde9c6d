"""Worker and API processes for the pipeline bench, and how to tell they are done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.lake import connect
from core.processes import free_port
from core.settings import Settings


class Processes:
    """``flowlet worker`` ×K (one consumer group) or ``flowlet api``, logs in the data folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ready_urls: list[str] = []

    def start(self, command: str, count: int = 1) -> list[Settings]:
        started = []
        for i in range(count):
            s = self.settings.with_(worker_web_port=free_port(), api_port=free_port())
            env = {**os.environ, **s.to_env(), "PYTHONUNBUFFERED": "1"}
            log = open(s.data_dir / f"bench-{command}-{i + 1}.log", "wb")  # noqa: SIM115
            self.procs.append(subprocess.Popen([sys.executable, "-m", "flowlet", command],
                                               env=env, stdout=log, stderr=subprocess.STDOUT))
            self.ready_urls.append(f"http://127.0.0.1:{s.worker_web_port}/stats/"
                                   if command == "worker"
                                   else f"http://127.0.0.1:{s.api_port}/healthz")
            started.append(s)
        return started

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for url, proc in zip(self.ready_urls, self.procs, strict=True):
            while True:
                try:
                    # The stats page wants a key: a 401 also says the worker serves.
                    if httpx.get(url, timeout=1).status_code in (200, 401):
                        break
                    raise httpx.HTTPError("not ready")
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"{url} never answered; see the bench-*.log files "
                                           f"in {self.settings.data_dir}") from None
                    time.sleep(0.3)

    def check_alive(self) -> None:
        dead = [p.args for p in self.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead} exited; see the bench-*.log files in "
                               f"{self.settings.data_dir}")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
        self.ready_urls.clear()


def fresh_schema(url: str) -> str:
    """A PostgreSQL URL whose tables land in a new schema of their own (a clean database for
    one bench run); other URLs unchanged."""
    if not url.startswith("postgresql"):
        return url
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def lake_rows(lake_dir: Path) -> int:
    if not (lake_dir / "transactions").exists():
        return 0
    return int(connect(lake_dir).sql("select count(*) from transactions").fetchall()[0][0])


def lake_files(lake_dir: Path) -> int:
    return sum(1 for _ in (lake_dir / "transactions").rglob("*.parquet"))
