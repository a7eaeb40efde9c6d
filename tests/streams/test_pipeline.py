import json
from datetime import UTC, datetime, timedelta

from core.lake import connect
from core.settings import Settings
from ledger import Ledger
from simulator import Simulator
from streams.pipeline import RawRecord
from streams.testing import InMemoryFeatures, RuleScorer, in_memory_processor, run_pipeline

T0 = datetime(2026, 5, 1, tzinfo=UTC)
EVENTS = [t.event for t in Simulator(seed=2, n_accounts=40, n_merchants=10).generate(
    600, T0, T0 + timedelta(hours=12))]


def test_run_pipeline_posts_scores_and_sinks_each_transaction_once(tmp_path):
    bad = [b"{", json.dumps({"transaction_id": "x"}).encode(), b"\x00"]
    out = run_pipeline(EVENTS + EVENTS[:50] + bad, tmp_path, batch_size=128)
    assert out.posted == 600
    assert out.lake_rows == 600
    assert len(out.dead_letters) == 3
    missing = out.dead_letters[1]
    assert "event_type: Field required" in missing.reason
    assert dict(missing.headers)["error.class"] == b"ValidationError"
    con = connect(tmp_path / "lake")
    n, distinct, versions = con.sql("select count(*), count(distinct transaction_id), "
                                    "list(distinct model_version) from transactions").fetchall()[0]
    assert (n, distinct, versions) == (600, 600, ["rules/1"])
    ledger = Ledger.from_url(Settings(data_dir=tmp_path).database_url)
    assert set(ledger.trial_balance().values()) == {0}


class _Processor:
    """The effects processor plus the in-memory feature stages feeding it."""

    def __init__(self, tmp_path):
        self.inner = in_memory_processor(Settings(data_dir=tmp_path))
        self.topology = InMemoryFeatures()

    def prepare(self, records):
        return self.topology.run(records)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def ledger(self):
        return self.inner.ledger

    @ledger.setter
    def ledger(self, value):
        self.inner.ledger = value


def _processor(tmp_path):
    return _Processor(tmp_path)


def test_a_redelivered_batch_changes_nothing(tmp_path):
    proc = _processor(tmp_path)
    records = [RawRecord(e.model_dump_json().encode(), offset=i) for i, e in enumerate(EVENTS)]
    first_prepared = proc.prepare(records[:300])
    first = proc.commit(first_prepared)
    states_after = json.dumps(proc.topology.states, sort_keys=True)
    # Redelivered after its states were persisted: every stage knows it applied them.
    assert proc.prepare(records[:300]).events == []
    assert json.dumps(proc.topology.states, sort_keys=True) == states_after
    # Redelivered after a crash that lost the states' last write: recomputed from the same
    # state, the vectors are the same, and the effects deduplicate in the database.
    proc.topology = InMemoryFeatures()
    again_prepared = proc.prepare(records[:300])
    assert again_prepared.vectors == first_prepared.vectors
    again = proc.commit(again_prepared)
    assert (first.posted, again.posted, again.duplicates, again.lake_rows) == (300, 0, 300, 0)
    assert [r["score"] for r in again.rows] == [r["score"] for r in first.rows]


def test_lake_claims_roll_back_when_the_file_write_fails(tmp_path, monkeypatch):
    proc = _processor(tmp_path)
    records = [RawRecord(e.model_dump_json().encode()) for e in EVENTS[:100]]
    prepared = proc.prepare(records)

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(proc.sink, "_write_files", boom)
    try:
        proc.commit(prepared)
    except OSError:
        pass
    monkeypatch.undo()
    out = proc.commit(prepared)  # the redelivery writes the rows: nothing was lost
    assert out.lake_rows == 100
    assert connect(tmp_path / "lake").sql("select count(*) from transactions").fetchall() == [
        (100,)]


def test_alerts_carry_score_and_model_version(tmp_path):
    out = run_pipeline(EVENTS, tmp_path)
    model_alerts = [a for a in out.alerts if a["source"] == "model"]  # not the detectors'
    assert model_alerts, "the rule scorer flags large, fast spenders"
    for alert in model_alerts:
        assert alert["score"] >= Settings().alert_threshold
        assert alert["model_version"] == "rules/1"
        assert alert["alert_id"] == f"alert-{alert['transaction_id']}"


def test_alerts_and_lake_use_the_models_own_threshold(tmp_path):
    """A model declaring its own cut-off (the ensemble's validation-chosen one) decides the
    alerts, the alert payloads and the lake's is_alert, not ``Settings.alert_threshold``."""
    own = 0.8
    assert own != Settings().alert_threshold
    out = run_pipeline(EVENTS, tmp_path, scorer=RuleScorer(alert_threshold=own))
    model_alerts = [a for a in out.alerts if a["source"] == "model"]
    assert model_alerts and all(a["alert_threshold"] == own and a["score"] >= own
                                for a in model_alerts)
    con = connect(tmp_path / "lake")
    alerts, mismatched, between = con.execute(
        "select count(*) filter (where is_alert), count(*) filter (where is_alert <> "
        "(score >= ?)), count(*) filter (where score >= ? and score < ?) from transactions",
        [own, Settings().alert_threshold, own]).fetchall()[0]
    assert (alerts, mismatched) == (len(model_alerts), 0)
    assert between > 0  # rows the fallback threshold would have alerted on


