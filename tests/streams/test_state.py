"""The worker's state store: durable in the database, cached, one transaction per batch, and
never losing another worker's update."""

from __future__ import annotations

import math
import random
import threading
import time

from sqlalchemy import func, select

from core.db import make_engine
from streams.state import StateStore, stream_state


def _stored(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(stream_state)).scalar_one()


def _read(url: str, key: str) -> dict:  # type: ignore[type-arg]
    store = StateStore(make_engine(url))
    store.begin([key])
    try:
        return store.lookup(key)
    finally:
        store.rollback()


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
    store = StateStore(make_engine("sqlite://"), tidy=lambda s: s.pop("scratch", None))
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
    store = StateStore(make_engine("sqlite://"), tidy=lambda s: tidied.append(s["n"]),
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
    reader = StateStore(make_engine(db_url))
    reader.begin(expected)
    try:
        got = {key: reader.lookup(key).get("hits") for key in expected}
    finally:
        reader.rollback()
    assert got == expected


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
