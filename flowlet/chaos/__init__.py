"""``flowlet chaos``: fault injection against a real ``flowlet up``, checked end to end.

Each scenario starts ``flowlet up`` (embedded broker, worker, API; no simulator, no
dashboard) on a fresh data folder, sends a steady load of simulated transactions through the
API — retrying as a well-behaved client would on refused connections, 429 and 5xx — injects
its faults, re-sends every payload after each restart, lets the stack settle and checks:

* every accepted id is posted exactly once (``ledger verify`` against the accepted ids, with
  the trial balance and the hash chain) and has exactly one lake row;
* every feature of every lake row equals the offline builder's value over the lake's history
  in the order the worker read it (``processed_at``, then the source offset; one partition,
  so that order is the stream's);
* re-sent payloads were all answered ``duplicate``.

Scenarios: ``kill-worker`` (SIGKILL the worker ``--kills`` times, the first within a second or
two of its start), ``kill-up`` (SIGKILL ``flowlet up`` itself, then start it again),
``sigterm-backlog`` (the worker paused until at least ``--backlog`` events wait, then Ctrl-C
and start again),
``kill-broker`` (SIGKILL the embedded broker; ``up`` restarts it).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from core.processes import free_port
from core.settings import Settings
from flowlet.chaos.checks import Report, check, settle, wait_for
from flowlet.chaos.load import Load
from flowlet.chaos.stack import Stack

log = logging.getLogger(__name__)

SCENARIOS = ("kill-worker", "kill-up", "sigterm-backlog", "kill-broker")

__all__ = ["SCENARIOS", "Report", "main", "run_scenario"]


def run_scenario(scenario: str, data_dir: Path, *, events: int = 6_000, rate: float = 400.0,
                 kills: int = 10, backlog: int = 50_000, settle_seconds: float = 600.0,
                 seed: int = 1, mlflow_tracking_uri: str = "",
                 progress: Callable[[str], None] = log.info) -> Report:
    """Run one scenario on a fresh ``data_dir``; the report lists every problem found.
    ``mlflow_tracking_uri``: a registry with a champion to reuse (default: ``up`` trains one
    in the data folder)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, partitions=1, api_port=free_port(),
                        worker_web_port=free_port(), dashboard_port=free_port(),
                        mlflow_tracking_uri=mlflow_tracking_uri)
    report = Report(scenario)
    stack = Stack(settings, data_dir / "up.log")
    started = time.monotonic()
    rng = random.Random(seed)
    api = f"http://{settings.api_host}:{settings.api_port}"
    stack.start()
    batch = 50
    if scenario == "sigterm-backlog":
        events = max(events, backlog + 1_000)
        rate, batch = max(rate, 5_000.0), 500
    from flowlet.keys import tool_key

    key = tool_key(settings, "chaos")
    stack.key_headers = {"authorization": f"Bearer {key}"}
    load = Load(api, rate, seed=seed, batch=batch, key=key)
    load.start(events)
    try:
        _inject(scenario, stack, load, report, rng, kills=kills, backlog=backlog,
                events=events, progress=progress)
        load.join()
        report.resent, report.resent_not_duplicate = load.resend_all()
        progress(f"{scenario}: {len(load.sent)} accepted; settling")
        # On the running stack, events still in flight: verify must wait for them, not fail.
        report.verify_exit, said = _verify_cli(settings, settle_seconds)
        if report.verify_exit != 0:
            report.problems.append(f"flowlet ledger verify --settle exited {report.verify_exit} "
                                   f"on the running stack: {said}")
        settle(settings, set(load.sent), settle_seconds)
    finally:
        load.stop.set()
        stack.signal(signal.SIGINT)
        with _suppress_timeout():
            stack.wait(30)
    report.accepted = len(load.sent)
    check(settings, set(load.sent), report)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _inject(scenario: str, stack: Stack, load: Load, report: Report, rng: random.Random, *,
            kills: int, backlog: int, events: int, progress: Callable[[str], None]) -> None:
    if scenario == "kill-worker":
        for i in range(kills):
            # The first kill lands in the worker's first seconds, the others anywhere.
            time.sleep(rng.uniform(0.5, 2.0) if i == 0 else rng.uniform(2.0, 8.0))
            pid = _wait_child(stack, "flowlet worker")
            os.kill(pid, signal.SIGKILL)
            report.faults.append(f"SIGKILL worker {pid} at {len(load.sent)} accepted")
            progress(report.faults[-1])
    elif scenario == "kill-up":
        time.sleep(rng.uniform(4.0, 8.0))
        stack.signal(signal.SIGKILL)
        stack.wait(30)
        report.faults.append(f"SIGKILL flowlet up at {len(load.sent)} accepted")
        progress(report.faults[-1])
        _wait_ports_free(stack.settings)  # its children die with it (parent-death signal)
        stack.start()
    elif scenario == "sigterm-backlog":
        # A worker that cannot keep up, by construction: paused while the load arrives.
        worker = _wait_child(stack, "flowlet worker")
        os.kill(worker, signal.SIGSTOP)
        wait_for(lambda: _backlog(stack) >= backlog, 600, f"a backlog of {backlog}")
        at = _backlog(stack)
        stack.signal(signal.SIGINT)
        took = stack.wait(60)
        report.faults.append(f"Ctrl-C with a backlog of {at}: stopped in {took:.1f} s")
        progress(report.faults[-1])
        if took > 5.0:
            report.problems.append(f"Ctrl-C took {took:.1f} s (more than 5 s)")
        _wait_ports_free(stack.settings)
        stack.start()
    elif scenario == "kill-broker":
        time.sleep(rng.uniform(4.0, 8.0))
        pid = _wait_child(stack, "tansu")
        os.kill(pid, signal.SIGKILL)
        report.faults.append(f"SIGKILL broker {pid} at {len(load.sent)} accepted")
        progress(report.faults[-1])
    del events


def _wait_ports_free(settings: Settings) -> None:
    from core.processes import port_free

    wait_for(lambda: port_free(settings.api_host, settings.api_port), 30,
              f"port {settings.api_port} to be free")


def _backlog(stack: Stack) -> int:
    s = stack.settings
    try:
        return int(httpx.get(f"http://{s.api_host}:{s.api_port}/stats", timeout=2,
                             headers=stack.key_headers).json()["backlog"])
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


def _wait_child(stack: Stack, marker: str, timeout: float = 120) -> int:
    found: list[int] = []

    def present() -> bool:
        pid = stack.child_pid(marker)
        if pid is not None:
            found.append(pid)
        return pid is not None

    wait_for(present, timeout, f"a running {marker}")
    return found[-1]


def _verify_cli(settings: Settings, settle_seconds: float) -> tuple[int, str]:
    """``flowlet ledger verify --settle`` as an operator would run it: its exit code and the
    last lines it printed."""
    env = {**os.environ, **settings.to_env(), "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flowlet", "ledger", "verify", "--settle", str(settle_seconds)],
        env=env, capture_output=True, text=True, timeout=settle_seconds + 120, check=False)
    said = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, " | ".join(said[-8:])


class _suppress_timeout:  # noqa: N801 - used as a statement
    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, *_: object) -> bool:
        return et is subprocess.TimeoutExpired


def main(scenarios: list[str], out: Path, **options: Any) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    reports = []
    for scenario in scenarios:
        report = run_scenario(scenario, out / scenario, **options)
        reports.append(report.as_dict())
        log.info("%s: %s", scenario, "OK" if report.ok else "; ".join(report.problems))
    (out / "chaos.json").write_text(json.dumps(reports, indent=2))
    return 0 if all(r["ok"] for r in reports) else 1
