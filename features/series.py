"""A per-entity event series for sliding windows, as a JSON-able dict (it lives in Faust tables).

Entries are appended in arrival order with the entity's clock time (non-decreasing), so every
window ``(now - w, now]`` is a suffix found by bisection. Sums come from integer running totals
(exact); maxima from one monotonic deque per window (amortised O(1)).

>>> s = new_series()
>>> for t, a in [(0, 5), (10, 3), (20, 4)]:
...     append(s, t, a, flag=int(a > 3), max_windows=(15,))
>>> window(s, 20, 15), window_max(s, 15), window_flags(s, 20, 25)
((2, 7), 4, 2)
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

Series = dict[str, Any]
#: A series' lists that only ever grow at the end (``append``); only ``prune`` cuts them, at the
#: front. Everything else in a series (``a0``/``f0``, the maxima deques) is small and rewritten.
APPEND_ONLY = ("t", "a", "f", "ids")


def new_series() -> Series:
    # t: clock times; a/f: running amount / flag totals after each entry; a0/f0: totals before
    # the first retained entry; mx: per window, [time, amount] pairs with decreasing amounts.
    return {"t": [], "a": [], "f": [], "a0": 0, "f0": 0, "mx": {}}


def append(s: Series, t: int, amount: int, flag: int = 0,
           max_windows: tuple[int, ...] = (), entry_id: str | None = None) -> None:
    s["t"].append(t)
    if entry_id is not None:  # kept in step with "t", to find an entry's time later
        s.setdefault("ids", []).append(entry_id)
    s["a"].append((s["a"][-1] if s["a"] else s["a0"]) + amount)
    s["f"].append((s["f"][-1] if s["f"] else s["f0"]) + flag)
    for w in max_windows:
        _push_max(s["mx"].setdefault(str(w), []), t, amount, w)


def _push_max(dq: list[list[int]], t: int, amount: int, w: int) -> None:
    while dq and dq[-1][1] <= amount:
        dq.pop()
    dq.append([t, amount])
    drop = 0
    while dq[drop][0] <= t - w:
        drop += 1
    if drop:
        del dq[:drop]


def extend(s: Series, tails: dict[str, list[Any]]) -> None:
    """Replay on ``s`` the appends a copy of it received, given as the new tails of its
    :data:`APPEND_ONLY` lists (``features.state_delta``): the same lists, and the maxima deques
    updated as :func:`append` did — every append to a series passes the same ``max_windows``,
    the windows its deques are kept for."""
    before = s["a"][-1] if s["a"] else s["a0"]
    for field, tail in tails.items():
        s.setdefault(field, []).extend(tail)
    for key, dq in s["mx"].items():
        w, last = int(key), before
        for t, total in zip(tails["t"], tails["a"], strict=True):
            _push_max(dq, t, total - last, w)
            last = total


def is_series(value: Any) -> bool:
    """Whether a state's value is a series (as opposed to a memory, a histogram, a scalar)."""
    return isinstance(value, dict) and "t" in value and "mx" in value


def _start(s: Series, lower: int) -> int:
    """Index of the first entry with time > ``lower``."""
    return bisect_right(s["t"], lower)


def _before(s: Series, key: str, idx: int) -> int:
    return s[key][idx - 1] if idx > 0 else s[key + "0"]


def _end(s: Series, now: int) -> int:
    """Index after the last entry with time <= ``now`` (usually all: ``now`` is the clock)."""
    t = s["t"]
    return len(t) if not t or t[-1] <= now else bisect_right(t, now)


def window(s: Series, now: int, w: int) -> tuple[int, int]:
    """(count, amount sum) of entries with time in ``(now - w, now]``."""
    lo = _start(s, now - w)
    hi = _end(s, now)
    return hi - lo, _before(s, "a", hi) - _before(s, "a", lo)


def window_flags(s: Series, now: int, w: int) -> int:
    lo, hi = _start(s, now - w), _end(s, now)
    return _before(s, "f", hi) - _before(s, "f", lo)


def window_max(s: Series, w: int) -> int | None:
    """Largest amount in the window ending at the last append (None if empty)."""
    dq = s["mx"].get(str(w))
    return dq[0][1] if dq else None


def prune(s: Series, before: int) -> None:
    """Forget entries with time <= ``before`` (their totals fold into a0/f0)."""
    cut = _start(s, before)
    if cut:
        s["a0"], s["f0"] = s["a"][cut - 1], s["f"][cut - 1]
        for key in ("t", "a", "f", "ids"):
            if key in s:
                del s[key][:cut]


def time_of(s: Series, entry_id: str) -> int | None:
    """Clock time of the retained entry appended with ``entry_id`` (None if not retained)."""
    ids = s.get("ids", [])
    for idx in range(len(ids) - 1, -1, -1):
        if ids[idx] == entry_id:
            return s["t"][idx]
    return None
