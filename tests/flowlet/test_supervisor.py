"""The supervisor restarts crashed children, stops stubborn ones fast and leaves no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowlet.supervisor import Supervisor

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]
IGNORES_TERM = [sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(120)"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def test_a_crashed_child_is_restarted_with_a_growing_backoff(caplog) -> None:
    sup = Supervisor(backoff_initial=0.05, backoff_max=0.2, grace=1.0)
    sup.add("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    sup.start_all()
    try:
        backoffs = []
        while len(backoffs) < 4:
            for _ in sup.check():
                backoffs.append(sup.children["crasher"].backoff)
            time.sleep(0.01)
        assert backoffs == [0.05, 0.1, 0.2, 0.2]
        assert sup.children["crasher"].restarts == 4
        assert "crasher exited with code 3; restarting" in caplog.text
    finally:
        sup.stop()


def test_the_backoff_resets_after_a_stable_run(wait_until) -> None:
    sup = Supervisor(backoff_initial=0.05, stable_after=0.0, grace=1.0)
    sup.add("crasher", [sys.executable, "-c", "raise SystemExit(1)"])
    sup.start_all()
    try:
        for _ in range(3):
            wait_until(lambda: bool(sup.check()), 5, "a restart")
            assert sup.children["crasher"].backoff == 0.05
    finally:
        sup.stop()


def test_stop_kills_a_child_that_ignores_sigterm_within_the_grace(tmp_path: Path,
                                                                   wait_until) -> None:
    sup = Supervisor(grace=0.5)
    log = tmp_path / "stubborn.log"
    sup.add("stubborn", IGNORES_TERM, log_path=log)
    sup.add("polite", SLEEP)
    sup.start_all()
    wait_until(lambda: "ready" in log.read_text(), 10, "the child to ignore SIGTERM",
               interval=0.02)
    pids = [sup.pid("stubborn"), sup.pid("polite")]
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 3.0
    assert not any(pid_alive(p) for p in pids if p is not None)
    assert sup.check() == []  # a stopped supervisor restarts nothing


@pytest.mark.integration
def test_children_die_when_the_supervisor_is_killed(tmp_path: Path, wait_until) -> None:
    pids = tmp_path / "pids"
    script = (
        "import sys, time\n"
        "from flowlet.supervisor import Supervisor\n"
        "sup = Supervisor()\n"
        f"sup.add('a', {SLEEP!r})\n"
        f"sup.add('b', {SLEEP!r})\n"
        "sup.start_all()\n"
        f"open({str(pids)!r}, 'w').write(' '.join(str(sup.pid(n)) for n in 'ab'))\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 20,
                   "the children to start")
        children = [int(p) for p in pids.read_text().split()]
        assert all(pid_alive(p) for p in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        wait_until(lambda: not any(pid_alive(p) for p in children), 10,
                   "the orphans to die with their parent")
    finally:
        parent.kill()


def test_restart_replaces_a_running_child_at_once(wait_until) -> None:
    sup = Supervisor(grace=1.0)
    sup.add("sleeper", SLEEP)
    sup.start_all()
    try:
        old = sup.pid("sleeper")
        sup.restart("sleeper", "a test says so")
        assert sup.alive("sleeper") and sup.pid("sleeper") != old
        assert old is not None and not pid_alive(old)
        assert sup.children["sleeper"].restarts == 1
    finally:
        sup.stop()
