"""What ``build_features`` refuses: values the features cannot encode, named by row and field.

An event type or channel outside the contract's enumerations would be encoded as −1, and a
country outside ``core.geo``'s known countries has no time zone for the account's local
night/weekend (the contract refuses it too, at the API and on the stream).
``models.training.data.load_events`` checks the whole contract before this; these checks make
a frame handed straight to ``build_features`` (bringing one's own data) fail as clearly. Nulls
are left to the contract's loader: a null ``channel`` or ``country`` is missing data (no code /
UTC, and the loader warns), a null ``event_type`` is refused here.

>>> import polars as pl
>>> ev = pl.DataFrame({"transaction_id": ["t0", "t1"], "event_type": ["top_up", "purchase"],
...                    "channel": ["web", "web"], "country": ["DE", "XX"]})
>>> check_encodable(ev)
Traceback (most recent call last):
...
ValueError: events hold values the features cannot encode (2 fields):
  event_type: not an event type of the contract (card_authorization, …)
    1 row: row 1 (transaction_id 't1'); values 'purchase'
  country: not an ISO 3166-1 alpha-2 country code with a time zone (tzdata)
    1 row: row 1 (transaction_id 't1'); values 'XX'
"""

from __future__ import annotations

import polars as pl

from core.geo import KNOWN_COUNTRIES, KNOWN_COUNTRY_RULE
from features.definitions import CHANNELS, EVENT_TYPES

#: rows named per field
SHOWN = 5
_ROW = "__flowlet_input_row__"


def _rules() -> list[tuple[str, str, pl.Expr]]:
    et, ch, co = pl.col("event_type"), pl.col("channel"), pl.col("country")
    return [
        ("event_type", f"not an event type of the contract ({EVENT_TYPES[0]}, …)",
         et.is_null() | ~et.is_in(EVENT_TYPES)),
        ("channel", f"not a channel of the contract ({CHANNELS[0]}, …)",
         ch.is_not_null() & ~ch.is_in(CHANNELS)),
        ("country", f"not {KNOWN_COUNTRY_RULE}",
         co.is_not_null() & ~co.is_in(sorted(KNOWN_COUNTRIES))),
    ]


def check_encodable(events: pl.DataFrame) -> None:
    """Raise ``ValueError`` naming, per field, the first rows (input position counted from 0,
    ``transaction_id``) and values the features cannot encode."""
    rules = [r for r in _rules() if r[0] in events.columns]
    if not rules or events.height == 0:
        return
    frame = events.select(pl.int_range(pl.len()).alias(_ROW),
                          pl.col("transaction_id").cast(pl.String),
                          *(pl.col(field).cast(pl.String) for field, _, _ in rules))
    flags = frame.select([bad.fill_null(False).alias(field) for field, _, bad in rules])
    problems = []
    for field, text, _ in rules:
        mask = flags[field]
        n = int(mask.sum())
        if not n:
            continue
        first = frame.filter(mask).head(SHOWN)
        rows = ", ".join(f"row {r} (transaction_id {t!r})"
                         for r, t in first.select(_ROW, "transaction_id").iter_rows())
        values = ", ".join(repr(v) for v in first[field].unique(maintain_order=True))
        more = f", … {n - first.height} more" if n > first.height else ""
        problems.append(f"  {field}: {text}\n    {n} row{'s' if n > 1 else ''}: {rows}{more}; "
                        f"values {values}")
    if problems:
        raise ValueError(f"events hold values the features cannot encode ({len(problems)} "
                         f"field{'s' if len(problems) > 1 else ''}):\n" + "\n".join(problems))