class _FlakyLedger:
    """Wraps a ledger: fails transiently N times, or always for one poison transaction."""

    def __init__(self, inner, transient_failures=0, poison=None):
        self.inner, self.transient_failures, self.poison = inner, transient_failures, poison

    def post_batch(self, events, shard=0):
        from sqlalchemy.exc import OperationalError

        if self.transient_failures:
            self.transient_failures -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        if any(e.transaction_id == self.poison for e in events):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return self.inner.post_batch(events, shard=shard)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_poison_event_is_dead_lettered_and_the_rest_of_the_batch_lands(tmp_path):
    proc = _processor(tmp_path)
    poison = EVENTS[7].transaction_id
    proc.ledger = _FlakyLedger(proc.ledger, poison=poison)
    records = [RawRecord(e.model_dump_json().encode(), offset=i)
               for i, e in enumerate(EVENTS[:50])]
    out = proc.commit_resilient(proc.prepare(records), backoff_seconds=0)
    assert [d.value for d in out.dead_letters] == [records[7].value]
    assert "OverflowError" in out.dead_letters[0].reason
    assert out.posted + out.rejected == 49 and out.lake_rows == 49


def test_transient_errors_are_retried_then_fatal(tmp_path):
    import pytest

    from streams.pipeline import FatalPipelineError

    proc = _processor(tmp_path)
    records = [RawRecord(e.model_dump_json().encode()) for e in EVENTS[:20]]
    proc.ledger = _FlakyLedger(proc.ledger, transient_failures=2)
    out = proc.commit_resilient(proc.prepare(records), backoff_seconds=0)
    assert out.posted + out.rejected == 20
    proc.ledger = _FlakyLedger(proc.ledger.inner, transient_failures=99)
    more = [RawRecord(e.model_dump_json().encode()) for e in EVENTS[20:40]]
    with pytest.raises(FatalPipelineError):
        proc.commit_resilient(proc.prepare(more), retries=3, backoff_seconds=0)


def test_in_batch_duplicates_are_counted(tmp_path):
    out = run_pipeline(EVENTS[:10] + EVENTS[:3], tmp_path)
    assert out.duplicates == 3


def test_alerts_and_lake_rows_carry_reason_codes_and_member_scores(tmp_path):
    out = run_pipeline(EVENTS, tmp_path)
    model_alerts = [a for a in out.alerts if a["source"] == "model"]
    assert model_alerts
    for alert in model_alerts:
        assert alert["alert_threshold"] == 0.5
        assert alert["reason_codes"], alert
        assert all(code.split(":")[0] in {"amount_log10", "acct_count_1h"}
                   and float(code.split(":")[1]) > 0 for code in alert["reason_codes"])
    assert out.scored_by == {"rules/1": 600}
    con = connect(tmp_path / "lake")
    explained, alerts, unexplained_alerts, anomaly, shadow = con.sql(
        """select count(*) filter (where reason_codes is not null),
                  count(*) filter (where is_alert),
                  count(*) filter (where is_alert and len(reason_codes) = 0),
                  count(score_anomaly), count(shadow_score) + count(shadow_model_version)
           from transactions""").fetchall()[0]
    assert (explained, unexplained_alerts, anomaly, shadow) == (alerts, 0, 0, 0)
    (first,) = con.sql("select reason_codes[1] from transactions where is_alert "
                       "order by score desc limit 1").fetchall()[0]
    assert first.startswith("amount_log10:+")


class _ShadowedRules:
    """The rule scorer with a 'challenger' that scores everything 0.99, in shadow."""

    def __init__(self):
        from streams.testing import RuleScorer

        self.inner = RuleScorer()

    def score(self, features):
        import dataclasses

        import numpy as np

        batch = self.inner.score(features)
        return dataclasses.replace(batch, shadow_score=np.full(len(batch), 0.99),
                                   shadow_model_version="2")

    def stats(self):
        return self.inner.stats()


def test_shadow_scores_reach_the_lake_but_never_raise_alerts(tmp_path):
    plain = run_pipeline(EVENTS[:200], tmp_path / "plain")
    out = run_pipeline(EVENTS[:200], tmp_path / "shadow", scorer=_ShadowedRules())
    assert len(out.alerts) == len(plain.alerts) < 200
    con = connect(tmp_path / "shadow" / "lake")
    assert con.sql("select count(*), min(shadow_score), list(distinct shadow_model_version) "
                   "from transactions").fetchall() == [(200, 0.99, ["rules/2"])]



