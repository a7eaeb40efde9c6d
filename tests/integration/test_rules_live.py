"""A rule's life through real processes: authored as YAML, backtested over the lake the worker
wrote, activated by a lead (an analyst is refused) with the ``flowlet rules`` CLI, picked up by
the running worker without a restart — and its live alerts are exactly the transactions its
backtest finds over the same window (online/offline parity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from cases import CaseStore
from rules import RuleStore, backtest, compile_rule
from simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULE = """
rules:
  - id: busy_transfers
    condition: |
      event_type in ["p2p_transfer", "withdrawal"] and amount_minor >= 10_000
      and acct_count_24h >= 2
    severity: high
    description: repeated large outgoing transfers
"""


def cli(spawn, settings, name: str, *args: str) -> int:
    child = spawn(name, ["rules", *args], settings)
    return child.proc.wait(120)


def test_author_backtest_activate_and_see_it_alert_live(stack_settings, spawn, wait_http_ok,
                                                        wait_until, wait_caught_up, publish,
                                                        tmp_path, key_headers):
    s = stack_settings
    worker = spawn("worker", ["worker"], s)
    reader = key_headers(s, ("read",))
    wait_http_ok(f"http://127.0.0.1:{s.worker_web_port}/stats/", timeout=180, child=worker,
                 headers=reader)
    cases = CaseStore(s.database_url)
    cases.add_user("lea", "lead", "a long enough password")
    cases.add_user("ana", "analyst", "a long enough password")
    now = datetime.now(UTC)
    before, after = now - timedelta(days=8), now - timedelta(days=7)
    publish(s, [t.event for t in Simulator(seed=41, n_accounts=50, n_merchants=8).generate(
        600, now - timedelta(days=12), before)])
    wait_caught_up(s)

    (tmp_path / "rules.yaml").write_text(RULE)
    assert cli(spawn, s, "import", "import", str(tmp_path / "rules.yaml"), "--by", "ana") == 0
    assert cli(spawn, s, "activate-early", "activate", "busy_transfers", "--by", "lea") == 2
    assert cli(spawn, s, "backtest", "backtest", "busy_transfers", "--from",
               (now - timedelta(days=13)).isoformat(), "--to", before.isoformat(),
               "--by", "ana") == 0
    assert cli(spawn, s, "activate-analyst", "activate", "busy_transfers", "--by", "ana") == 2
    assert cli(spawn, s, "activate", "activate", "busy_transfers", "--by", "lea") == 0
    store = RuleStore(s.database_url)
    (stored,) = store.backtests("busy_transfers", 1)
    assert stored["result"]["alerts"] > 0, "the rule finds nothing in history: a weak test"
    # The worker polls the rules' revision (at most every 5 s, before a batch): send probes
    # (outside the compared window) until its stats page shows the rule loaded.
    template = Simulator(seed=41, n_accounts=50, n_merchants=8).generate(
        1, after, after + timedelta(hours=1))[0].event
    probes = iter(range(1000))

    def loaded() -> bool:
        publish(s, [template.model_copy(update={"transaction_id": f"probe-{next(probes)}",
                                                "occurred_at": after + timedelta(hours=2)})])
        page = httpx.get(f"http://127.0.0.1:{s.worker_web_port}/stats/", timeout=5,
                         headers=reader).json()
        return "busy_transfers/v1" in page["alert_sources"]["RuleAlerts"]["active"]

    wait_until(loaded, 60, "the worker to load the activated rule", interval=1)

    publish(s, [t.event for t in Simulator(seed=41, n_accounts=50, n_merchants=8,
                                           run_tag="after").generate(400, before, after)])
    wait_caught_up(s)
    with cases.engine.connect() as conn:
        online = set(conn.execute(text(
            "SELECT transaction_id FROM alert_hits WHERE source = 'rule:busy_transfers'"))
            .scalars())
    _, (active,), _ = store.active_rules()
    offline = backtest(s.lake_dir, compile_rule(active.version, {}), before, after)
    assert online and online == set(offline.alert_ids)
    queue = cases.alerts(source="rule:busy_transfers", limit=1000)  # one per account
    assert sum(a["hits"] for a in queue) == len(online)
    assert {a["source_version"] for a in queue} == {"busy_transfers/v1"}
    assert all("acct_count_24h=" in a["reason_codes"] for a in queue)
    assert worker.stop() == 0, worker.tail()
