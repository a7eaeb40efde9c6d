"""A small process supervisor: start children, restart the ones that crash, stop them all fast.

* Every child runs in its own process group (a terminal's Ctrl-C reaches the supervisor only,
  which stops the children itself) and with ``PR_SET_PDEATHSIG``
  (:func:`core.processes.killed_with_parent`): if the supervisor itself is killed, even with
  ``kill -9``, its children are killed at once — no orphan keeps a port, and a new supervisor
  can start right away (every effect is durable and idempotent, so nothing is lost).
* A child that exits while the supervisor runs is restarted after a backoff that doubles from
  ``backoff_initial`` to ``backoff_max`` and resets once the child has stayed up for
  ``stable_after`` seconds; each exit and restart is logged.
* :meth:`Supervisor.stop` sends SIGTERM to every child at once, waits up to ``grace`` seconds in
  total, then SIGKILLs whatever is left. That is safe because Flowlet's effects are idempotent and
  accepted events wait in the outbox: a killed worker loses nothing.

>>> import sys
>>> sup = Supervisor(grace=2.0)
>>> sup.add("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
>>> sup.start_all(); sup.alive("sleeper")
True
>>> sup.stop(); sup.alive("sleeper")
False
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.processes import killed_with_parent

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    command: list[str]
    env: Mapping[str, str] | None = None
    log_path: Path | None = None
    #: Called after each (re)start, e.g. to wait until the child listens.
    on_start: Callable[[], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, *, grace: float = 2.5, backoff_initial: float = 1.0,
                 backoff_max: float = 10.0, stable_after: float = 30.0) -> None:
        self.grace = grace
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.children: dict[str, Child] = {}
        self._stopping = False

    def add(self, name: str, command: list[str], *, env: Mapping[str, str] | None = None,
            log_path: Path | None = None, on_start: Callable[[], None] | None = None) -> None:
        self.children[name] = Child(name, command, env, log_path, on_start)

    def start_all(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def alive(self, name: str) -> bool:
        return self.children[name].running

    def pid(self, name: str) -> int | None:
        proc = self.children[name].proc
        return proc.pid if proc is not None else None

    def _spawn(self, child: Child) -> None:
        if child.log_path is not None and child._log_file is None:
            child.log_path.parent.mkdir(parents=True, exist_ok=True)
            child._log_file = open(child.log_path, "ab")  # noqa: SIM115 - closed in stop()
        out = child._log_file if child._log_file is not None else subprocess.DEVNULL
        # A process group of its own: Ctrl-C in a terminal signals the whole foreground group,
        # and children signalled with the supervisor would each stop on their own, the broker
        # first, leaving the worker and the API retrying a dead broker while they shut down.
        # Only the supervisor gets Ctrl-C and stops them in order (:meth:`stop`).
        child.proc = subprocess.Popen(child.command, stdout=out, stderr=subprocess.STDOUT,
                                      env=dict(child.env) if child.env is not None else None,
                                      preexec_fn=killed_with_parent,  # noqa: PLW1509
                                      process_group=0)
        child.started_at = time.monotonic()
        child.restart_at = None
        if child.on_start is not None:
            child.on_start()

    def check(self) -> list[str]:
        """Restart children that exited (after their backoff); return the names restarted."""
        if self._stopping:
            return []
        now = time.monotonic()
        restarted = []
        for child in self.children.values():
            if child.proc is None or child.running:
                continue
            if child.restart_at is None:
                if now - child.started_at >= self.stable_after:
                    child.backoff = 0.0
                child.backoff = (min(self.backoff_max, child.backoff * 2) if child.backoff
                                 else self.backoff_initial)
                child.restart_at = now + child.backoff
                where = f"; see {child.log_path}" if child.log_path else ""
                log.error("%s exited with code %s; restarting in %.0f s%s", child.name,
                          child.proc.returncode, child.backoff, where)
            elif now >= child.restart_at:
                child.restarts += 1
                log.warning("restarting %s (restart %d)", child.name, child.restarts)
                try:
                    self._spawn(child)
                except Exception:
                    log.exception("restarting %s failed; trying again later", child.name)
                    child.restart_at = None
                    continue
                restarted.append(child.name)
        return restarted

    def restart(self, name: str, why: str) -> None:
        """Kill ``name`` now and start it again at once (no backoff)."""
        child = self.children[name]
        if child.running:
            assert child.proc is not None
            child.proc.kill()
            child.proc.wait()
        child.restarts += 1
        log.warning("restarting %s: %s", name, why)
        self._spawn(child)

    def stop(self, order: tuple[str, ...] = ()) -> None:
        """SIGTERM every child (``order`` first), SIGKILL what is left after ``grace`` s."""
        self._stopping = True
        names = [*order, *(n for n in self.children if n not in order)]
        for name in names:
            child = self.children.get(name)
            if child is not None and child.running:
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name in names:
            child = self.children.get(name)
            if child is None or child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.info("%s still running after %.1f s; killing it", name, self.grace)
                child.proc.kill()
                child.proc.wait()
            if child._log_file is not None:
                child._log_file.close()
                child._log_file = None
