"""What a batch changed in an entity's feature state, as a small document, and how to apply it.

The stream stores a state as a base document plus the changes of the batches since
(``streams.state``): re-encoding a busy merchant's whole state — up to 37 days of series and
a mark per applied transaction — in every batch made the cost of a batch's state write grow
with the entity's history instead of with what the batch did. What makes the changes small is
how :mod:`features.online` mutates a state between two tidies (:func:`features.online.expire`,
which the store runs and records, so a reader replays it at the same point):

- a series' lists (:data:`features.series.APPEND_ONLY`: times, running totals, ids) only grow
  at the end, so the change is their tail — its maxima deques follow from the tail's amounts
  (:func:`features.series.extend` replays them) and a series no batch appended to is left out;
- the applied marks (:data:`features.online.INSERT_ONLY`) only gain keys, so the change is the
  keys added (a dict keeps insertion order: the last ones);
- everything else — clock, histograms, the memories of ``Distinct``/``FirstSeen`` columns,
  labels — is bounded by distinct counterparts or by windows, not by events, and is carried
  whole.

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
>>> change["tails"]["m"], change["added"]
({'t': [7], 'a': [140], 'f': [0]}, {'applied': [('merchant:t2', 2.0)]})
>>> old = {"clock": 5, "m": S.new_series(), "applied": {"merchant:t1": 1.0}}
>>> S.append(old["m"], 5, 100); apply(old, change); old == state
True
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from features.online import INSERT_ONLY
from features.series import APPEND_ONLY, extend, is_series

#: Per state key: for a series, its length, first time, number of fields and of maxima
#: windows; for an insert-only dict, its length and first key; for anything else, None
#: (carried whole).
Marks = dict[str, Any]
_SERIES, _DICT = 0, 1
_UNCHANGED = object()


def mark(state: dict[str, Any]) -> Marks:
    """What :func:`changes` compares with (O(number of the state's keys))."""
    marks: Marks = {}
    for key, value in state.items():
        if type(value) is dict and "mx" in value and "t" in value:  # is_series, inlined
            t = value["t"]
            marks[key] = (_SERIES, len(t), t[0] if t else None, len(value), len(value["mx"]))
        elif key in INSERT_ONLY and type(value) is dict:
            marks[key] = (_DICT, len(value), next(iter(value), None))
        else:
            marks[key] = None
    return marks


def _series_change(series: dict[str, Any], marked: tuple[int, int, Any, int, int]) -> Any:
    """The tails of the append-only lists; ``_UNCHANGED`` if none grew; None if the series
    cannot be told by its tails (cut at the front, a field or a maxima window added).

    A series changes only by appends (and by the tidy's prune, which is replayed): its lists
    grow together, its maxima deques follow from the appended amounts
    (:func:`features.series.extend`), its totals before the first entry move only in a prune."""
    _, n, first, fields, windows = marked
    t = series["t"]
    if n and t[0] != first or len(t) < n or len(series) != fields:
        return None
    if len(t) == n:
        return _UNCHANGED
    if len(series["mx"]) != windows:
        return None
    return {field: series[field][n:] for field in APPEND_ONLY if field in series}


def changes(state: dict[str, Any], marks: Marks) -> dict[str, Any]:
    """What changed in ``state`` since ``marks`` (:func:`mark` of the same state): ``gone``
    keys, ``whole`` values (new ones, small ones, cut ones), series ``tails`` and insert-only
    dicts' ``added`` items. Costs the size of the change, plus the small values."""
    whole: dict[str, Any] = {}
    tails: dict[str, dict[str, list[Any]]] = {}
    added: dict[str, list[tuple[Any, Any]]] = {}
    for key, value in state.items():
        marked = marks.get(key)
        if marked is None:
            whole[key] = value
        elif marked[0] == _SERIES:
            change = _series_change(value, marked) if is_series(value) else None
            if change is None:
                whole[key] = value
            elif change is not _UNCHANGED:
                tails[key] = change
        else:
            n, first = marked[1], marked[2]
            if type(value) is not dict or len(value) < n or (n and next(iter(value)) != first):
                whole[key] = value
            elif len(value) > n:  # the last len - n keys, read from the end: O(added)
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
    for key, tails in change["tails"].items():
        extend(state[key], tails)
    for key, items in change["added"].items():
        state[key].update(items)
