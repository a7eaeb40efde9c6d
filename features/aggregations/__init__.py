"""Typed aggregations: each carries its online update and its offline function.

A stateful feature (``features.definitions.Feature``) declares *what* it aggregates with one
of these small frozen objects and *over what window* with its ``window``. The online engine
(``features.online``) and the offline builder (``features.offline``) dispatch on the object,
not on the feature's name, so adding a window (or an entity that already has the views an
aggregation reads) to a typed aggregation is one declaration line — as in quix-streams'
window aggregations and Feast's ``Aggregation``.

Each typed aggregation has

* ``online(view, w)`` — the value for the event just applied to one entity's state, from an
  :class:`OnlineView` (that entity's series at its clock), window ``w`` in microseconds;
* ``offline(group, windows)`` — vectorised over a whole history: per window (µs), the rows
  and values, from an :class:`OfflineGroup` (the entity's events sorted by entity and arrival,
  with their clocks).

Both implement the semantics of ``features/README.md``; the parity tests hold them equal.
By concept: ``base`` (the base class and the views), ``windowed`` (``Count``, ``Sum``, ``Mean``,
``Max``, ``FraudRate``, ``Distinct``, ``FirstSeen``, ``BandCount``, ``PassThrough``) and
``windowless`` (``ZScore``, ``RatioToMean``, ``SincePrevious``, ``LocalNight``,
``LocalWeekend``: the event against the entity's whole retained history; their features
declare no window). Every public name is importable from ``features.aggregations``.

>>> Count(), Max().name, FraudRate(7 * 24 * 3600).name, str(Distinct("account_id"))
(Count(), 'max', 'fraud_rate', 'distinct:account_id')
>>> Count() == Count(), str(FirstSeen("country")), ZScore.windowless
(True, 'first_seen:country', True)
"""

from features.aggregations.base import (
    NAN,
    NIGHT_HOURS,
    US,
    Aggregation,
    Column,
    OfflineGroup,
    OnlineView,
)
from features.aggregations.windowed import (
    BandCount,
    Count,
    Distinct,
    FirstSeen,
    FraudRate,
    Max,
    Mean,
    PassThrough,
    Sum,
)
from features.aggregations.windowless import (
    LocalNight,
    LocalWeekend,
    RatioToMean,
    SincePrevious,
    ZScore,
)

__all__ = [
    "Aggregation",
    "BandCount",
    "Column",
    "Count",
    "Distinct",
    "FirstSeen",
    "FraudRate",
    "LocalNight",
    "LocalWeekend",
    "Max",
    "Mean",
    "NAN",
    "NIGHT_HOURS",
    "OfflineGroup",
    "OnlineView",
    "PassThrough",
    "RatioToMean",
    "SincePrevious",
    "Sum",
    "US",
    "ZScore",
]
