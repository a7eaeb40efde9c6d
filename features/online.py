"""Online feature computation: one record at a time against one entity's state.

The stream keys state by stage and entity (``account``, ``merchant``, ``device``, ``net`` — the
P2P network node of an account); :func:`stage_records` says which stage records a transaction
produces, :func:`label_records` which states a label reaches (merchant, device, payee), and
:func:`compute` turns one record plus its entity's state into that stage's feature values
("part"): the stage keeps the entity's views (series, memories, labels; an
:class:`~features.aggregations.OnlineView`) and every feature's value is its declaration's
typed aggregation over them (``FeaturePlan.typed``; no feature name appears here). State is a
JSON-able dict, so the stream can keep it as a JSON document in
the database (``streams.state``). The worker's three stages (``streams.stages``) and
:class:`OnlineFeatures` (every stage in one process, for tests, benches and replays) both run
a record through :func:`run_stage` against the state :func:`state_key` names, and build a
transaction's vector from its parts with :func:`assemble`.

>>> from datetime import UTC, datetime
>>> ev = {"transaction_id": "t1", "event_type": "top_up", "amount_minor": 700,
...       "currency": "EUR", "account_id": "a", "country": "DE",
...       "occurred_at": datetime(2026, 1, 1, 10, tzinfo=UTC)}
>>> online = OnlineFeatures()
>>> v1 = online.process(ev)
>>> v2 = online.process({**ev, "transaction_id": "t2", "amount_minor": 300})
>>> v1["acct_sum_1h"], v2["acct_sum_1h"], v2["acct_mean_1h"]
(700.0, 1000.0, 500.0)
>>> v2["acct_seconds_since_prev"], online.process(ev) == v1   # a redelivery changes nothing
(0.0, True)
>>> compute("account", online.state("account", "a"), ev) is None   # the state knows it
True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.contract import MINOR_UNITS, structuring_band
from core.geo import is_known_country, timezone_of_country
from features import series as S
from features.aggregations import OnlineView
from features.definitions import (
    INFLOW_TYPES,
    OUTFLOW_TYPES,
    PLAN,
    US,
    FeaturePlan,
    Scope,
    Stage,
    to_micros,
)

log = logging.getLogger(__name__)

NAN = float("nan")
#: A state remembers which transactions it applied for this long (processing time, seconds):
#: redeliveries after a crash or rebalance come within minutes.
REDELIVERY_SECONDS = 3600.0
#: The state values that only gain keys (never change or lose one) except in :func:`expire`:
#: the applied marks, one per applied transaction. ``features.state_delta`` writes their new
#: keys only.
INSERT_ONLY = ("applied",)
#: Series entries older than this on the entity's clock are dropped: no window reaches them.
HORIZON = PLAN.horizon
#: State key -> that entity's (mutable) state: a dict here, a database-backed store in the stream.
StateLookup = Callable[[str], dict[str, Any]]
#: Per stage labels reach, the series of the transactions its fraud rates count (appended with
#: their ids, so a label finds the clock time its transaction was counted at).
LABELLED_SERIES: dict[Stage, str] = {"merchant": "m", "device": "d", "net_in": "pin"}


def stage_records(ev: Mapping[str, Any]) -> list[tuple[Stage, str]]:
    """(stage, entity key) of every stage record a transaction produces, in emission order."""
    out: list[tuple[Stage, str]] = [("account", ev["account_id"])]
    if ev.get("merchant_id"):
        out.append(("merchant", ev["merchant_id"]))
    if ev.get("device_id"):
        out.append(("device", ev["device_id"]))
    out.append(("net_own", ev["account_id"]))
    if ev["event_type"] == "p2p_transfer" and ev.get("counterparty_account_id"):
        out.append(("net_in", ev["counterparty_account_id"]))
    return out


def state_space(stage: Stage) -> str:
    """Stages that share one entity's state (the network node is read and written by both)."""
    return "net" if stage.startswith("net") else stage


def state_key(stage: Stage, entity: str) -> str:
    """The key of the state a stage record (or a label routed to that stage) reads and writes.

    >>> state_key("net_in", "a-1"), state_key("merchant", "m-1")
    ('net:a-1', 'merchant:m-1')
    """
    return f"{state_space(stage)}:{entity}"


