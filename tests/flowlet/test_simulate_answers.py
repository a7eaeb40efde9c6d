"""`flowlet simulate` reports what the API answered, and fails when nothing was accepted."""

from __future__ import annotations

import pytest

from core.processes import free_port
from core.settings import Settings
from flowlet.cli import main

pytestmark = pytest.mark.integration  # a real API process on a real broker


@pytest.fixture
def api_settings(tmp_path, broker) -> Settings:
    """An API of its own (no model needed: the API does not score)."""
    return Settings(data_dir=tmp_path / "data", broker=broker.bootstrap, api_port=free_port())


def _simulate(url: str, key: str, count: int = 40) -> list[str]:
    return ["simulate", "--count", str(count), "--rate", "100", "--accounts", "200",
            "--api-url", url, "--api-key", key]


def test_simulate_counts_the_accepted(api_settings, spawn, wait_http_ok, capsys, api_key):
    api = spawn("api", ["api"], api_settings)
    url = f"http://127.0.0.1:{api_settings.api_port}"
    wait_http_ok(f"{url}/healthz", child=api)
    assert main(_simulate(url, api_key(api_settings, ("publish",)))) == 0
    out = capsys.readouterr().out
    assert "sent 40 transactions: accepted 40, duplicate 0, conflict 0, rejected 0" in out, out


def test_simulate_fails_when_the_api_accepts_nothing(api_settings, spawn, wait_http_ok,
                                                     capsys, api_key):
    # An API whose backlog bound is 0 answers every batch 429: nothing is accepted.
    api = spawn("api", ["api"], api_settings.with_(api_max_backlog=0))
    url = f"http://127.0.0.1:{api_settings.api_port}"
    wait_http_ok(f"{url}/healthz", child=api)
    assert main(_simulate(url, api_key(api_settings, ("publish",)))) == 1
    captured = capsys.readouterr()
    assert "accepted 0, duplicate 0, conflict 0, rejected 40" in captured.out, captured.out
    assert captured.err.strip().splitlines() == [
        line for line in captured.err.strip().splitlines() if "accepted none of 40" in line]
    assert "HTTP 429" in captured.err
