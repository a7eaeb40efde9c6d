"""Process plumbing shared by the supervisor, the embedded broker, benchmarks and tests.

>>> port = free_port()
>>> port_open("127.0.0.1", port)
False
"""

from __future__ import annotations

import ctypes
import signal
import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def port_free(host: str, port: int) -> bool:
    """Whether this process could listen on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on {host}:{port}") from None
            time.sleep(0.05)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child (``preexec_fn``): ask Linux to send it ``sig`` when its parent dies, so a
    killed supervisor leaves no orphan holding ports. A no-op where ``prctl`` is unavailable."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def killed_with_parent() -> None:
    """``die_with_parent(SIGKILL)``: for children whose every effect is durable and idempotent,
    so their ports are free the moment a killed parent could be started again."""
    die_with_parent(signal.SIGKILL)