def label_records(label: Mapping[str, Any]) -> list[tuple[Stage, str]]:
    """(stage, entity key) of every state a label reaches: its transaction's merchant, device
    and P2P payee (``LabelEvent`` carries them), as :func:`stage_records` routed the
    transaction itself.

    >>> label_records({"merchant_id": "m", "device_id": "", "counterparty_account_id": "b"})
    [('merchant', 'm'), ('net_in', 'b')]
    """
    return [(stage, label[field]) for stage, field in (
        ("merchant", "merchant_id"), ("device", "device_id"),
        ("net_in", "counterparty_account_id")) if label.get(field)]


def micros(value: Any) -> int:
    return to_micros(value.timestamp()) if isinstance(value, datetime) else int(value)


@lru_cache(maxsize=512)
def _zone(country: str) -> ZoneInfo:
    return ZoneInfo(timezone_of_country(country))


def _home(state: dict[str, Any], country: str) -> str:
    """The account's home country: that of its first event. A home stored before the contract
    refused unknown codes has no zone; the account is re-homed to this (validated) event's
    country with a warning, rather than failing every event it sends."""
    home = state.get("home")
    if home is None or not is_known_country(home):
        if home is not None:
            log.warning("account state's home country %r is unknown; re-homed to %r",
                        home, country)
        home = state["home"] = country
    return home


def _clock(state: dict[str, Any], t: int) -> int:
    now = max(state.get("clock", t), t)
    state["clock"] = now
    return now


def _typed(parts: dict[str, float], plan: FeaturePlan, scope: Scope, view: OnlineView) -> None:
    """Every typed aggregation declared for ``scope``, from the entity's ``view``."""
    for tw in plan.typed.get(scope, ()):
        parts[tw.name] = tw.aggregation.online(view, tw.window_us)


def _append_pair(state: dict[str, Any], key: str, currency: str, now: int, amount: int,
                 max_windows: tuple[int, ...], flag: int = 0, entry_id: str | None = None
                 ) -> tuple[S.Series, S.Series]:
    count_s = state.get(key) or state.setdefault(key, S.new_series())
    amount_key = f"{key}|{currency}"
    amount_s = state.get(amount_key) or state.setdefault(amount_key, S.new_series())
    S.append(count_s, now, amount, flag, entry_id=entry_id)
    S.append(amount_s, now, amount, 0, max_windows)
    return count_s, amount_s


def _account(state: dict[str, Any], ev: Mapping[str, Any], t: int, plan: FeaturePlan
             ) -> dict[str, float]:
    parts: dict[str, float] = {}
    prev = state.get("clock")
    now = _clock(state, t)
    amount, cur = int(ev["amount_minor"]), ev["currency"]
    hist = state.setdefault("hist", {}).setdefault(cur, [0, 0.0, 0.0])  # n, sum, sum of squares
    local = datetime.fromtimestamp(t / US, _zone(_home(state, ev["country"])))

    cps = state.setdefault("cp_out", {})
    if ev["event_type"] == "p2p_transfer" and ev.get("counterparty_account_id"):
        cps[ev["counterparty_account_id"]] = now

    low, high = structuring_band(MINOR_UNITS.get(cur, 2))
    count_s, amount_s = _append_pair(state, "acct", cur, now, amount,
                                     plan.max_windows.get(("account", "account"), ()),
                                     int(low <= amount < high))
    seen = state.setdefault("seen", {})
    _typed(parts, plan, ("account", "account"), OnlineView(
        now, t, count_s, amount_s, memories={"counterparty_account_id": cps}, event=ev,
        seen=seen, amount=amount, history=list(hist), prev=prev, local=local))
    # after the aggregations read them: this event's amount and values are history from now on
    n, s, q = hist
    hist[0], hist[1], hist[2] = n + 1, s + amount, q + float(amount) * float(amount)
    for column in plan.seen_columns:
        value = ev.get(column)
        if value:
            seen.setdefault(column, {})[value] = now

    card = ev.get("card_token")
    if card:
        count_s, amount_s = _append_pair(state, f"card:{card}", cur, now, amount,
                                         plan.max_windows.get(("account", "card"), ()))
        _typed(parts, plan, ("account", "card"), OnlineView(now, t, count_s, amount_s))
    return parts


def _merchant(state: dict[str, Any], ev: Mapping[str, Any], t: int, plan: FeaturePlan
              ) -> dict[str, float]:
    parts: dict[str, float] = {}
    now = _clock(state, t)
    count_s, amount_s = _append_pair(state, "m", ev["currency"], now, int(ev["amount_minor"]),
                                     plan.max_windows.get(("merchant", "merchant"), ()),
                                     entry_id=ev["transaction_id"])
    _typed(parts, plan, ("merchant", "merchant"),
           OnlineView(now, t, count_s, amount_s, count_s, state.get("labels")))
    return parts


