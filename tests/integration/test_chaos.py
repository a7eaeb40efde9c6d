"""The fault-injection suite: each scenario of ``flowlet chaos`` against a real ``flowlet up``,
under steady load through the API. Each must end with every accepted id exactly once in ledger
and lake, ``ledger verify`` clean, features equal to the offline builder, and every re-sent
payload answered ``duplicate`` (``flowlet.chaos.checks``)."""

from __future__ import annotations

import json

import pytest

from flowlet.chaos import SCENARIOS, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Smaller than the defaults of ``flowlet chaos`` (6,000 events, a 50,000 backlog) so the
#: suite stays within CI's budget; the note of the change reports the full-size runs.
SIZES = {
    "kill-worker": {"events": 2_500, "rate": 250.0, "kills": 10},
    "kill-up": {"events": 2_500, "rate": 250.0},
    "sigterm-backlog": {"events": 4_000, "backlog": 3_000},
    "kill-broker": {"events": 2_500, "rate": 250.0},
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nothing_acknowledged_is_lost(scenario, tmp_path, model_registry):
    report = run_scenario(scenario, tmp_path / scenario, settle_seconds=300,
                          mlflow_tracking_uri=model_registry.mlflow_tracking_uri,
                          **SIZES[scenario])
    print(json.dumps(report.as_dict(), indent=2))  # the counts, in the test log
    assert report.ok, report.problems
    assert report.accepted >= SIZES[scenario]["events"]
    assert report.lake_rows == report.accepted == report.ledger_posted_once
    assert report.resent == report.accepted and report.resent_not_duplicate == 0
    assert report.faults, "no fault was injected"
