"""The worker's state store: durable in the database, cached, one transaction per batch, and
never losing another worker's update."""

from __future__ import annotations

import math
import random
import threading
import time

from sqlalchemy import func, select

from core.db import make_engine
from features import series as S
from features.online import expire
from streams.pipeline import RawRecord
from streams.stages import featurize, parse_batch, state_keys
from streams.state import LOG_LIMIT, StateStore, stream_state, stream_state_log


def _stored(engine, table=stream_state) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _read(url: str, key: str) -> dict:  # type: ignore[type-arg]
    return StateStore(make_engine(url)).read([key])[key]


def test_a_committed_state_is_read_back_by_another_store(db_url):
    engine = make_engine(db_url)
    writer = StateStore(engine)
    writer.begin(["account:a-1", "account:a-2"])
    writer.lookup("account:a-1").update(count=2, mean=float("nan"), series=[[1, 2]])
    writer.lookup("account:a-2")["count"] = 1
    assert _stored(engine) == 0  # nothing is visible before the commit
    writer.commit()
    writer.begin(["account:a-1"])
    writer.lookup("account:a-1")["count"] = 3
    writer.commit()  # an update replaces the stored document

    state = _read(db_url, "account:a-1")
    assert state["count"] == 3 and math.isnan(state["mean"]) and state["series"] == [[1, 2]]
    assert _read(db_url, "account:a-3") == {}
    assert _stored(engine) == 2


def test_a_rolled_back_batch_leaves_no_trace(db_url):
    engine = make_engine(db_url)
    store = StateStore(engine)
    store.begin(["account:a-1"])
    store.lookup("account:a-1")["count"] = 1
    store.commit()
    store.begin(["account:a-1"])
    store.lookup("account:a-1")["count"] = 2
    store.rollback()  # effects failed: the batch is redelivered
    store.begin(["account:a-1"])
    assert store.lookup("account:a-1") == {"count": 1}  # not the cached, mutated copy
    store.rollback()
    assert _read(db_url, "account:a-1") == {"count": 1}


def test_a_cached_state_another_worker_changed_is_read_again(db_url):
    mine, theirs = StateStore(make_engine(db_url)), StateStore(make_engine(db_url))
    for store in (mine, theirs, mine):  # each adds one hit to the merchant's count
        store.begin(["merchant:m-1"])
        state = store.lookup("merchant:m-1")
        state["hits"] = state.get("hits", 0) + 1
        store.commit()
    assert _read(db_url, "merchant:m-1") == {"hits": 3}


def test_two_workers_on_a_new_key_do_not_lose_an_update(db_url):
    # The second begin() waits for the first batch's commit (row lock / SQLite write lock).
    first, second = StateStore(make_engine(db_url)), StateStore(make_engine(db_url))
    first.begin(["merchant:m-1"])
    first.lookup("merchant:m-1")["hits"] = 1
    done = threading.Event()

    def other_worker() -> None:
        second.begin(["merchant:m-1"])
        state = second.lookup("merchant:m-1")
        state["hits"] = state.get("hits", 0) + 1
        second.commit()
        done.set()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        blocked = not done.wait(0.5)  # behind the open batch
    finally:
        first.commit()
        thread.join(30)
    assert blocked
    assert done.is_set()
    assert _read(db_url, "merchant:m-1") == {"hits": 2}


def test_tidy_runs_on_what_is_written():
    store = StateStore(make_engine("sqlite://"), tidy=lambda s, _: s.pop("scratch", None))
    store.begin(["k"])
    store.lookup("k").update(keep=1, scratch=2)
    store.commit()
    store.forget_cached()
    store.begin(["k"])
    assert store.lookup("k") == {"keep": 1}
    store.rollback()


def test_tidy_runs_at_most_once_per_interval_per_key():
    now = [0.0]
    tidied: list[int] = []
    store = StateStore(make_engine("sqlite://"), tidy=lambda s, _: tidied.append(s["n"]),
                       tidy_seconds=30.0, clock=lambda: now[0])

    def write(n: int) -> None:
        store.begin(["k"])
        store.lookup("k")["n"] = n
        store.commit()

    write(1)  # first write of the key: tidied
    now[0] = 10.0
    write(2)  # 10 s later: not yet
    now[0] = 30.0
    write(3)  # 30 s after the last tidy: tidied again
    assert tidied == [1, 3]