def apply_label(state: dict[str, Any], label: Mapping[str, Any], series: str = "m") -> None:
    """A label for one of the entity's transactions (counted in its ``series``); per
    transaction the label known latest wins, so a redelivered older label changes nothing.

    The labelled transaction is placed at the entity-clock time it was counted at (so the
    fraud count and the transaction count of a window agree, also for late transactions); a
    transaction the entity no longer retains (or never saw) is placed at its own time."""
    tid = label["labelled_transaction_id"]
    known_at = micros(label["occurred_at"])
    labels = state.setdefault("labels", {})
    if tid in labels and labels[tid][1] > known_at:
        return
    placed = S.time_of(state[series], tid) if series in state else None
    if placed is None:
        placed = micros(label["transaction_occurred_at"])
    labels[tid] = [placed, known_at, bool(label["is_fraud"])]


def _device(state: dict[str, Any], ev: Mapping[str, Any], t: int, plan: FeaturePlan
            ) -> dict[str, float]:
    parts: dict[str, float] = {}
    now = _clock(state, t)
    count_s, amount_s = _append_pair(state, "d", ev["currency"], now, int(ev["amount_minor"]),
                                     plan.max_windows.get(("device", "device"), ()),
                                     entry_id=ev["transaction_id"])
    accounts = state.setdefault("accounts", {})
    accounts[ev["account_id"]] = now
    _typed(parts, plan, ("device", "device"), OnlineView(
        now, t, count_s, amount_s, count_s, state.get("labels"), {"account_id": accounts}))
    return parts


def _net(state: dict[str, Any], ev: Mapping[str, Any], t: int, inbound: bool,
         plan: FeaturePlan) -> dict[str, float]:
    now = _clock(state, t)
    amount, cur = int(ev["amount_minor"]), ev["currency"]
    if inbound:
        money_in, money_out = amount, 0
        state.setdefault("senders", {})[ev["account_id"]] = now
        # the transfers the node received, for its counterparty fraud rates
        received = state.get("pin") or state.setdefault("pin", S.new_series())
        S.append(received, now, 0, entry_id=ev["transaction_id"])
    else:
        money_in = amount if ev["event_type"] in INFLOW_TYPES else 0
        money_out = amount if ev["event_type"] in OUTFLOW_TYPES else 0
    inflow = state.get(f"in|{cur}") or state.setdefault(f"in|{cur}", S.new_series())
    outflow = state.get(f"out|{cur}") or state.setdefault(f"out|{cur}", S.new_series())
    S.append(inflow, now, money_in)
    S.append(outflow, now, money_out)
    memories = {"sender": state.get("senders", {})}
    parts: dict[str, float] = {}
    if inbound:
        _typed(parts, plan, ("net_in", "counterparty"), OnlineView(
            now, t, counted=state["pin"], labels=state.get("labels"), memories=memories,
            inflow=inflow, outflow=outflow))
    else:
        _typed(parts, plan, ("net_own", "account"), OnlineView(
            now, t, memories=memories, inflow=inflow, outflow=outflow))
    return parts


def compute(stage: Stage, state: dict[str, Any], ev: Mapping[str, Any],
            processed_at: float = 0.0, plan: FeaturePlan = PLAN) -> dict[str, float] | None:
    """This stage's features for ``ev``, updating the entity's ``state``.

    Returns None if ``state`` already applied this transaction (a redelivery): the stream
    sends a record's outputs *before* it persists the state that marks it applied, so a
    transaction marked applied has had its outputs delivered, and a state persisted without
    the mark recomputes the very same values. ``plan``: the declared features to compute
    (``definitions.PLAN``; tests declare others)."""
    applied = state.setdefault("applied", {})
    mark = f"{stage}:{ev['transaction_id']}"
    if mark in applied:
        return None
    t = micros(ev["occurred_at"])
    if stage == "account":
        part = _account(state, ev, t, plan)
    elif stage == "merchant":
        part = _merchant(state, ev, t, plan)
    elif stage == "device":
        part = _device(state, ev, t, plan)
    else:
        part = _net(state, ev, t, stage == "net_in", plan)
    applied[mark] = processed_at
    return {name: part.get(name, NAN) for name in plan.stage_features[stage]}


