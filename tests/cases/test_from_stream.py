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
    model_alerts = [a for a in out.alerts if a["source"] == "model"]  # not the detectors'
    assert model_alerts, "the stand-in scorer alerted nothing: nothing to check"
    store = CaseStore(Settings(data_dir=tmp_path).database_url)
    alerts = store.alerts(limit=10_000)
    per_account = Counter(a["account_id"] for a in model_alerts)
    # one open alert per alerting account and source, its hits adding up
    assert {a["entity_id"]: a["hits"] for a in alerts if a["source"] == "model"} == dict(
        per_account)
    assert len(alerts) < len(out.alerts)  # several hits were folded into one alert
    assert {c["account_id"] for c in store.cases(limit=10_000)} == {
        a["account_id"] for a in out.alerts}
    hits = store.hits_of([a["transaction_id"] for a in out.alerts])
    assert {h["transaction_id"] for h in hits} == {a["transaction_id"] for a in out.alerts}

    again = run_pipeline(events, tmp_path)  # every batch redelivered
    assert len(again.alerts) == len(out.alerts)
    assert store.alerts(limit=10_000) == alerts


def test_labels_in_the_stream_land_in_the_lake_once(tmp_path):
    from core.lake import connect
    from simulator import label_events

    now = datetime.now(UTC)
    txs = Simulator(seed=9, n_accounts=20, n_merchants=5, fraud_share=0.2).generate(
        300, now - timedelta(hours=3), now - timedelta(hours=1))
    labels = label_events(txs, seed=9)[:25]
    assert len(labels) == 25
    out = run_pipeline([t.event for t in txs] + labels, tmp_path)
    assert out.labels_written == len(labels)
    again = run_pipeline(labels, tmp_path)  # redelivered: nothing new
    assert again.labels_written == 0
    con = connect(tmp_path / "lake")
    rows = con.sql("select label_id, labelled_transaction_id, is_fraud, source "
                   "from labels order by label_id").fetchall()
    assert rows == sorted((lb.label_id, lb.labelled_transaction_id, lb.is_fraud, lb.source)
                          for lb in labels)
