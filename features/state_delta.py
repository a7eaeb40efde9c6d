"""What a batch changed in an entity's feature state, as a small document, and how to apply it.

The stream stores a state as a base document plus the changes of the batches since
(``streams.state``): re-encoding a busy merchant's whole state — up to 37 days of series and
a mark per applied transaction — in every batch made the cost of a batch's state write grow
with the entity's history instead of with what the batch did. What makes the changes small is
how :mod:`features.online` mutates a state between two tidies (:func:`features.online.expire`,
which the store runs and records, so a reader replays it at the same point):

- a series' lists (:data:`features.series.APPEND_ONLY`: times, running totals, ids) only grow
  at the end, so the change is their tail;
- the applied marks (:data:`features.online.INSERT_ONLY`) only gain keys, so the change is the
  keys added (a dict keeps insertion order: the last ones);
- everything else — clock, histograms, the memories of ``Distinct``/``FirstSeen`` columns,
  labels, a series' maxima deques and totals before its first entry — is bounded by distinct
  counterparts or by windows, not by events, and is carried whole.

:func:`mark` records, after a write, how long each append-only part is (and its first element,
so a part cut at the front is noticed and carried whole instead); :func:`changes` is the state
against those marks; :func:`apply` replays a change onto the state as it was when marked, key
order included, so a reader rebuilds exactly the writer's state.

>>> from features import series as S
>>> state = {"clock": 5, "m": S.new_series(), "applied": {}}
>>> S.append(state["m"], 5, 100); state["applied"]["merchant:t1"] = 1.0
>>> marks = mark(state)
>>> S.append(state["m"], 7, 40); state["applied"]["merchant:t2"] = 2.0; state["clock"] = 7
>>> change = changes(state, marks)
>>> change["tails"]["m"][0], change["added"]
({'t': [7], 'a': [140], 'f': [0]}, {'applied': [('merchant:t2', 2.0)]})
>>> old = {"clock": 5, "m": S.new_series(), "applied": {"merchant:t1": 1.0}}
>>> S.append(old["m"], 5, 100); apply(old, change); old == state
True
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from features.online import INSERT_ONLY
from features.series import APPEND_ONLY, is_series

#: Per state key: for a series, each append-only list's (length, first element); for an
#: insert-only dict, its (length, first key); for anything else, None (carried whole).
Marks = dict[str, Any]
_SERIES, _DICT = 0, 1


def _head(items: Any) -> Any:
    return next(iter(items), None)


def mark(state: dict[str, Any]) -> Marks:
    """The lengths :func:`changes` compares with (O(number of the state's keys))."""
    marks: Marks = {}
    for key, value in state.items():
        if is_series(value):
            marks[key] = (_SERIES, {f: (len(value[f]), _head(value[f]))
                                    for f in APPEND_ONLY if f in value})
        elif key in INSERT_ONLY and isinstance(value, dict):
            marks[key] = (_DICT, len(value), _head(value))
        else:
            marks[key] = None
    return marks


def _series_change(series: dict[str, Any], marked: dict[str, tuple[int, Any]]
                   ) -> tuple[dict[str, list[Any]], dict[str, Any]] | None:
    """(tails of the append-only lists, other fields whole), or None if a list was cut."""
    tails: dict[str, list[Any]] = {}
    whole: dict[str, Any] = {}
    for field, value in series.items():
        if field in marked:
            n, first = marked[field]
            if len(value) < n or (n and value[0] != first):
                return None
            tails[field] = value[n:]
        else:
            whole[field] = value
    if len(tails) != len(marked):  # an append-only list was removed
        return None
    return tails, whole


def changes(state: dict[str, Any], marks: Marks) -> dict[str, Any]:
    """What changed in ``state`` since ``marks`` (:func:`mark` of the same state): ``gone``
    keys, ``whole`` values (new ones, small ones, cut ones), series ``tails`` and insert-only
    dicts' ``added`` items. Costs the size of the change, plus the small values."""
    whole: dict[str, Any] = {}
    tails: dict[str, tuple[dict[str, list[Any]], dict[str, Any]]] = {}
    added: dict[str, list[tuple[Any, Any]]] = {}
    for key, value in state.items():
        marked = marks.get(key)
        if marked is None:
            whole[key] = value
        elif marked[0] == _SERIES:
            change = _series_change(value, marked[1]) if is_series(value) else None
            if change is None:
                whole[key] = value
            else:
                tails[key] = change
        else:
            n, first = marked[1], marked[2]
            if not isinstance(value, dict) or len(value) < n or (n and _head(value) != first):
                whole[key] = value
            else:  # the last len - n keys, read from the end: O(added), not O(len)
                new = list(islice(reversed(value.items()), len(value) - n))
                new.reverse()
                added[key] = new
    out: dict[str, Any] = {"whole": whole, "tails": tails, "added": added}
    if len(state) - sum(k not in marks for k in whole) < len(marks):  # a marked key is gone
        out["gone"] = [k for k in marks if k not in state]
    return out


def apply(state: dict[str, Any], change: dict[str, Any]) -> None:
    """Replay ``change`` onto ``state`` as it was when the change's marks were taken."""
    for key in change.get("gone", ()):
        state.pop(key, None)
    for key, value in change["whole"].items():
        state[key] = value
    for key, (tails, whole) in change["tails"].items():
        series = state[key]
        for field, tail in tails.items():
            series[field].extend(tail)
        series.update(whole)
    for key, items in change["added"].items():
        state[key].update(items)