def run_stage(states: StateLookup, stage: Stage, entity: str, payload: Mapping[str, Any],
              processed_at: float = 0.0, plan: FeaturePlan = PLAN) -> list[float] | None:
    """One stage record against its entity's state: the stage's part (its features' values in
    ``STAGE_FEATURES`` order), or None for a transaction the state applied before (a
    redelivery; see :func:`compute`)."""
    state = states(state_key(stage, entity))
    values = compute(stage, state, payload, processed_at, plan)
    return None if values is None else [values[n] for n in plan.stage_features[stage]]


def run_label(states: StateLookup, label: Mapping[str, Any]) -> None:
    """A label into the state of every entity it reaches (:func:`label_records`)."""
    for stage, entity in label_records(label):
        apply_label(states(state_key(stage, entity)), label, LABELLED_SERIES[stage])


def assemble(parts: Mapping[Stage, Sequence[float | None]], plan: FeaturePlan = PLAN
             ) -> dict[str, float]:
    """A transaction's stateful feature vector from its parts (NaN where a stage did not run)."""
    vector = dict.fromkeys(plan.names, NAN)
    for stage, values in parts.items():
        vector.update(zip(plan.stage_features[stage], (NAN if v is None else v for v in values),
                          strict=True))
    return vector


def expire(state: dict[str, Any], processed_at: float | None = None,
           horizon: int = HORIZON, memory_horizon: int = PLAN.memory_horizon,
           seen_horizon: int = PLAN.seen_horizon) -> None:
    """Drop what no window can reach any more, so state stays bounded; with ``processed_at``
    (now, in processing time), also forget applied marks older than REDELIVERY_SECONDS.
    ``horizon`` / ``memory_horizon`` / ``seen_horizon`` (µs): how far back the declared series
    windows, ``Distinct`` windows and ``FirstSeen`` lookbacks reach (``FeaturePlan``)."""
    now = state.get("clock")
    if now is None:
        return
    for key, value in list(state.items()):
        if S.is_series(value):
            S.prune(value, now - horizon)
            if not value["t"]:
                del state[key]
    for attr_seen in state.get("seen", {}).values():
        for k in [k for k, v in attr_seen.items() if v <= now - seen_horizon]:
            del attr_seen[k]
    for name in ("cp_out", "accounts", "senders"):  # the memories of Distinct columns
        seen = state.get(name, {})
        for k in [k for k, v in seen.items() if v <= now - memory_horizon]:
            del seen[k]
    labels = state.get("labels", {})
    for k in [k for k, v in labels.items() if v[0] <= now - horizon]:
        del labels[k]
    if processed_at is not None:
        applied = state.get("applied", {})
        for k in [k for k, v in applied.items() if v < processed_at - REDELIVERY_SECONDS]:
            del applied[k]


class OnlineFeatures:
    """Every stage in one process, states in a dict keyed like the stream's state tables: the
    stream's computation without Kafka. A redelivered transaction gets its first vector."""

    def __init__(self, plan: FeaturePlan = PLAN) -> None:
        self.plan = plan
        self.states: dict[str, dict[str, Any]] = {}
        self._vectors: dict[str, dict[str, float]] = {}  # answers for redeliveries

    def lookup(self, key: str) -> dict[str, Any]:
        """A :data:`StateLookup` over :attr:`states`."""
        return self.states.setdefault(key, {})

    def state(self, stage: Stage, entity: str) -> dict[str, Any]:
        return self.lookup(state_key(stage, entity))

    def process(self, ev: Mapping[str, Any], processed_at: float = 0.0) -> dict[str, float]:
        """All stateful features of one transaction (NaN where a stage does not apply);
        ``processed_at`` (epoch seconds) stamps its applied marks, as the stream's would be."""
        known = self._vectors.get(ev["transaction_id"])
        if known is not None:
            return dict(known)
        parts: dict[Stage, list[float]] = {}
        for stage, entity in stage_records(ev):
            part = run_stage(self.lookup, stage, entity, ev, processed_at, self.plan)
            if part is not None:
                parts[stage] = part
        vector = assemble(parts, self.plan)
        self._vectors[ev["transaction_id"]] = vector
        return dict(vector)

    def label(self, label: Mapping[str, Any]) -> None:
        run_label(self.lookup, label)

    def expire(self) -> None:
        for st in self.states.values():
            expire(st, None, self.plan.horizon, self.plan.memory_horizon,
                   self.plan.seen_horizon)
