"""A batch's change to an entity's state, replayed onto the state as it was, rebuilds exactly
the writer's state — key order included — through labels, redeliveries and tidies."""

from __future__ import annotations

import copy
import marshal
from datetime import UTC, datetime, timedelta

from features import series as S
from features.online import OnlineFeatures, expire
from features.state_delta import apply, changes, mark
from simulator import Simulator, label_events

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _replay() -> list:  # type: ignore[type-arg]
    """Transactions and their labels in time order (labels first at equal times)."""
    txs = Simulator(seed=21, n_accounts=30, n_merchants=6, fraud_share=0.05).generate(
        1200, T0 - timedelta(days=40), T0)
    labels = label_events(txs, seed=21)
    items = sorted([(t.event.occurred_at, 1, i, t.event) for i, t in enumerate(txs)]
                   + [(lab.occurred_at, 0, i, lab) for i, lab in enumerate(labels)
                      if lab.occurred_at < T0], key=lambda x: x[:3])
    return [(kind, item.model_dump()) for *_, kind, _, item in items]


def test_changes_replayed_onto_the_marked_states_rebuild_them_exactly():
    writer = OnlineFeatures()
    reader: dict[str, dict] = {}  # type: ignore[type-arg]
    items = _replay()
    sizes = {"changes": 0, "states": 0}
    for n, start in enumerate(range(0, len(items), 100)):
        marks = {key: mark(state) for key, state in writer.states.items()}
        processed_at = 1000.0 * n  # an hour of applied marks is ~4 batches here
        for kind, item in items[start:start + 100]:
            if kind == 0:
                writer.label(item)
            else:
                writer.process(item, processed_at)
        for key, state in writer.states.items():
            change = copy.deepcopy(changes(state, marks.get(key, {})))  # as stored, detached
            if n >= 4:  # once the states hold a history
                sizes["changes"] += len(marshal.dumps(change, 4))
                sizes["states"] += len(marshal.dumps(state, 4))
            if n % 3 == 2:  # a tidy after the change, replayed after it
                expire(state, processed_at)
            rebuilt = reader.setdefault(key, {})
            apply(rebuilt, change)
            if n % 3 == 2:
                expire(rebuilt, processed_at)
        assert repr(reader) == repr(writer.states)  # values and every dict's key order
    assert sizes["changes"] * 4 < sizes["states"]  # the changes, not the states, were carried
    assert any(st.get("labels") for st in writer.states.values())


def test_a_redelivered_batch_changes_no_series_and_adds_no_mark():
    online = OnlineFeatures()
    events = [item for kind, item in _replay()[:200] if kind == 1]
    for ev in events:
        online.process(ev, 1.0)
    marks = {key: mark(state) for key, state in online.states.items()}
    for ev in events:  # redelivered
        online.process(ev, 2.0)
    for key, state in online.states.items():
        change = changes(state, marks[key])
        assert all(not tail for tails, _ in change["tails"].values() for tail in tails.values())
        assert all(not added for added in change["added"].values()), key


def test_a_series_cut_at_the_front_is_carried_whole():
    state = {"m": S.new_series(), "applied": {"merchant:t1": 1.0, "merchant:t2": 2.0}}
    for t in (1, 2, 3):
        S.append(state["m"], t, 10)
    marks = mark(state)
    S.prune(state["m"], 1)  # only a tidy cuts: the writer's own doing, carried whole
    S.append(state["m"], 4, 10)
    del state["applied"]["merchant:t1"]
    state["applied"]["merchant:t3"] = 3.0
    change = changes(state, marks)
    assert change["whole"] == {"m": state["m"], "applied": state["applied"]}
    rebuilt = {"m": S.new_series(), "applied": {"merchant:t1": 1.0, "merchant:t2": 2.0}}
    for t in (1, 2, 3):
        S.append(rebuilt["m"], t, 10)
    apply(rebuilt, change)
    assert rebuilt == state


def test_a_key_gone_is_named_and_dropped():
    state = {"a": 1, "b": {"x": 1}}
    marks = mark(state)
    del state["b"]
    state["c"] = 2
    change = changes(state, marks)
    assert change["gone"] == ["b"]
    rebuilt = {"a": 1, "b": {"x": 1}}
    apply(rebuilt, change)
    assert repr(rebuilt) == repr(state)