def test_the_stream_stages_compute_what_online_features_compute():
    """The worker's message path (account → entity → join over partitions and messages) and
    ``OnlineFeatures`` (one record at a time) run the same stage functions: same vectors, and
    the very same states, labels included."""
    import math

    from features.online import OnlineFeatures
    from simulator import Simulator, label_events

    txs = Simulator(seed=12, n_accounts=40, n_merchants=8, fraud_share=0.05).generate(
        1500, T0 - timedelta(days=20), T0)
    labels = label_events(txs, seed=12)
    replay = sorted([(t.event.occurred_at, 1, i, t.event) for i, t in enumerate(txs)]
                    + [(lab.occurred_at, 0, i, lab) for i, lab in enumerate(labels)
                       if lab.occurred_at < T0], key=lambda x: x[:3])
    assert sum(kind == 0 for _, kind, _, _ in replay) > 20
    topology, online = InMemoryFeatures(), OnlineFeatures()
    records = [RawRecord(item.model_dump_json().encode()) for *_, item in replay]
    streamed = {}
    for start in range(0, len(records), 128):
        batch = topology.run(records[start:start + 128])
        streamed.update(zip((e.transaction_id for e in batch.events), batch.vectors,
                            strict=True))
    direct = {}
    for _, kind, _, item in replay:
        if kind == 0:
            online.label(item.model_dump())
        else:
            direct[item.transaction_id] = online.process(item.model_dump())
    assert streamed.keys() == direct.keys() and len(direct) == 1500
    differ = [(tid, name) for tid, vector in direct.items() for name, want in vector.items()
              if not (want == streamed[tid][name]
                      or math.isnan(want) and math.isnan(streamed[tid][name]))]
    assert differ == []
    assert topology.states == online.states
    for space in ("merchant", "device", "net"):  # labels reached every state they name
        assert any(st.get("labels") for key, st in online.states.items()
                   if key.startswith(f"{space}:")), space


def test_a_batch_locks_the_states_its_labels_reach():
    """A label is applied to its merchant's, device's and payee's states, which live under
    other stage keys than the label's account: the batch locks them up front."""
    from core.contract import label_for
    from streams.stages import parse_batch, state_keys

    transfer = type(EVENTS[0]).model_validate({
        **EVENTS[0].model_dump(), "event_type": "p2p_transfer",
        "counterparty_account_id": "acc-payee", "merchant_id": "mer-x", "device_id": "dev-x"})
    lab = label_for(transfer, label_id="lab-1", occurred_at=T0, is_fraud=True)
    parsed = parse_batch([RawRecord(lab.model_dump_json().encode())])
    assert state_keys(parsed.items) == ["device:dev-x", "merchant:mer-x", "net:acc-payee"]
    features = InMemoryFeatures()
    features.run([RawRecord(lab.model_dump_json().encode())])
    again = dict(features.states)
    features.run([RawRecord(lab.model_dump_json().encode())])  # redelivered: nothing changes
    assert features.states == again and sorted(again) == state_keys(parsed.items)


class LargeAmountSource:
    """An alert source raising one alert per transaction above 500.00."""

    def evaluate(self, events, features, rows):
        assert len(features) == len(rows) == len(events)
        return [{**row, "alert_id": f"big-{row['transaction_id']}", "source": "rule:big",
                 "model_version": "big/1", "score": 1.0, "reason_codes": ["amount"],
                 "occurred_at": row["occurred_at"].isoformat()}
                for row in rows if row["amount_minor"] > 50_000]


def test_alert_sources_add_their_alerts_to_the_models_and_the_store(tmp_path):
    settings = Settings(data_dir=tmp_path)
    proc = in_memory_processor(settings)
    proc.alert_sources = [LargeAmountSource()]
    records = [RawRecord(e.model_dump_json().encode(), offset=i) for i, e in enumerate(EVENTS)]
    out = proc.commit(InMemoryFeatures().run(records))
    big = [a for a in out.alerts if a["source"] == "rule:big"]
    assert big and len(big) == sum(e.amount_minor > 50_000 for e in EVENTS)
    with proc.ledger.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM alert_hits WHERE source = 'rule:big'").scalar()
    assert stored == len(big)


def test_an_unknown_country_is_dead_lettered_naming_the_field_and_the_rest_lands(tmp_path):
    kenya = EVENTS[3].model_copy(update={"transaction_id": "tx-ke", "country": "KE"})
    bad = json.loads(EVENTS[5].model_dump_json()) | {"transaction_id": "tx-xx", "country": "XX"}
    out = run_pipeline([*EVENTS[:20], kenya, json.dumps(bad).encode()], tmp_path)
    assert out.posted + out.rejected == 21 and out.lake_rows == 21
    (dead,) = out.dead_letters
    assert dead.reason.startswith("country: ")
    assert "'XX' is not an ISO 3166-1 alpha-2" in dead.reason
    assert dict(dead.headers)["error.class"] == b"ValidationError"
