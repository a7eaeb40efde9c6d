"""``flowlet up``: the whole local stack on embedded defaults, under one data folder.

Starts the embedded broker, creates topics, makes sure a champion model exists, then runs the
worker, the API, the simulator and the dashboard as child processes (logs in
``<data>/logs/``). Ctrl-C (or SIGTERM) stops them all, children first, then the broker.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from core.settings import Settings
from streams.broker import EmbeddedBroker, free_port, wait_for_port

log = logging.getLogger(__name__)

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"


def dashboard_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(settings.dashboard_port),
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
    ]


class Stack:
    def __init__(self, settings: Settings, rate: float = 20.0, dashboard: bool = True,
                 simulator: bool = True) -> None:
        self.settings = settings
        self.rate = rate
        self.with_dashboard = dashboard
        self.with_simulator = simulator
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.broker: EmbeddedBroker | None = None
        self._stopping = False

    def _spawn(self, name: str, cmd: list[str]) -> None:
        logs = self.settings.data_dir / "logs"
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - child owns it until exit
        env = {**_base_env(), **self.settings.to_env()}
        self.children[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                               env=env)

    def start(self) -> None:
        s = self.settings
        (s.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if not s.broker:
            self.broker = EmbeddedBroker(log_path=s.data_dir / "logs" / "broker.log").start()
            s = s.with_(broker=self.broker.bootstrap)
        if s.worker_web_port == Settings.worker_web_port:
            s = s.with_(worker_web_port=free_port())
        self.settings = s
        from models.training.run import ensure_champion
        from streams.topics import ensure_topics

        ensure_topics(s)
        ensure_champion(s)
        me = [sys.executable, "-m", "flowlet"]
        self._spawn("worker", me + ["worker"])
        self._spawn("api", me + ["api"])
        wait_for_port(s.api_host, s.api_port, timeout=60)
        if self.with_dashboard:
            self._spawn("dashboard", dashboard_command(s))
            wait_for_port("127.0.0.1", s.dashboard_port, timeout=60)
        if self.with_simulator:
            self._spawn("simulator", me + ["simulate", "--to", "api", "--rate", str(self.rate)])

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

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for name in ["simulator", "api", "dashboard", "worker"]:
            proc = self.children.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.children.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                proc.kill()
                proc.wait()
        if self.broker is not None:
            self.broker.stop()
        log.info("stack stopped")

    def run(self) -> int:
        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _on_signal)
        try:
            self.start()
            lines = [f"  {name:<10} {url}" for name, url in self.urls().items()]
            sys.stdout.write("Flowlet is up:\n" + "\n".join(lines) + "\nCtrl-C to stop.\n")
            sys.stdout.flush()
            while True:
                for name, proc in self.children.items():
                    if proc.poll() is not None:
                        log.error("%s exited with %s; see %s", name, proc.returncode,
                                  self.settings.data_dir / "logs" / f"{name}.log")
                        return 1
                time.sleep(0.5)
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
