"""``flowlet up``: the whole local stack on embedded defaults, under one data folder.

Checks its ports first, starts the embedded broker, creates topics, makes sure a champion model
exists, then runs the worker, the API, the simulator and the dashboard as supervised child
processes (:mod:`flowlet.supervisor`; logs in ``<data>/logs/``): a child that crashes is
restarted with backoff, the broker too; if ``up`` itself dies its children die with it.
Ctrl-C (or SIGTERM) stops everything within a few seconds.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from core.processes import free_port, port_free, wait_for_port
from core.settings import Settings
from flowlet.supervisor import Supervisor
from streams.broker import EmbeddedBroker

log = logging.getLogger(__name__)

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"


def dashboard_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(settings.dashboard_port),
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",  # analysts get no "Deploy" button
    ]


class PortInUse(RuntimeError):
    """A port the stack needs is taken (raised before anything starts)."""


class Stack:
    def __init__(self, settings: Settings, rate: float = 20.0, dashboard: bool = True,
                 simulator: bool = True, bootstrap_model: bool = True) -> None:
        self.settings = settings
        #: train a first model on simulated history when there is no champion (the demo);
        #: without it the worker waits for `flowlet train`
        self.bootstrap_model = bootstrap_model
        self.rate = rate
        self.with_dashboard = dashboard
        self.with_simulator = simulator
        self.supervisor = Supervisor()
        self.broker: EmbeddedBroker | None = None
        self.admin_password: str | None = None  # set when this start created the admin
        self.local_key: str | None = None  # set when this start created the local API key

    def check_ports(self, patience: float = 2.0) -> None:
        """Refuse to start when a port the stack listens on is taken, naming it and the setting
        that moves it (after ``patience`` seconds: a stack stopped a moment ago may still be
        releasing them). Runs before anything starts."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return self._check_ports()
            except PortInUse:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)

    def _check_ports(self) -> None:
        s = self.settings
        #: what listens there -> (host, port, the setting that moves it)
        wanted = {"API": (s.api_host, s.api_port, "FLOWLET_API_PORT")}
        if self.with_dashboard:
            wanted["dashboard"] = ("127.0.0.1", s.dashboard_port, "FLOWLET_DASHBOARD_PORT")
        if s.worker_web_port != Settings.worker_web_port:
            wanted["worker stats"] = ("127.0.0.1", s.worker_web_port,
                                      "FLOWLET_WORKER_WEB_PORT")
        taken = [f"the {what} port {port} on {host} is in use (set {setting} to another port)"
                 for what, (host, port, setting) in wanted.items() if not port_free(host, port)]
        if taken:
            raise PortInUse("; ".join(taken) + "; nothing was started")

    def start(self) -> None:
        self.check_ports()
        s = self.settings
        logs = s.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if not s.broker:
            self.broker = EmbeddedBroker(log_path=logs / "broker.log").start()
            s = s.with_(broker=self.broker.bootstrap)
        if s.worker_web_port == Settings.worker_web_port:
            s = s.with_(worker_web_port=free_port())
        self.settings = s
        from models.training.run import ensure_champion
        from streams.topics import ensure_topics

        ensure_topics(s)
        if self.bootstrap_model:  # each step logged: a first start trains for ~25 s
            ensure_champion(s, progress=lambda step: log.info("first model: %s", step))
        continuation = None
        if self.with_simulator:  # before the worker consumes: the live world's recent past
            from flowlet.warmstart import warm_start

            continuation = warm_start(s, self.rate)
        from flowlet.users import ensure_local_admin

        self.admin_password = ensure_local_admin(s)
        from flowlet.keys import ensure_local_keys

        self.local_key, simulator_key = ensure_local_keys(s)
        me = [sys.executable, "-m", "flowlet"]
        env = {**_base_env(), **s.to_env()}
        add = self.supervisor.add
        add("worker", me + ["worker"], env=env, log_path=logs / "worker.log")
        add("api", me + ["api"], env=env, log_path=logs / "api.log",
            on_start=lambda: wait_for_port(s.api_host, s.api_port, timeout=60))
        if self.with_dashboard:
            add("dashboard", dashboard_command(s), env=env, log_path=logs / "dashboard.log",
                on_start=lambda: wait_for_port("127.0.0.1", s.dashboard_port, timeout=60))
        if self.with_simulator:  # its key only in its environment, never on a command line
            add("simulator", me + ["simulate", "--to", "api", "--rate", str(self.rate)]
                + (continuation.args() if continuation else []),
                env={**env, "FLOWLET_API_KEY": simulator_key}, log_path=logs / "simulator.log")
        self.supervisor.start_all()

    def urls(self) -> dict[str, str]:
        s = self.settings
        urls = {
            "api": f"http://{s.api_host}:{s.api_port}/docs",
            "worker": f"http://127.0.0.1:{s.worker_web_port}/stats/",
            "broker": f"kafka://{s.broker}",
            "data": str(s.data_dir),
        }
        if self.with_dashboard:
            urls["dashboard"] = f"http://127.0.0.1:{s.dashboard_port}"
        return urls

    def watch(self) -> None:
        """Keep everything running: restart the broker (same port) and crashed children."""
        if self.broker is not None and not self.broker.running:
            log.error("the embedded broker exited; restarting it on %s (topics start empty; "
                      "the outbox re-publishes what was accepted and not yet processed)",
                      self.broker.bootstrap)
            try:
                from streams.topics import ensure_topics

                self.broker.start()
                ensure_topics(self.settings)
            except Exception:
                log.exception("restarting the broker failed; trying again")
            else:
                # The records its stored state describes went with the broker: a fresh worker
                # sees a new broker epoch and rebuilds the state from the lake
                # (streams.recovery) instead of running on state nobody backs.
                self.supervisor.restart("worker", "the broker lost its topics")
        self.supervisor.check()

    def stop(self) -> None:
        if self.broker is None and not self.supervisor.children:
            return  # nothing was started (a port was taken)
        log.info("stopping the stack")
        self.supervisor.stop(order=("simulator", "api", "dashboard", "worker"))
        if self.broker is not None:
            self.broker.stop()
        log.info("stack stopped")

    def run(self) -> int:
        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        # SIGINT too, explicitly: a shell starting `up` in the background may leave it ignored.
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        try:
            self.start()
            lines = [f"  {name:<10} {url}" for name, url in self.urls().items()]
            if self.admin_password:
                lines.append(f"  {'login':<10} admin / {self.admin_password} (a one-time "
                             "password, shown only now: `flowlet users add` for your team)")
            if self.local_key:
                lines.append(f"  {'api key':<10} {self.local_key} (shown only now; "
                             "`flowlet keys create` for more)")
            sys.stdout.write("Flowlet is up:\n" + "\n".join(lines) + "\nCtrl-C to stop.\n")
            sys.stdout.flush()
            while True:
                self.watch()
                time.sleep(0.5)
        except PortInUse as exc:  # one line on stderr, no log noise: nothing was started
            sys.stderr.write(f"flowlet up: {exc}\n")
            return 2
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()


def _base_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env["PYTHONUNBUFFERED"] = "1"
    return env
