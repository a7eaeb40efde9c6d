"""Recording a batch of alerts in bulk leaves the store exactly as recording its hits one at a
time would, a redelivered batch changes nothing, and two workers adding hits to the same open
alerts at once lose none (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from cases import CaseStore
from cases.schema import alert_hits, alerts, cases

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def hit(tx: str, account: str, source: str = "model", score: float = 0.9, minute: int = 0,
        amount: int = 1_000, risk: str | None = None, version: str = "flowlet-fraud/3") -> dict:
    return {"transaction_id": tx, "account_id": account, "merchant_id": "mer-1",
            "score": score, "source": source, "model_version": version,
            "amount_minor": amount, "currency": "EUR",
            "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
            "reason_codes": [f"reason-of-{tx}"], "customer_risk": risk}


def mixed_batch(seed: int, n: int = 160) -> list[dict]:
    """Hits on few accounts and two sources (so most keys get several hits), in no time order,
    with equal scores now and then, risk bands that change, two model versions, and repeats
    of a (transaction, source) with other content (the first one counts)."""
    rng = random.Random(seed)
    batch = [hit(f"tx-{seed}-{i}", f"acc-{rng.randrange(6)}", rng.choice(("model", "rule")),
                 score=rng.choice((0.6, 0.7, 0.8, 0.8, 0.9, 0.95)), minute=rng.randrange(600),
                 amount=rng.randrange(100, 90_000),
                 risk=rng.choice((None, "low", "medium", "high")),
                 version=rng.choice(("flowlet-fraud/3", "flowlet-fraud/4")))
             for i in range(n)]
    for i in rng.sample(range(n), 15):
        batch.insert(rng.randrange(i + 1, len(batch) + 1),
                     {**batch[i], "score": 0.99, "amount_minor": 7})
    return batch


def contents(store: CaseStore) -> dict[str, list[Any]]:
    """The three tables a recording writes, each sorted; a case is named by its account and
    state (its id and times come from the clock of the batch that opened it), and an alert's
    ``closed_at`` (the decision's clock) is only whether it is set."""
    with store.engine.connect() as conn:
        case_of = {r.case_id: (r.account_id, r.state) for r in conn.execute(select(cases))}
        return {
            "alerts": sorted(({**r._mapping, "case_id": case_of[r.case_id],
                               "closed_at": r.closed_at is not None}
                              for r in conn.execute(select(alerts))),
                             key=lambda a: a["alert_id"]),
            "alert_hits": sorted(tuple(r) for r in conn.execute(select(alert_hits))),
            "cases": sorted((r.account_id, r.state, r.assignee, r.decision)
                            for r in conn.execute(select(cases))),
        }


def clear(store: CaseStore) -> None:
    with store.engine.begin() as conn:
        for table in (alert_hits, alerts, cases):
            conn.execute(delete(table))


def test_a_batch_leaves_the_store_as_its_hits_recorded_one_at_a_time(db_url):
    store = CaseStore(db_url)
    earlier = [hit("tx-early-1", "acc-1", score=0.85), hit("tx-early-2", "acc-2", "rule")]
    batch = mixed_batch(seed=1)
    assert len({(h["transaction_id"], h["source"]) for h in batch}) < len(batch)

    def decide_acc_3() -> None:  # a decided case: acc-3's next hits open a new one
        (case,) = [c for c in store.cases() if c["account_id"] == "acc-3"]
        store.decide(case["case_id"], "not_fraud", "lea")

    store.add_user("lea", "lead", "correct horse battery")
    store.record_alerts(earlier + [hit("tx-early-3", "acc-3")])
    decide_acc_3()
    distinct = len({(h["transaction_id"], h["source"]) for h in batch})
    assert store.record_alerts(batch) == distinct
    in_bulk = contents(store)

    clear(store)
    store.record_alerts(earlier + [hit("tx-early-3", "acc-3")])
    decide_acc_3()
    assert sum(store.record_alerts([h]) for h in batch) == distinct
    one_by_one = contents(store)

    assert in_bulk == one_by_one
    # the batch folded many hits onto alerts it found (acc-1 model, acc-2 rule) and onto ones
    # it opened, acc-3's in a new case next to its decided one
    by_key = {(a["entity_id"], a["source"], a["status"]): a for a in in_bulk["alerts"]}
    assert by_key["acc-1", "model", "open"]["hits"] > 5
    assert by_key["acc-2", "rule", "open"]["hits"] > 5
    assert by_key["acc-3", "model", "closed"]["case_id"] == ("acc-3", "decided")
    assert by_key["acc-3", "model", "open"]["case_id"] == ("acc-3", "new")
    assert by_key["acc-3", "model", "open"]["hits"] > 5


def test_a_redelivered_batch_changes_nothing(db_url):
    store = CaseStore(db_url)
    batch = mixed_batch(seed=2)
    first = store.record_alerts(batch)
    assert first > 0
    before = contents(store)
    with store.engine.connect() as conn:
        case_rows = sorted(tuple(r) for r in conn.execute(select(cases)))
    assert store.record_alerts(batch) == 0
    assert store.record_alerts(list(reversed(batch[:40])) + batch[:40]) == 0
    assert contents(store) == before
    with store.engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(select(cases))) == case_rows


def test_two_workers_on_the_same_alerts_lose_no_hit_and_do_not_deadlock(db_url):
    """Both workers, batch after batch, open alerts on the same 50 keys at once, then add
    hits to them: every hit must count (a read-then-write without a lock loses the other's)
    and neither may deadlock (on PostgreSQL, the loser of an alert insert locking the
    winner's alert late, out of key order, did in 3 runs of 4 without the key locks)."""
    first, second = CaseStore(db_url), CaseStore(db_url)
    errors: list[BaseException] = []
    recorded = [0, 0]

    def run(store: CaseStore, worker: int) -> None:
        rng = random.Random(worker)
        try:
            for b in range(30):
                batch = [hit(f"tx-w{worker}-{b}-{i}", f"acc-{rng.randrange(25)}",
                             rng.choice(("model", "rule")))
                         for i in range(60)]
                recorded[worker] += store.record_alerts(batch + rng.sample(batch, 5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, w)) for w, s in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert recorded == [30 * 60, 30 * 60]
    opened = first.alerts(limit=1_000)
    keys = [(a["entity_id"], a["source"]) for a in opened]
    assert len(keys) == len(set(keys)) == 50  # one open alert per key
    assert sum(a["hits"] for a in opened) == 2 * 30 * 60
    with first.engine.connect() as conn:
        pointed = conn.execute(select(alert_hits.c.alert_id)).scalars().all()
    assert sorted(set(pointed)) == sorted(a["alert_id"] for a in opened)
    assert len(first.cases(limit=1_000)) == len({a for a, _ in keys})
