"""The worker's state store: durable in the database, cached, one transaction per batch, and
never losing another worker's update."""

from __future__ import annotations

import math
import threading

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
