"""The detectors in the pipeline: typology alerts land in the case store with their typology and
evidence, a redelivered batch adds nothing, a restarted worker remembers the pattern so far;
the alert store's migration c0002 on an existing workbench; the bench on a small history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from cases import CaseStore
from cases.migrate import migrate
from core.contract import TransactionEvent
from core.settings import Settings
from dashboards.workbench import evidence_table
from detectors import typology_detectors
from streams.pipeline import RawRecord
from streams.testing import InMemoryFeatures, in_memory_processor, run_pipeline

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def deposit(i: int, account: str = "smurf", hours: float = 0, amount: int = 950_000
            ) -> TransactionEvent:
    return TransactionEvent(transaction_id=f"dep-{account}-{i}", event_type="top_up",
                            occurred_at=T0 + timedelta(hours=hours), amount_minor=amount,
                            currency="EUR", account_id=account, country="DE", channel="branch")


def records(events: list[TransactionEvent], first_offset: int = 0) -> list[RawRecord]:
    return [RawRecord(e.model_dump_json().encode(), offset=first_offset + i)
            for i, e in enumerate(events)]


def test_typology_alerts_reach_the_case_store_with_typology_and_evidence(tmp_path):
    events = [deposit(i, hours=10 * i) for i in range(4)] + [
        deposit(i, account="honest", hours=10 * i, amount=120_000) for i in range(4)]
    out = run_pipeline(events, tmp_path, batch_size=3)
    typed = [a for a in out.alerts if a["source"] == "typology:structuring"]
    assert [a["transaction_id"] for a in typed] == ["dep-smurf-2", "dep-smurf-3"]
    store = CaseStore(Settings(data_dir=tmp_path).database_url)
    (alert,) = store.alerts(source="typology:structuring")
    assert alert["entity_id"] == "smurf" and alert["typology"] == "structuring"
    assert alert["hits"] == 2 and 0.5 <= alert["score_max"] <= 1
    case = store.case(alert["case_id"])
    hit = next(e for e in case["evidence"] if e["transaction_id"] == "dep-smurf-3"
               and e["source"] == "typology:structuring")
    assert hit["typology"] == "structuring"
    assert hit["evidence"]["transactions"] == [f"dep-smurf-{i}" for i in range(4)]
    assert not store.alerts(account_id="honest", source="typology:structuring")
    # The case page's evidence table names the pattern next to the reasons.
    table = evidence_table(case["evidence"]).set_index("transaction")
    typed = table[table["pattern"] != ""]
    assert list(typed["pattern"]) == ["structuring: 4 transactions", "structuring: 3 transactions"]
    assert typed["why it alerted"].str.contains("just under the reporting threshold").all()


def test_a_redelivered_batch_adds_no_typology_alert(tmp_path):
    proc = in_memory_processor(Settings(data_dir=tmp_path))
    batch = records([deposit(i, hours=5 * i) for i in range(3)])
    first = proc.commit(InMemoryFeatures().run(batch))
    # Redelivered before the feature state was committed (it was rolled back): the features
    # compute the batch again and every effect sees it a second time.
    again = proc.commit(InMemoryFeatures().run(batch))
    typed = [a for a in first.alerts if a.get("typology") == "structuring"]
    assert len(typed) == 1
    assert [a for a in again.alerts if a.get("typology")] == typed  # the same record again
    with proc.ledger.engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM alert_hits WHERE source = 'typology:structuring'"
        ).scalar() == 1


def test_a_restarted_worker_remembers_the_pattern_from_the_lake(tmp_path):
    settings = Settings(data_dir=tmp_path)
    run_pipeline([deposit(0), deposit(1, hours=20)], tmp_path)  # then the worker stops
    restarted = typology_detectors(settings)  # state rebuilt from the lake
    assert [f[4] for f in restarted.state.flows("smurf")] == ["dep-smurf-0", "dep-smurf-1"]
    (alert,) = restarted.evaluate([deposit(2, hours=30)])
    assert alert["evidence"]["transactions"] == ["dep-smurf-0", "dep-smurf-1", "dep-smurf-2"]
    assert typology_detectors(settings, warm_up=False).evaluate([deposit(2, hours=30)]) == []


def test_migration_c0002_keeps_existing_alerts_and_adds_nullable_columns(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'wb.db'}")
    migrate(engine, "c0001")
    old = CaseStore.__new__(CaseStore)
    old.engine = engine
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO alert_hits (transaction_id, source, account_id, score, amount_minor, "
            "currency, occurred_at, reason_codes) VALUES ('tx-1', 'model', 'a', 0.9, 100, "
            "'EUR', '2026-11-02 09:00:00+00:00', '[]')"))
    migrate(engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT transaction_id, typology, evidence FROM alert_hits")
                           ).one()
    assert tuple(row) == ("tx-1", None, None)
    store = CaseStore(engine)
    evidence = {"transactions": ["tx-2"], "counterparties": []}
    assert store.record_alerts([{
        "transaction_id": "tx-2", "account_id": "a", "merchant_id": None, "score": 0.7,
        "source": "typology:cycle", "model_version": "cycle/1", "amount_minor": 5,
        "currency": "EUR", "occurred_at": T0.isoformat(), "reason_codes": ["money went round"],
        "typology": "cycle", "evidence": evidence}]) == 1
    (hit,) = store.hits_of(["tx-2"])
    assert hit["typology"] == "cycle" and json.loads(hit["evidence"]) == evidence


def test_the_aml_bench_reports_recall_and_false_alerts_per_typology(tmp_path):
    from flowlet.bench.aml import run_aml_bench

    report = run_aml_bench(days=10, customers=300, seed=1, out=tmp_path)
    written = json.loads((tmp_path / "aml_bench.json").read_text())
    assert written == report
    rows = report["typologies"]
    assert set(rows) == {"structuring", "fan_in_fan_out", "pass_through", "cycle", "dormant",
                         "high_risk_corridor"}
    for name in ("structuring", "fan_in_fan_out", "pass_through", "cycle"):
        assert rows[name]["cases"] >= 1 and 0 <= rows[name]["recall"] <= 1
    assert rows["structuring"]["recall"] == 1.0
    # The simulator does not play these two: the bench plants ten cases of each.
    assert report["planted"] == ["dormant", "high_risk_corridor"]
    assert rows["dormant"]["cases"] == rows["high_risk_corridor"]["cases"] == 10
    assert all(r["false_per_1000_accounts_day"] >= 0 for r in rows.values())


def test_a_decision_labels_a_transaction_once_when_the_model_and_a_typology_both_hit_it(
        tmp_path):
    store = CaseStore(f"sqlite:///{tmp_path / 'wb.db'}")
    store.add_user("lea", "lead", "correct horse battery")
    base = {"transaction_id": "tx-1", "account_id": "a", "amount_minor": 5, "currency": "EUR",
            "occurred_at": T0.isoformat(), "score": 0.9}
    store.record_alerts([
        {**base, "merchant_id": "m-1", "source": "model", "model_version": "fraud/1",
         "reason_codes": ["amount_log10:+1"]},
        {**base, "merchant_id": None, "source": "typology:high_risk_corridor",
         "model_version": "high_risk_corridor/1", "reason_codes": ["money DE → IR"],
         "typology": "high_risk_corridor",
         "evidence": {"transactions": ["tx-1"], "counterparties": []}}])
    (case,) = store.cases()
    assert len(store.case(case["case_id"])["evidence"]) == 2
    outcome = store.decide(case["case_id"], "confirmed_fraud", "lea")
    assert [label.labelled_transaction_id for label in outcome.labels] == ["tx-1"]
