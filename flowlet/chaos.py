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
``sigterm-backlog`` (Ctrl-C with a backlog of at least ``--backlog`` events, then start again),
``kill-broker`` (SIGKILL the embedded broker; ``up`` restarts it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from core.processes import free_port
from core.settings import Settings

log = logging.getLogger(__name__)

SCENARIOS = ("kill-worker", "kill-up", "sigterm-backlog", "kill-broker")


@dataclass
class Report:
    scenario: str
    accepted: int = 0
    resent: int = 0
    resent_not_duplicate: int = 0
    ledger_posted_once: int = 0
    lake_rows: int = 0
    lake_file_rows: int = 0
    feature_mismatches: int = 0
    verify_ok: bool = False
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


class Stack:
    """``flowlet up`` as a child process, and its children found through /proc."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

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


class Load:
    """A client posting batches of simulated events at ``rate`` per second through the API."""

    def __init__(self, api: str, rate: float, seed: int = 1, batch: int = 50,
                 accounts: int = 300) -> None:
        from simulator import Simulator

        self.api, self.rate, self.batch = api, rate, batch
        self.sim = Simulator(seed=seed, n_accounts=accounts, n_merchants=40)
        self.sent: dict[str, bytes] = {}  # id -> payload, every accepted or duplicate one
        self.stop = threading.Event()
        self.refused = 0
        self._thread: threading.Thread | None = None
        self._clock = datetime.now(UTC) - timedelta(days=2)

    def start(self, total: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(total,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self, total: int) -> None:
        with httpx.Client(timeout=30) as client:
            while len(self.sent) < total and not self.stop.is_set():
                started = time.monotonic()
                n = min(self.batch, total - len(self.sent))
                end = self._clock + timedelta(seconds=n * 5)
                events = [t.event for t in self.sim.generate(n, self._clock, end)]
                self._clock = end
                payloads = {e.transaction_id: e.model_dump_json(exclude_none=True).encode()
                            for e in events}
                self.post(client, payloads)
                time.sleep(max(0.0, n / self.rate - (time.monotonic() - started)))

    def post(self, client: httpx.Client, payloads: dict[str, bytes]) -> dict[str, str]:
        """POST until answered (as a client would); return each id's status."""
        body = b"[" + b",".join(payloads.values()) + b"]"
        while not self.stop.is_set():
            try:
                resp = client.post(f"{self.api}/v1/transactions", content=body,
                                   headers={"content-type": "application/json"})
            except httpx.HTTPError:
                self.refused += 1
                time.sleep(0.5)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                self.refused += 1
                time.sleep(float(resp.headers.get("retry-after", "0.5")))
                continue
            resp.raise_for_status()
            statuses = {r["transaction_id"]: r["status"] for r in resp.json()["results"]}
            for tid, status in statuses.items():
                if status in ("accepted", "duplicate"):
                    self.sent[tid] = payloads[tid]
            return statuses
        return {}

    def resend_all(self) -> tuple[int, int]:
        """Re-send every payload sent so far; return (re-sent, answered other than duplicate)."""
        items = list(self.sent.items())
        other = 0
        with httpx.Client(timeout=30) as client:
            for start in range(0, len(items), 500):
                chunk = dict(items[start:start + 500])
                statuses = self.post(client, chunk)
                other += sum(s != "duplicate" for s in statuses.values())
        return len(items), other


def run_scenario(scenario: str, data_dir: Path, *, events: int = 6_000, rate: float = 400.0,
                 kills: int = 10, backlog: int = 50_000, settle: float = 600.0,
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
    if scenario == "sigterm-backlog":
        events = max(events, backlog + 1_000)
        rate = max(rate, 5_000.0)
    load = Load(api, rate, seed=seed)
    load.start(events)
    try:
        _inject(scenario, stack, load, report, rng, kills=kills, backlog=backlog,
                events=events, progress=progress)
        load.join()
        report.resent, report.resent_not_duplicate = load.resend_all()
        progress(f"{scenario}: {len(load.sent)} accepted; settling")
        _settle(settings, set(load.sent), settle)
    finally:
        load.stop.set()
        stack.signal(signal.SIGINT)
        with _suppress_timeout():
            stack.wait(30)
    report.accepted = len(load.sent)
    _check(settings, set(load.sent), report)
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
        _wait_for(lambda: _backlog(stack) >= backlog, 600, f"a backlog of {backlog}")
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

    _wait_for(lambda: port_free(settings.api_host, settings.api_port), 30,
              f"port {settings.api_port} to be free")


def _backlog(stack: Stack) -> int:
    s = stack.settings
    try:
        return int(httpx.get(f"http://{s.api_host}:{s.api_port}/stats", timeout=2)
                   .json()["backlog"])
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


def _wait_child(stack: Stack, marker: str, timeout: float = 120) -> int:
    found: list[int] = []

    def present() -> bool:
        pid = stack.child_pid(marker)
        if pid is not None:
            found.append(pid)
        return pid is not None

    _wait_for(present, timeout, f"a running {marker}")
    return found[-1]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _settle(settings: Settings, accepted: set[str], timeout: float) -> None:
    """Wait until every accepted id has its lake row (the last of its effects)."""
    from core.lake import connect

    def landed() -> bool:
        if not (settings.lake_dir / "transactions").exists():
            return False
        ids = {r[0] for r in connect(settings.lake_dir).sql(
            "select transaction_id from transactions").fetchall()}
        return accepted <= ids

    _wait_for(landed, timeout, f"{len(accepted)} accepted events to reach the lake")


class _suppress_timeout:  # noqa: N801 - used as a statement
    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, *_: object) -> bool:
        return et is subprocess.TimeoutExpired


def _check(settings: Settings, accepted: set[str], report: Report) -> None:
    from core.lake import connect, lake_files
    from ledger import Ledger, verify

    ledger = Ledger.from_url(settings.database_url)
    result = verify(ledger, accepted)
    report.verify_ok = result.ok
    report.problems += [f"ledger: {p}" for p in result.problems[:10]]
    report.ledger_posted_once = len(accepted) if result.ok else 0
    con = connect(settings.lake_dir)
    lake_ids = [r[0] for r in con.sql("select transaction_id from transactions").fetchall()]
    report.lake_rows = len(lake_ids)
    files = lake_files(settings.lake_dir)
    if files:
        report.lake_file_rows = con.sql(
            "select count(*) from read_parquet(?)", params=[files]).fetchall()[0][0]
    if set(lake_ids) != accepted or len(lake_ids) != len(set(lake_ids)):
        report.problems.append(f"lake: {len(set(lake_ids))} distinct ids for "
                               f"{len(accepted)} accepted")
    if report.resent_not_duplicate:
        report.problems.append(f"{report.resent_not_duplicate} re-sent payloads were not "
                               "answered duplicate")
    report.feature_mismatches = _feature_mismatches(settings)
    if report.feature_mismatches:
        report.problems.append(f"{report.feature_mismatches} feature values differ from the "
                               "offline builder")


def _feature_mismatches(settings: Settings) -> int:
    """Lake feature values that differ from the offline builder over the lake's history."""
    import polars as pl

    from core.frames import EVENT_SCHEMA
    from core.lake import connect
    from features import FEATURES, build_features

    columns = [c for c in EVENT_SCHEMA if c not in ("mcc", "ip_address", "target_currency",
                                                    "target_amount_minor", "fee_minor",
                                                    "original_transaction_id")]
    lake = pl.from_arrow(connect(settings.lake_dir).sql(
        "select " + ", ".join(columns) + ", "
        + ", ".join(f'"f_{f.name}"' for f in FEATURES)
        + " from transactions order by processed_at, source_partition, source_offset, "
        "occurred_at, transaction_id").arrow())
    events = lake.select(columns).with_columns(
        [pl.lit(None, dtype=EVENT_SCHEMA[c]).alias(c) for c in EVENT_SCHEMA
         if c not in columns]).select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    offline = build_features(events, None)
    mismatches = 0
    for f in FEATURES:
        want, got = offline[f.name].to_list(), lake[f"f_{f.name}"].to_list()
        for w, g in zip(want, got, strict=True):
            if not ((math.isnan(w) and math.isnan(g))
                    or abs(w - g) <= 1e-9 * max(1.0, abs(w))):
                mismatches += 1
    return mismatches


def main(scenarios: list[str], out: Path, **options: Any) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    reports = []
    for scenario in scenarios:
        report = run_scenario(scenario, out / scenario, **options)
        reports.append(report.as_dict())
        log.info("%s: %s", scenario, "OK" if report.ok else "; ".join(report.problems))
    (out / "chaos.json").write_text(json.dumps(reports, indent=2))
    return 0 if all(r["ok"] for r in reports) else 1
