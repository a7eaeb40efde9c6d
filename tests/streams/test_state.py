"""The worker's state stores: durable in the database, cached, flushed once per batch."""

from __future__ import annotations

import math

from sqlalchemy import func, select

from core.db import make_engine
from streams.state import StateStore, stream_state


def _stored(engine, name):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(stream_state).where(
            stream_state.c.store == name)).scalar_one()


def test_a_flushed_state_is_read_back_by_another_store(db_url):
    engine = make_engine(db_url)
    writer = StateStore(engine, "account")
    writer.lookup("a-1").update(count=2, mean=float("nan"), series=[[1, 2]])
    writer.lookup("a-2")["count"] = 1
    assert _stored(engine, "account") == 0  # nothing is written before the flush
    writer.flush()
    writer.lookup("a-1")["count"] = 3
    writer.flush()  # an update replaces the stored document

    reader = StateStore(make_engine(db_url), "account")  # as a restarted worker would
    reader.preload(["a-1", "a-2", "a-3"])
    state = reader.lookup("a-1")
    assert state["count"] == 3 and math.isnan(state["mean"]) and state["series"] == [[1, 2]]
    assert reader.lookup("a-3") == {}
    assert StateStore(engine, "entity").lookup("a-1") == {}  # stores do not share keys


def test_unflushed_changes_are_lost_and_deletes_apply_on_flush(db_url):
    engine = make_engine(db_url)
    store = StateStore(engine, "join")
    store.lookup("t-1")["done"] = 1.0
    store.lookup("t-2")["parts"] = {}
    store.flush()
    store.lookup("t-1")["done"] = 2.0  # a crash before the flush: the change is gone
    store.delete_later("t-2")
    restarted = StateStore(engine, "join")
    assert restarted.lookup("t-1") == {"done": 1.0}
    assert restarted.lookup("t-2") == {"parts": {}}
    store.flush()
    assert _stored(engine, "join") == 1
    assert StateStore(engine, "join").lookup("t-2") == {}


def test_a_rebalance_keeps_what_the_running_batch_changed(db_url):
    engine = make_engine(db_url)
    store = StateStore(engine, "account", tidy=lambda s: s.pop("scratch", None))
    store.lookup("a-1")["count"] = 1
    store.flush()
    store.lookup("a-1")["count"] = 2  # the batch in flight when the rebalance starts
    store.lookup("a-1")["scratch"] = True
    store.forget_cached()
    store.flush()
    assert StateStore(engine, "account").lookup("a-1") == {"count": 2}  # tidied, not lost
