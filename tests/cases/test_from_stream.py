"""The stream's alerts land in the workbench de-duplicated, and a redelivery adds nothing."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from cases import CaseStore
from core.settings import Settings
from simulator import Simulator
from streams.testing import run_pipeline


def test_the_pipeline_stores_one_open_alert_per_account_and_source(tmp_path):
    now = datetime.now(UTC)
    events = [t.event for t in Simulator(seed=8, n_accounts=30, n_merchants=6).generate(
        600, now - timedelta(hours=2), now)]
    out = run_pipeline(events, tmp_path)
    assert out.alerts, "the stand-in scorer alerted nothing: nothing to check"
    store = CaseStore(Settings(data_dir=tmp_path).database_url)
    alerts = store.alerts(limit=10_000)
    per_account = Counter(a["account_id"] for a in out.alerts)
    # one open alert per alerting account (one source: the model), its hits adding up
    assert {a["entity_id"]: a["hits"] for a in alerts} == dict(per_account)
    assert len(alerts) < len(out.alerts)  # several hits were folded into one alert
    assert {c["account_id"] for c in store.cases(limit=10_000)} == set(per_account)
    hits = store.hits_of([a["transaction_id"] for a in out.alerts])
    assert {h["transaction_id"] for h in hits} == {a["transaction_id"] for a in out.alerts}

    again = run_pipeline(events, tmp_path)  # every batch redelivered
    assert len(again.alerts) == len(out.alerts)
    assert store.alerts(limit=10_000) == alerts