def test_workers_locking_overlapping_new_and_stored_keys_never_deadlock(db_url):
    # Two workers' batches as at a pipeline's start: each its own new accounts, shared
    # merchants and devices, new and stored mixed, more keys than one lock chunk. Locking a
    # chunk's stored rows before creating its missing ones took locks out of key order, and
    # PostgreSQL broke the cycle (the worker died: every run of this test did, measured);
    # now no lock is broken, so no retry is needed either.
    stores = [StateStore(make_engine(db_url)) for _ in range(2)]
    expected: dict[str, int] = {}
    plans: list[list[list[str]]] = []
    for worker in range(2):
        rng, batches = random.Random(worker), []
        for batch in range(15):
            keys = [f"account:acc-{worker}-{batch}-{i}" for i in range(300)]
            keys += [f"merchant:m-{i:04d}" for i in rng.sample(range(3000), 400)]
            keys += [f"device:d-{i:04d}" for i in rng.sample(range(1500), 200)]
            batches.append(keys)
            for key in keys:
                expected[key] = expected.get(key, 0) + 1
        plans.append(batches)
    errors: list[BaseException] = []

    def work(store: StateStore, batches: list[list[str]]) -> None:
        try:
            for keys in batches:
                store.begin(keys)
                for key in keys:
                    state = store.lookup(key)
                    state["hits"] = state.get("hits", 0) + 1
                time.sleep(0.02)  # hold the locks a little, as a batch's effects do
                store.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s, b))
               for s, b in zip(stores, plans, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert [s.lock_retries for s in stores] == [0, 0]
    stored = StateStore(make_engine(db_url)).read(expected)
    assert {key: state.get("hits") for key, state in stored.items()} == expected


def test_a_lock_the_database_broke_is_retried_and_other_errors_are_not(monkeypatch):
    from sqlalchemy.exc import OperationalError

    class Broken(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    store = StateStore(make_engine("sqlite://"))
    real_begin, failures = store._begin, ["40P01", "40001"]

    def flaky_begin(keys: list[str]) -> None:
        if failures:
            raise OperationalError("SELECT ... FOR UPDATE", {}, Broken(failures.pop(0)))
        real_begin(keys)

    monkeypatch.setattr(store, "_begin", flaky_begin)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    store.begin(["k"])  # a deadlock, then a serialization failure, then it locks
    store.lookup("k")["n"] = 1
    store.commit()
    assert store.lock_retries == 2

    failures.append("53300")  # too many connections: not a lock, not retried
    try:
        store.begin(["k"])
    except OperationalError as error:
        assert error.orig.sqlstate == "53300"
    else:
        raise AssertionError("a non-lock error was swallowed")
    assert store.lock_retries == 2


def test_a_batch_writes_its_change_and_the_log_is_folded_into_the_base(db_url):
    engine = make_engine(db_url)
    store = StateStore(engine)
    for n in range(LOG_LIMIT + 2):
        store.begin(["merchant:m-1"])
        state = store.lookup("merchant:m-1")
        if n == 0:
            state.update(m=S.new_series(), applied={})
            for t in range(3000):  # a history much larger than one batch's change
                S.append(state["m"], t, 10, max_windows=(60,))
        S.append(state["m"], 3000 + n, 10, max_windows=(60,))
        state["applied"][f"merchant:t{n}"] = float(n)
        store.commit()
        logged = _stored(engine, stream_state_log)
        if n == 0:
            assert logged == 0  # a new key is written whole
        elif n <= LOG_LIMIT:
            assert logged == n  # one change per batch
        else:
            assert logged == 0  # the log reached LOG_LIMIT: folded into the base
        assert repr(_read(db_url, "merchant:m-1")) == repr(state)
    assert store.writes["changes"] == LOG_LIMIT and store.writes["whole"] == 2
    assert store.writes["change_bytes"] / LOG_LIMIT < store.writes["whole_bytes"] / 20


def test_a_log_as_large_as_its_base_is_folded():
    engine = make_engine("sqlite://")
    store = StateStore(engine)
    for n, logged in enumerate((0, 1, 0)):
        store.begin(["k"])
        store.lookup("k")[f"v{n}"] = "x" * 1000 * n  # the second change outweighs the base
        store.commit()
        assert _stored(engine, stream_state_log) == logged, n
    assert store.writes == {"changes": 1, "whole": 2, "change_bytes": store.writes[
        "change_bytes"], "whole_bytes": store.writes["whole_bytes"]}


def _records(events) -> list[RawRecord]:  # type: ignore[no-untyped-def]
    return [RawRecord(e.model_dump_json().encode(), partition=0, offset=i)
            for i, e in enumerate(events)]


def test_a_restarted_worker_reads_back_exactly_the_states_it_held(db_url):
    """The worker's batches (features, labels, redeliveries, tidies every 30 s of a fake
    clock) through a store; a new store (a restarted worker) reads every state from base +
    log equal to the writer's, key order included."""
    from datetime import UTC, datetime, timedelta

    from simulator import Simulator, label_events

    end = datetime(2026, 6, 1, tzinfo=UTC)
    txs = Simulator(seed=5, n_accounts=30, n_merchants=5, fraud_share=0.05).generate(
        1500, end - timedelta(days=40), end)
    items = sorted([(t.event.occurred_at, 1, i, t.event) for i, t in enumerate(txs)]
                   + [(lab.occurred_at, 0, i, lab) for i, lab in enumerate(label_events(
                       txs, seed=5)) if lab.occurred_at < end], key=lambda x: x[:3])
    records = _records([item for *_, item in items])
    now = [0.0]
    writer = StateStore(make_engine(db_url), tidy=expire, clock=lambda: now[0],
                        wall=lambda: 1.7e9 + now[0])
    for n, start in enumerate(range(0, len(records), 100)):
        now[0] = 12.0 * n
        batch = records[start:start + 100] + records[max(0, start - 20):start]  # redelivered
        parsed = parse_batch(batch)
        writer.begin(state_keys(parsed.items))
        featurize(parsed, writer.lookup, 1.7e9 + now[0])
        writer.commit()
    assert writer.writes["changes"] > writer.writes["whole"]
    keys = sorted(writer._cache)
    reader = StateStore(make_engine(db_url), tidy=expire)
    reader.begin(keys)
    try:
        rebuilt = {k: reader.lookup(k) for k in keys}
    finally:
        reader.rollback()
    assert repr(rebuilt) == repr({k: writer._cache[k].state for k in keys})
    assert any(st.get("labels") for st in rebuilt.values())
    # the log carries tidies: a store that could not replay them refuses to read
    blind = StateStore(make_engine(db_url))
    try:
        blind.begin(keys)
        raised = False
    except ValueError:
        raised = True
    assert raised


def test_a_worker_that_waited_for_a_lock_sees_the_change_written_meanwhile(db_url):
    # A change is a log row; the base row stays as it was. A worker whose locking statement
    # waited behind another's batch read the log through that statement's old snapshot: it
    # took the key's version for unchanged and wrote the same version again (PostgreSQL:
    # duplicate key in stream_state_log, the worker died in the two-worker bench).
    key = "merchant:m-1"
    mine, theirs = StateStore(make_engine(db_url)), StateStore(make_engine(db_url))
    for _ in range(2):  # a base, then a change: the key has a log
        mine.begin([key])
        state = mine.lookup(key)
        state["hits"] = state.get("hits", 0) + 1
        mine.commit()
    theirs.begin([key])  # caches the key at its current version
    theirs.commit()
    mine.begin([key])
    done = threading.Event()

    def other_worker() -> None:
        theirs.begin([key])  # waits for mine's batch
        state = theirs.lookup(key)
        state["hits"] = state.get("hits", 0) + 1
        theirs.commit()
        done.set()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        blocked = not done.wait(0.5)
        state = mine.lookup(key)
        state["hits"] += 1
    finally:
        mine.commit()
        thread.join(30)
    assert blocked and done.is_set()
    assert _read(db_url, key) == {"hits": 4}
