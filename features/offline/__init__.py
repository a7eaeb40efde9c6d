"""Offline, point-in-time-correct feature computation over event history.

:func:`build_features` computes every declared feature for every event of a history at once,
vectorised (polars + numpy, no per-event Python). It implements the semantics of
``features.definitions`` independently of the online engine (``features.online``); the parity
tests (``tests/features/test_offline.py``) hold the two equal event by event.

How each aggregation is computed (n events, all steps O(n log n)):

* **Arrival order and clocks.** Arrival order is the row order of ``events``. Every entity's
  records are stably sorted by (entity, arrival); the entity's clock is a running maximum of
  the event times, computed for all entities in one ``np.maximum.accumulate`` over
  ``segment * U + rank(time)`` (U distinct times), which is then also a globally sorted key.
* **Windows** ``(clock − w, clock]``: clocks are non-decreasing within an entity, so a window is
  a contiguous run ``[lo, i]`` of the entity's (or entity-and-currency's) records; ``lo`` for
  all records comes from one ``np.searchsorted`` on that sorted key. Counts are ``i − lo + 1``,
  sums exact differences of int64 prefix sums (wrapping arithmetic keeps differences exact),
  maxima a sparse table (range-maximum query on ``[lo, i]``) built one level at a time.
* **Distinct counts** (accounts on a device, counterparties, senders): an occurrence of a value
  at position j is the value's latest occurrence for the records ``[j, next occurrence)`` and is
  inside their window while their clock is ``< clock_j + w``; it therefore counts for one
  contiguous run of positions — a difference array and a cumulative sum give every count.
* **First seen**: the previous occurrence of (account, value) in arrival order, via a sort.
* **z-score / ratio to mean**: per (account, currency) float running n / sum / sum of squares
  (polars ``cum_sum``, sequential like the online additions), shifted to exclude the event.
* **Local night / weekend**: home = country of the account's first row; times converted with
  polars ``convert_time_zone``, one pass per distinct zone.
* **P2P network node**: every event is an "own" leg of its account's node, a P2P transfer also
  an "in" leg of the payee's node (after the own leg: a self-transfer's own leg comes first);
  legs are ordered by (row, leg) and run through the same window machinery.
* **Delayed-label fraud rates** (merchant, device, P2P payee; ``families.fraud_rates``, one per
  declared window): transactions counted are the entity's records (a payee's: its node's "in"
  legs) with clock in ``(clock − delay − window, clock − delay]``, prefix sums over the
  entity's sorted records; frauds are labelled transactions of the entity whose latest
  label known at the event says fraud and whose *placed* time is in that range. A label is
  known at event e iff ``label.occurred_at <= e.occurred_at`` (e's own time, not the clock); per
  labelled transaction the latest known label wins (by ``occurred_at``, then row order). A label
  is placed at the entity-clock time its transaction was counted at if that transaction's row
  arrived before the label — every row up to it is earlier than ``label.occurred_at`` (labels
  arrive as in :func:`replay_order`) — else at its ``transaction_occurred_at``, as the online
  engine places it. Each fraud label version is valid on a known-time interval ``[occurred_at,
  next version's occurred_at)``, so an event's count is a difference of 2-D dominance counts
  (known time ≤ t; (entity, placed time) in a range), answered with a merge-sort tree and
  ``np.searchsorted``.

Duplicates: the online engine answers a redelivered ``transaction_id`` with its first result and
does not apply it again, so the builder drops every later row with an already seen
``transaction_id`` (keeps the first) before computing anything.

Labels come canonical (``transaction_id``, ``is_fraud``, ``labelled_at``: what training loads)
or as the stream's label events; :func:`label_events` turns the first into the second by joining
each label to its transaction's first row (merchant, device, P2P payee, time), as a
``LabelEvent`` carries them. Without labels the fraud rates are the stream's before any label (0
where the entity has transactions) and the builder logs a warning; an empty labels frame says
"none known" silently.

Labels and the online engine: :func:`replay_order` gives the merged sequence (events in row
order; each label just before the first event whose time is ``>=`` its ``occurred_at``) in
which replaying through ``OnlineFeatures`` gives these values. One known divergence: online keeps
only the latest *applied* label per transaction and then requires ``occurred_at <= t``, so for a
late event (its time below an earlier row's) a relabel applied in between — known after the
event's time — hides an earlier known fraud label that the offline definition still counts.

Exactness: sums, means and pass-through ratios equal the online values while window sums stay
below 2**53 minor units (online divides exact Python integers). Label placement equals online
while a label's ``transaction_occurred_at`` is not later than its transaction's entity clock
(true when it is the transaction's ``occurred_at``); otherwise online would depend on when its
expiry dropped the transaction.
"""

from __future__ import annotations

from features.offline.builder import build_features, dedupe, feature_matrix
from features.offline.labels import label_events
from features.offline.replay import replay_order
from features.offline.synthetic import bench_offline

__all__ = ["bench_offline", "build_features", "dedupe", "feature_matrix", "label_events",
           "replay_order"]
