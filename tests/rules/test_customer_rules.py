"""Rules over customer attributes: a KYC profile that reached the stream makes a
``customer.<attribute>`` rule fire, in the stream and in its backtest alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cases import CaseStore
from core.contract import CustomerEvent
from core.settings import Settings
from rules import RuleAlerts, RuleStore, backtest, compile_rule
from rules.customers import customer_frame
from simulator import Simulator
from streams.pipeline import RawRecord
from streams.testing import InMemoryFeatures, in_memory_processor

START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(days=2)
RULE = """
rules:
  - id: pep_transfers
    condition: customer.pep == true and event_type == "p2p_transfer"
    severity: high
    description: a politically exposed person moves money to another account
"""


def test_a_pep_profile_makes_the_customer_rule_fire_online_and_in_its_backtest(tmp_path):
    settings = Settings(data_dir=tmp_path)
    proc = in_memory_processor(settings)
    CaseStore(proc.ledger.engine).add_user("lea", "lead", "a long enough password")
    store = RuleStore(proc.ledger.engine)
    store.import_text(RULE, "lea")
    v = store.version("pep_transfers")
    store.record_backtest("pep_transfers", v.version, START, END,
                          backtest(settings.lake_dir, compile_rule(v, store.lists()), START,
                                   END).figures, "lea")
    store.activate("pep_transfers", "lea")
    source = next(s for s in proc.alert_sources if isinstance(s, RuleAlerts))
    source.refresh(force=True)

    events = [t.event for t in Simulator(seed=4, n_accounts=30, n_merchants=6).generate(
        900, START, END)]
    senders = sorted({e.account_id for e in events if e.event_type == "p2p_transfer"})
    pep, plain = senders[0], senders[1]
    profiles = [CustomerEvent(event_id=f"kyc-{a}", account_id=a, version=1,
                              occurred_at=START - timedelta(days=1),
                              customer_type="individual", name=f"Customer {a[-4:]}",
                              country="DE", pep=a == pep,
                              onboarded_on=(START - timedelta(days=30)).date())
                for a in (pep, plain)]
    features = InMemoryFeatures()
    records = [RawRecord(e.model_dump_json().encode(), offset=i)
               for i, e in enumerate([*profiles, *events])]
    online = []
    for start in range(0, len(records), 200):
        online += [a for a in proc.commit(features.run(records[start:start + 200])).alerts
                   if a["source"] == "rule:pep_transfers"]

    expected = {e.transaction_id for e in events
                if e.account_id == pep and e.event_type == "p2p_transfer"}
    assert expected and {a["transaction_id"] for a in online} == expected
    attributes = customer_frame(proc.ledger.engine)
    assert dict(zip(attributes["account_id"], attributes["pep"], strict=True)) == {
        pep: True, plain: False}
    offline = backtest(settings.lake_dir, compile_rule(v, store.lists()), START, END,
                       customers=attributes)
    assert offline.figures["alerts"] == len(expected)
