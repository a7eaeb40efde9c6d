"""Every stateful feature against a value computed by hand, online and offline.

Each scenario is a short, hand-made history (events and labels in arrival order) and the values
some of its transactions must get. The expected values are worked out by hand in the comments —
they are not taken from either implementation — and :func:`check` asserts that both the online
engine (``OnlineFeatures``) and the offline builder (``build_features``) produce them.

Conventions used in the comments: ``N`` is the scenario's reference time; windows are
``(clock − w, clock]`` on the entity's clock (the running maximum of its event times in arrival
order), so an event exactly ``w`` before is OUT and a late event counts at the clock time.
Velocity tuples read ``(count, sum, mean, max)``; count is over all currencies, sum/mean/max over
the event's currency only.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.contract import TransactionEvent, label_for
from core.frames import EVENT_SCHEMA
from features import FEATURE_NAMES, FEATURES, build_features, events_frame, registry
from features.online import OnlineFeatures

NAN = float("nan")
N = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday; 13:00 in Berlin
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
WINDOWS = ("1h", "24h", "7d", "30d")


# --- building blocks ---------------------------------------------------------------------------

def ev(tid: str, at: datetime, amount: int, currency: str = "EUR", *, account: str = "acc",
       kind: str = "card_authorization", country: str = "DE", merchant: str | None = None,
       device: str | None = None, card: str | None = None, to: str | None = None
       ) -> dict[str, object]:
    """One transaction as a dict with every column of the events frame."""
    row: dict[str, object] = dict.fromkeys(EVENT_SCHEMA)
    row.update(transaction_id=tid, event_type=kind, occurred_at=at, amount_minor=amount,
               currency=currency, account_id=account, country=country, merchant_id=merchant,
               device_id=device, card_token=card, counterparty_account_id=to,
               channel="mobile_app")
    return row


def _p2p(tid: str, at: datetime, amount: int, frm: str, to: str, currency: str = "EUR"
         ) -> dict[str, object]:
    return ev(tid, at, amount, currency, account=frm, kind="p2p_transfer", to=to)


def label(tx: Mapping[str, object], known_at: datetime, is_fraud: bool, n: int
          ) -> dict[str, object]:
    """A fraud label for transaction ``tx``, known from ``known_at`` (a LabelEvent's fields:
    the transaction's merchant, device and, for a P2P transfer, payee)."""
    event = TransactionEvent.model_validate(
        {"channel": "mobile_app", **{k: v for k, v in tx.items() if v is not None}})
    return label_for(event, label_id=f"lab-{tx['transaction_id']}-{n}", occurred_at=known_at,
                     is_fraud=is_fraud).model_dump()


def rates(prefix: str, one_day: float, seven_days: float, thirty_days: float
          ) -> dict[str, float]:
    """An entity's fraud rates over 1d, 7d and 30d, each window ending 7d before."""
    return {f"{prefix}_fraud_rate_1d_delay7d": one_day,
            f"{prefix}_fraud_rate_7d_delay7d": seven_days,
            f"{prefix}_fraud_rate_30d_delay7d": thirty_days}


def velocity(prefix: str, table: Mapping[str, tuple[float, float, float, float]]
             ) -> dict[str, float]:
    """{window: (count, sum, mean, max)} as feature values."""
    out: dict[str, float] = {}
    for window, (count, total, mean, top) in table.items():
        assert window in WINDOWS
        out.update({f"{prefix}_count_{window}": count, f"{prefix}_sum_{window}": total,
                    f"{prefix}_mean_{window}": mean, f"{prefix}_max_{window}": top})
    return out


def all_nan(prefix: str) -> dict[str, float]:
    """Every velocity feature of an entity the event does not have."""
    return velocity(prefix, dict.fromkeys(WINDOWS, (NAN, NAN, NAN, NAN)))


def _is_label(step: Mapping[str, object]) -> bool:
    return "labelled_transaction_id" in step


def _same(got: object, want: float) -> bool:
    if not isinstance(got, float | int) or isinstance(got, bool):
        return False
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


def _nan_equal(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


def run_online(steps: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """Feed the steps in order; a repeated transaction id is a redelivery, which must return
    the values of the first delivery and leave every state unchanged."""
    online = OnlineFeatures()
    first: dict[str, dict[str, float]] = {}
    for step in steps:
        if _is_label(step):
            online.label(step)
            continue
        tid = str(step["transaction_id"])
        if tid in first:
            before = copy.deepcopy(online.states)
            again = online.process(step)
            assert _nan_equal(again, first[tid]), f"redelivered {tid} gave other values"
            assert online.states == before, f"redelivered {tid} changed the state"
        else:
            first[tid] = online.process(step)
    return first


def run_offline(steps: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """The history (each transaction once, in arrival order) and labels through the builder."""
    events: dict[str, dict[str, object]] = {}
    for step in steps:
        if not _is_label(step):
            events.setdefault(str(step["transaction_id"]), step)
    labels = [step for step in steps if _is_label(step)]
    frame = build_features(events_frame(list(events.values())),
                           pl.DataFrame(labels) if labels else None)
    assert frame.height == len(events)
    assert set(frame["transaction_id"]) == set(events)
    return {row["transaction_id"]: row for row in frame.iter_rows(named=True)}


def check(steps: list[dict[str, object]], expected: Mapping[str, Mapping[str, float]]) -> None:
    """Online and offline values equal the hand-computed ``expected`` {transaction: {name: v}}."""
    unknown = {n for values in expected.values() for n in values} - set(FEATURE_NAMES)
    assert not unknown, f"not declared features: {unknown}"
    results = {"online": run_online(steps), "offline": run_offline(steps)}
    problems = [
        f"{path:7} {tid} {name}: got {got[tid][name]!r}, hand value {want!r}"
        for path, got in results.items()
        for tid, values in expected.items()
        for name, want in values.items()
        if not _same(got[tid][name], want)
    ]
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Scenario:
    id: str
    steps: list[dict[str, object]]
    expected: dict[str, dict[str, float]] = field(default_factory=dict)


SCENARIOS: list[Scenario] = []
#: Every feature some scenario asserts a hand value for (checked against FEATURES below).
COVERED: set[str] = set()


def scenario(name: str, steps: list[dict[str, object]],
             expected: dict[str, dict[str, float]]) -> None:
    SCENARIOS.append(Scenario(name, steps, expected))
    COVERED.update(name for values in expected.values() for name in values)


# --- account and card velocity: window edges, currencies, redelivery ---------------------------

_e = {
    "e1": ev("e1", N - 30 * D, 1000, card="c1"),
    "e2": ev("e2", N - 7 * D, 2000, card="c1"),
    "e3": ev("e3", N - 24 * H, 4000, card="c2"),
    "e4": ev("e4", N - H, 8000, card="c1"),
    "e5": ev("e5", N - 30 * M, 500, "USD", card="c1"),
    "e6": ev("e6", N, 300, card="c1"),
    "e7": ev("e7", N + M, 100),  # no card, merchant, device or counterparty
}
scenario("account_and_card_velocity", [
    *_e.values(),
    _e["e4"],  # redelivered: must not count twice in e7's windows
], {
    "e1": {
        **velocity("acct", dict.fromkeys(WINDOWS, (1, 1000, 1000, 1000))),  # just itself
        **velocity("card", dict.fromkeys(WINDOWS, (1, 1000, 1000, 1000))),
    },
    "e5": {  # the only USD amount: EUR amounts around it are not added
        # 1h (N-90m, N-30m]: e4, e5; USD: 500 / 1
        # 24h (N-24h30m, N-30m]: e3, e4, e5
        **velocity("acct", {"1h": (2, 500, 500, 500), "24h": (3, 500, 500, 500)}),
        # card c1: e4, e5 (e3 is card c2)
        **velocity("card", {"1h": (2, 500, 500, 500), "24h": (2, 500, 500, 500)}),
    },
    "e6": {
        **velocity("acct", {
            "1h": (2, 300, 300 / 1, 300),  # e5 (USD), e6; e4 exactly 1h before is out
            "24h": (3, 8000 + 300, (8000 + 300) / 2, 8000),  # e4, e5, e6; e3 at N-24h out
            "7d": (4, 4000 + 8000 + 300, (4000 + 8000 + 300) / 3, 8000),  # e3..e6
            "30d": (5, 2000 + 4000 + 8000 + 300, (2000 + 4000 + 8000 + 300) / 4, 8000),
        }),
        **velocity("card", {  # card c1: e1, e2, e4, e5, e6
            "1h": (2, 300, 300 / 1, 300),  # e5, e6
            "24h": (3, 8000 + 300, (8000 + 300) / 2, 8000),  # e4, e5, e6
            "7d": (3, 8000 + 300, (8000 + 300) / 2, 8000),  # e2 exactly 7d before is out
            "30d": (4, 2000 + 8000 + 300, (2000 + 8000 + 300) / 3, 8000),  # e1 out
        }),
    },
    "e7": {
        **velocity("acct", {
            "1h": (3, 300 + 100, (300 + 100) / 2, 300),  # e5, e6, e7 (e4 once, and out)
            # e2..e7 (e1 at N+1m-30d-1m is out): 2000 + 4000 + 8000 + 300 + 100 = 14400
            "30d": (6, 14400, 14400 / 5, 8000),
        }),
        **all_nan("card"), **all_nan("merchant"), **all_nan("device"),
        **rates("merchant", NAN, NAN, NAN), **rates("device", NAN, NAN, NAN),
        **rates("cp", NAN, NAN, NAN),
        "device_distinct_accounts_24h": NAN, "device_distinct_accounts_7d": NAN,
        "acct_new_merchant": NAN, "acct_new_device": NAN,
        "cp_distinct_senders_24h": NAN, "cp_distinct_senders_7d": NAN,
        "cp_pass_through_24h": NAN,
    },
})


# --- late events: they count at the entity's clock ---------------------------------------------

_l = {
    "l1": ev("l1", N, 1000, account="late", card="c9"),
    "l2": ev("l2", N - 2 * H, 500, account="late", card="c9"),  # arrives after l1: at clock N
    "l3": ev("l3", N + 30 * M, 200, account="late", card="c9"),
    "l4": ev("l4", N + H, 50, account="late", card="c9"),
}
scenario("late_events_account", list(_l.values()), {
    "l1": {"acct_seconds_since_prev": NAN,  # first transaction
           "acct_amount_zscore": NAN, "acct_amount_ratio_to_mean": NAN,  # nothing earlier
           **velocity("acct", {"1h": (1, 1000, 1000, 1000)})},
    "l2": {
        "acct_seconds_since_prev": 0.0,  # clock stays at N
        "acct_amount_zscore": NAN,  # only 1 earlier amount
        "acct_amount_ratio_to_mean": 500 / 1000,
        # counted at N, not N-2h: (N-1h, N] holds l1 and l2
        **velocity("acct", {"1h": (2, 1500, 1500 / 2, 1000)}),
        **velocity("card", {"1h": (2, 1500, 1500 / 2, 1000)}),
    },
    "l3": {
        "acct_seconds_since_prev": 1800.0,  # N+30m − N (the clock, not l2's N-2h)
        # earlier (arrival order) 1000, 500: mean 750, population std 250
        "acct_amount_zscore": (200 - 750) / 250,
        "acct_amount_ratio_to_mean": 200 / 750,
        # (N-30m, N+30m]: l1 and l2 (at N), l3 — by its own time l2 would be out
        **velocity("acct", {"1h": (3, 1700, 1700 / 3, 1000)}),
        **velocity("card", {"1h": (3, 1700, 1700 / 3, 1000)}),
    },
    "l4": {
        "acct_seconds_since_prev": 1800.0,
        # earlier 1000, 500, 200: mean 1700/3, E[x²] = 1290000/3,
        # var = 1290000/3 − (1700/3)² = 980000/9
        "acct_amount_zscore": (50 - 1700 / 3) / math.sqrt(980_000 / 9),
        "acct_amount_ratio_to_mean": 50 / (1700 / 3),
        **velocity("acct", {
            "1h": (2, 200 + 50, (200 + 50) / 2, 200),  # (N, N+1h]: l1, l2 (at N) out
            "24h": (4, 1750, 1750 / 4, 1000),
        }),
    },
})


# --- z-score and ratio to mean: per currency, NaN cases ---------------------------------------

scenario("zscore_and_ratio", [
    ev("z1", N, 100, account="z"),
    ev("z2", N + M, 300, account="z"),
    ev("z3", N + 2 * M, 1000, "USD", account="z"),
    ev("z4", N + 3 * M, 500, account="z"),
    ev("z5", N + 4 * M, 200, account="z"),
    ev("y1", N, 50, account="flat"),
    ev("y2", N + M, 50, account="flat"),
    ev("y3", N + 2 * M, 70, account="flat"),
], {
    "z1": {"acct_amount_zscore": NAN, "acct_amount_ratio_to_mean": NAN},  # no earlier amount
    "z2": {"acct_amount_zscore": NAN,  # 1 earlier: fewer than 2
           "acct_amount_ratio_to_mean": 300 / 100},
    "z3": {"acct_amount_zscore": NAN, "acct_amount_ratio_to_mean": NAN},  # first USD
    "z4": {"acct_amount_zscore": (500 - 200) / 100,  # EUR 100, 300: mean 200, std 100
           "acct_amount_ratio_to_mean": 500 / 200,  # (the USD 1000 is not in the mean)
           "acct_seconds_since_prev": 60.0},
    # EUR 100, 300, 500: mean 300, var (200² + 0 + 200²) / 3 = 80000/3
    "z5": {"acct_amount_zscore": (200 - 300) / math.sqrt(80_000 / 3),
           "acct_amount_ratio_to_mean": 200 / 300},
    "y3": {"acct_amount_zscore": NAN,  # 50, 50: zero spread
           "acct_amount_ratio_to_mean": 70 / 50},
})


# --- first seen within 90 days ----------------------------------------------------------------

scenario("new_merchant_device_country", [
    ev("f1", N - 90 * D, 100, account="fs", merchant="m1", device="d1"),
    ev("f2", N - 89 * D, 100, account="fs", country="FR"),
    ev("f3", N, 100, account="fs", merchant="m1", device="d1"),
    ev("f4", N, 100, account="fs", merchant="m1", device="d2", country="FR"),
    ev("f5", N + H, 100, account="fs", merchant="m3"),
], {
    "f1": {"acct_new_merchant": 1.0, "acct_new_device": 1.0, "acct_new_country": 1.0},
    "f2": {"acct_new_merchant": NAN, "acct_new_device": NAN,  # none on the event
           "acct_new_country": 1.0},  # FR never seen
    # m1, d1, DE last seen exactly 90 days before: outside (N-90d, N]
    "f3": {"acct_new_merchant": 1.0, "acct_new_device": 1.0, "acct_new_country": 1.0},
    # m1 seen at N (f3); d2 never; FR seen at N-89d (inside)
    "f4": {"acct_new_merchant": 0.0, "acct_new_device": 1.0, "acct_new_country": 0.0},
    "f5": {"acct_new_merchant": 1.0, "acct_new_device": NAN, "acct_new_country": 0.0},
})


# --- local night / weekend in the home country's zone ------------------------------------------

def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


scenario("local_night_and_weekend", [
    # home DE (Europe/Berlin, UTC+1 in January); 2026-01-01 is a Thursday
    ev("n1", _utc(2026, 1, 1, 23, 30), 100, account="home-de"),  # Fri 00:30
    ev("n2", _utc(2026, 1, 2, 23, 30), 100, account="home-de", country="US"),  # Sat 00:30
    ev("n3", _utc(2026, 1, 4, 22, 59), 100, account="home-de"),  # Sun 23:59
    ev("n4", _utc(2026, 1, 4, 23, 0), 100, account="home-de"),  # Mon 00:00
    ev("n5", _utc(2026, 1, 5, 5, 0), 100, account="home-de"),  # Mon 06:00
    # home US (America/New_York, UTC-4 in July); 2026-07-06 is a Monday
    ev("u1", _utc(2026, 7, 6, 3, 30), 100, account="home-us", country="US"),  # Sun 23:30
    ev("u2", _utc(2026, 7, 6, 4, 0), 100, account="home-us", country="DE"),  # Mon 00:00
    # home JP (Asia/Tokyo, UTC+9); 2026-01-02 is a Friday
    ev("j1", _utc(2026, 1, 2, 15, 0), 100, account="home-jp", country="JP"),  # Sat 00:00
    ev("j2", _utc(2026, 1, 2, 21, 0), 100, account="home-jp", country="JP"),  # Sat 06:00
    # outside the first 37-country table, once silently UTC (which would give 0, 0 and 1, 0):
    # home KE (Africa/Nairobi, UTC+3), home AR (America/Argentina/Buenos_Aires, UTC-3)
    ev("k1", _utc(2026, 1, 2, 21, 30), 100, account="home-ke", country="KE"),  # Sat 00:30
    ev("a1", _utc(2026, 1, 5, 2, 30), 100, account="home-ar", country="AR"),  # Sun 23:30
], {
    "n1": {"acct_local_night": 1.0, "acct_local_weekend": 0.0},
    "n2": {"acct_local_night": 1.0, "acct_local_weekend": 1.0},  # home stays DE
    "n3": {"acct_local_night": 0.0, "acct_local_weekend": 1.0},
    "n4": {"acct_local_night": 1.0, "acct_local_weekend": 0.0},
    "n5": {"acct_local_night": 0.0, "acct_local_weekend": 0.0},
    "u1": {"acct_local_night": 0.0, "acct_local_weekend": 1.0},
    "u2": {"acct_local_night": 1.0, "acct_local_weekend": 0.0},  # home stays US
    "j1": {"acct_local_night": 1.0, "acct_local_weekend": 1.0},
    "j2": {"acct_local_night": 0.0, "acct_local_weekend": 1.0},
    "k1": {"acct_local_night": 1.0, "acct_local_weekend": 1.0},
    "a1": {"acct_local_night": 0.0, "acct_local_weekend": 1.0},
})


# --- merchant velocity, late event --------------------------------------------------------------

_me = {
    "me1": ev("me1", N - 30 * D, 1000, account="y1", merchant="m5"),
    "me2": ev("me2", N - 7 * D, 5000, "JPY", account="y2", merchant="m5"),
    "me3": ev("me3", N - 24 * H, 3000, account="y3", merchant="m5"),
    "me4": ev("me4", N - H, 2000, account="y4", merchant="m5"),
    "me4b": ev("me4b", N - M, 700, account="y4", merchant="m5"),
    "me5": ev("me5", N, 500, account="y5", merchant="m5"),
    "me6": ev("me6", N - 40 * D, 100, account="y6", merchant="m5"),  # late: at clock N
    "me7": ev("me7", N + H, 40, account="y7", merchant="m5"),
}
scenario("merchant_velocity", [*_me.values(), _me["me5"]], {
    "me2": velocity("merchant", {
        "1h": (1, 5000, 5000, 5000),
        "30d": (2, 5000, 5000, 5000),  # me1, me2; only me2 is JPY
    }),
    "me5": velocity("merchant", {
        "1h": (2, 700 + 500, (700 + 500) / 2, 700),  # me4b, me5; me4 exactly 1h before out
        "24h": (3, 2000 + 700 + 500, (2000 + 700 + 500) / 3, 2000),  # me4, me4b, me5
        "7d": (4, 3000 + 2000 + 700 + 500, 6200 / 4, 3000),  # me3..me5
        "30d": (5, 6200, 6200 / 4, 3000),  # me2 (JPY, counted only) .. me5; me1 out
    }),
    "me6": velocity("merchant", {
        "1h": (3, 700 + 500 + 100, 1300 / 3, 700),  # me4b, me5, me6 (at N)
        "30d": (6, 6200 + 100, 6300 / 5, 3000),  # at N-40d it would be in no window
    }),
    "me7": velocity("merchant", {
        "1h": (1, 40, 40, 40),  # (N, N+1h]: me5 and me6 (at N) are out
        "24h": (5, 2000 + 700 + 500 + 100 + 40, 3340 / 5, 2000),  # me4..me7; me3 out
    }),
})


# --- device velocity and distinct accounts -----------------------------------------------------

_dv = [
    ev("dv0", N - 30 * D, 50, account="x1", device="d7"),
    ev("dv1", N - 7 * D, 100, account="x1", device="d7"),
    ev("dv2", N - 24 * H, 200, account="x2", device="d7"),
    ev("dv3", N - H, 400, "USD", account="x3", device="d7"),
    ev("dv4", N - 10 * M, 900, account="x3", device="d7"),
    ev("dv5", N, 800, account="x4", device="d7"),
    ev("dv6", N - 3 * D, 10, account="x5", device="d7"),  # late: at clock N
]
scenario("device", [*_dv, _dv[2]], {
    "dv0": {**velocity("device", dict.fromkeys(WINDOWS, (1, 50, 50, 50))),
            "device_distinct_accounts_24h": 1.0, "device_distinct_accounts_7d": 1.0},
    "dv3": {**velocity("device", {"1h": (1, 400, 400, 400), "24h": (2, 400, 400, 400)}),
            "device_distinct_accounts_24h": 2.0,  # x2 (at N-24h, inside (N-25h, N-1h]), x3
            "device_distinct_accounts_7d": 3.0},  # x1, x2, x3
    "dv5": {
        **velocity("device", {
            "1h": (2, 900 + 800, 1700 / 2, 900),  # dv4, dv5; dv3 exactly 1h before out
            "24h": (3, 1700, 1700 / 2, 900),  # dv3 (USD), dv4, dv5; dv2 out
            "7d": (4, 200 + 900 + 800, 1900 / 3, 900),  # dv2..dv5; dv1 out
            "30d": (5, 100 + 1900, 2000 / 4, 900),  # dv1..dv5; dv0 out
        }),
        "device_distinct_accounts_24h": 2.0,  # x3, x4
        "device_distinct_accounts_7d": 3.0,  # x2, x3, x4 (x1 last at exactly N-7d: out)
    },
    "dv6": {
        **velocity("device", {
            "1h": (3, 1700 + 10, 1710 / 3, 900),  # dv4, dv5, dv6 (at N)
            "24h": (4, 1710, 1710 / 3, 900),
        }),
        "device_distinct_accounts_24h": 3.0,  # x3, x4, x5
        "device_distinct_accounts_7d": 4.0,  # x2, x3, x4, x5
    },
})


# --- merchant fraud rate over (t−37d, t−7d], labels known at t ---------------------------------

_p = {f"p{i}": ev(f"p{i}", N - days * D, 100, account=f"pay{i}", merchant="m9")
      for i, days in ((1, 37), (2, 30), (3, 20), (4, 10), (5, 7), (6, 3))}
_q = ev("q", N, 100, account="pay-q", merchant="m9")
_r = ev("r", N + 2 * D, 100, account="pay-r", merchant="m9")
# arrival order = time order; a label at the same time as an event comes first
scenario("merchant_fraud_rate", [
    _p["p1"], _p["p2"],
    label(_p["p1"], N - 20 * D, True, 1),
    _p["p3"], _p["p4"], _p["p5"],
    label(_p["p2"], N - 5 * D, True, 1),
    _p["p6"],
    label(_p["p3"], N - 2 * D, True, 1),
    label(_p["p5"], N, True, 1),  # known exactly at q's time: counts for q
    _q,
    label(_p["p4"], N + H, True, 1),  # not yet known at q
    label(_p["p3"], N + D, False, 2),  # the latest label of p3 wins
    label(_p["p2"], N + D + 12 * H, False, 2),
    _r,
    _q,  # redelivered after labels arrived: same values as before
    ev("nm", N, 100, account="pay-q"),  # no merchant
], {
    # windows end 7d before: 1d (t-8d, t-7d], 7d (t-14d, t-7d], 30d (t-37d, t-7d]
    "p1": rates("merchant", NAN, NAN, NAN),  # (N-74d, N-44d]: no transactions
    # (N-38d, N-37d] and (N-44d, N-37d]: p1, its label not known yet; 30d likewise
    "p2": rates("merchant", 0 / 1, 0 / 1, 0 / 1),
    # 7d (N-34d, N-27d]: p2, not known; 30d p1, p2; p1's label known at N-20d
    "p3": rates("merchant", NAN, 0 / 1, 1 / 2),
    # 7d (N-24d, N-17d]: p3, its label known only at N-2d; 30d (N-47d, N-17d]: p1, p2, p3
    "p4": rates("merchant", NAN, 0 / 1, 1 / 3),
    # 1d (N-11d, N-10d] and 7d: p4 (its label at N+1h); 30d (N-40d, N-10d]: p1..p4
    "p6": rates("merchant", 0 / 1, 0 / 1, 2 / 4),
    # 1d (N-8d, N-7d]: p5, known fraud exactly at N; 7d: p4 (not known yet), p5;
    # 30d (N-37d, N-7d]: p2, p3, p4, p5 (p1 exactly at N-37d out); fraud known: p2, p3, p5
    "q": rates("merchant", 1 / 1, 1 / 2, 3 / 4),
    # 1d (N-6d, N-5d]: nothing; 7d (N-12d, N-5d]: p4, p5, both fraud;
    # 30d (N-35d, N-5d]: p2..p5; p2 and p3 cleared by later labels, p4 and p5 fraud
    "r": rates("merchant", NAN, 2 / 2, 2 / 4),
    "nm": rates("merchant", NAN, NAN, NAN),
})


# --- device and P2P payee fraud rates: labels reach them, only after the delay -----------------

_dv = {
    "x1": ev("x1", N - 13 * D, 100, account="dv-a", device="dx", kind="top_up"),
    "x2": ev("x2", N - 7 * D - 12 * H, 100, account="dv-b", device="dx", kind="top_up"),
    "qa": ev("qa", N - 5 * D, 100, account="dv-c", device="dx", kind="top_up"),
    "qb": ev("qb", N, 100, account="dv-d", device="dx", kind="top_up"),
}
scenario("device_fraud_rate", [
    _dv["x1"], label(_dv["x1"], N - 9 * D, True, 1),
    _dv["x2"], label(_dv["x2"], N - 6 * D, True, 1),
    _dv["qa"],
    label(_dv["x1"], N - 2 * D, False, 2),  # x1 cleared ...
    label(_dv["x1"], N - 9 * D, True, 1),  # ... and its old label redelivered: changes nothing
    _dv["qb"],
], {
    "x1": rates("device", NAN, NAN, NAN),
    "x2": rates("device", NAN, NAN, NAN),  # windows end N-14.5d: x1 is after
    # windows end N-12d: 1d (N-13d, N-12d]: x1 exactly at N-13d is out; 7d and 30d: x1, fraud
    # (known at N-9d). x2's label is known but x2 is within the delay: no effect
    "qa": rates("device", NAN, 1 / 1, 1 / 1),
    # windows end N-7d: 1d (N-8d, N-7d]: x2 fraud; 7d and 30d: x1 (cleared), x2
    "qb": rates("device", 1 / 1, 1 / 2, 1 / 2),
})

_cp = {
    "c0": _p2p("c0", N - 20 * D, 100, "S0", "P"),
    "c1": _p2p("c1", N - 10 * D, 100, "S1", "P"),
    "c2": _p2p("c2", N - 7 * D - H, 100, "S2", "P"),
    "o1": _p2p("o1", N - 3 * D, 100, "P", "Z"),  # P pays Z: Z's counterparty risk, not P's
    "qe": _p2p("qe", N - 5 * D, 100, "S4", "P"),
    "tp": ev("tp", N - D, 100, account="P", kind="top_up"),
    "qc": _p2p("qc", N, 100, "S3", "P"),
    "qz": _p2p("qz", N + 4 * D + 12 * H, 100, "S5", "Z"),
}
scenario("counterparty_fraud_rate", [
    _cp["c0"], _cp["c1"], _cp["c2"],
    label(_cp["c1"], N - 8 * D, True, 1), label(_cp["c2"], N - 6 * D, True, 1),
    _cp["qe"], _cp["o1"],
    label(_cp["o1"], N - 2 * D, True, 1),
    _cp["tp"], _cp["qc"],
    label(_cp["c2"], N - 6 * D, True, 1),  # redelivered: changes nothing
    _cp["qz"],
], {
    "c0": rates("cp", NAN, NAN, NAN),
    # P's node, windows end N-12d: 1d, 7d: nothing; 30d (N-42d, N-12d]: c0, no label.
    # c1 and c2 are known fraud, but within the delay: no effect
    "qe": rates("cp", NAN, NAN, 0 / 1),
    "tp": rates("cp", NAN, NAN, NAN),  # not a transfer: no payee
    # windows end N-7d: 1d (N-8d, N-7d]: c2; 7d (N-14d, N-7d]: c1, c2; 30d: c0, c1, c2.
    # o1 (P paying Z) is no transfer P received
    "qc": rates("cp", 1 / 1, 2 / 2, 2 / 3),
    # Z's node, windows end N-2.5d: o1 at N-3d in each, fraud known at N-2d
    "qz": rates("cp", 1 / 1, 1 / 1, 1 / 1),
    "o1": rates("cp", NAN, NAN, NAN),  # Z's first transfer
})


# --- structuring band -------------------------------------------------------------------------

scenario("structuring", [
    ev("st1", N - 7 * D, 950_000, account="smurf"),  # band (EUR [900000, 1000000))
    ev("st2", N - 24 * H, 900_000, account="smurf"),  # band (low edge included)
    ev("st3", N - 2 * H, 1_000_000, account="smurf"),  # not: the threshold itself
    ev("st4", N - H, 9_500, "JPY", account="smurf"),  # band (JPY [9000, 10000))
    ev("st5", N - 30 * M, 950_000, "JPY", account="smurf"),  # not: far above JPY's band
    ev("st6", N - 20 * M, 899_999, account="smurf"),  # not: just below
    ev("st7", N, 999_999, "USD", account="smurf"),  # band (USD like EUR)
    ev("st8", N + M, 9_500_000, "KWD", account="smurf"),  # band (KWD: 3 decimals)
], {
    "st1": {"acct_structuring_count_24h": 1.0, "acct_structuring_count_7d": 1.0},
    "st2": {"acct_structuring_count_24h": 1.0,  # st1 is 6 days before
            "acct_structuring_count_7d": 2.0},  # st1, st2
    "st3": {"acct_structuring_count_24h": 1.0,  # st2
            "acct_structuring_count_7d": 2.0},  # st1 (inside (N-7d-2h, N-2h]), st2
    # 24h (N-24h, N]: st4, st7 (st2 exactly 24h before: out); 7d: st2, st4, st7 (st1 out)
    "st7": {"acct_structuring_count_24h": 2.0, "acct_structuring_count_7d": 3.0},
    "st8": {"acct_structuring_count_24h": 3.0, "acct_structuring_count_7d": 4.0},
})


# --- P2P network: distinct counterparties, pass-through, fan-in --------------------------------

_n = {
    "q1": _p2p("q1", N - 7 * D, 1000, "A", "B"),
    "r3": _p2p("r3", N - 3 * D, 400, "F", "A"),
    "sg": _p2p("sg", N - 2 * D, 100, "G", "B"),
    "r1": _p2p("r1", N - 25 * H, 3000, "E", "A"),
    "q2": _p2p("q2", N - 24 * H, 2000, "A", "C"),
    "r2": _p2p("r2", N - 2 * H, 1000, "E", "A"),
    "q3": ev("q3", N - H, 5000, account="A", kind="top_up"),
    "b1": ev("b1", N - H, 50, account="B", kind="withdrawal"),
    "q4": _p2p("q4", N - 30 * M, 1500, "A", "D"),
    "b2": ev("b2", N - 30 * M, 999, "USD", account="B", kind="merchant_payment",
             merchant="shop"),
    "q5": _p2p("q5", N - 20 * M, 500, "A", "E"),
    "q6": ev("q6", N - 10 * M, 1000, account="A", kind="withdrawal"),
    "q7": ev("q7", N, 700, account="A", kind="card_authorization", merchant="shop"),
    "h1": _p2p("h1", N, 300, "H", "B"),
    "h2": _p2p("h2", N + M, 200, "H", "B", "USD"),
    "q8": ev("q8", N + 2 * M, 100, account="A", kind="card_capture", merchant="shop"),
}
_steps = list(_n.values())
_steps.insert(_steps.index(_n["q8"]), _n["q5"])  # q5 redelivered before q8
_steps.insert(_steps.index(_n["q8"]), _n["r2"])  # and r2 (a payee-side record) too
scenario("p2p_network", _steps, {
    # A: sent to B@N-7d, C@N-24h, D@N-30m, E@N-20m; received from F@N-3d, E@N-25h and N-2h.
    # A's network node, EUR: in r3 400@N-3d, r1 3000@N-25h, r2 1000@N-2h, q3 5000@N-1h;
    # out q1 1000@N-7d, q2 2000@N-24h, q4 1500@N-30m, q5 500@N-20m, q6 1000@N-10m, q8 100@N+2m.
    "q1": {"acct_distinct_cp_out_24h": 1.0, "acct_distinct_cp_out_7d": 1.0,  # B (this one)
           "acct_distinct_cp_in_24h": 0.0, "acct_distinct_cp_in_7d": 0.0,
           "acct_pass_through_24h": NAN,  # no inflow yet
           # payee B: first record, inflow 1000, outflow 0
           "cp_distinct_senders_24h": 1.0, "cp_distinct_senders_7d": 1.0,
           "cp_pass_through_24h": 0 / 1000},
    "q2": {"acct_distinct_cp_out_24h": 1.0,  # C (B is 6 days before)
           "acct_distinct_cp_out_7d": 2.0,  # B, C
           "acct_distinct_cp_in_24h": 1.0,  # E@N-25h in (N-48h, N-24h]
           "acct_distinct_cp_in_7d": 2.0,  # E, F
           "acct_pass_through_24h": 2000 / 3000,  # out q2 / in r1
           "cp_distinct_senders_24h": 1.0, "cp_pass_through_24h": 0 / 2000},  # payee C
    "r2": {"acct_pass_through_24h": NAN,  # E's node: only outflows (r1, r2)
           # payee A, (N-26h, N-2h]: in r1 + r2 = 4000, out q2 2000
           "cp_pass_through_24h": 2000 / (3000 + 1000),
           "cp_distinct_senders_24h": 1.0,  # E
           "cp_distinct_senders_7d": 2.0},  # E, F
    "q3": {"acct_distinct_cp_out_24h": 1.0,  # (N-25h, N-1h]: C
           "acct_distinct_cp_out_7d": 2.0,  # B@N-7d inside (N-7d-1h, N-1h], C
           # (N-25h, N-1h]: in r2 + q3 = 6000 (r1 exactly 24h before: out), out q2
           "acct_pass_through_24h": 2000 / (1000 + 5000),
           "cp_distinct_senders_24h": NAN, "cp_distinct_senders_7d": NAN,  # not a P2P
           "cp_pass_through_24h": NAN},
    "b1": {"acct_pass_through_24h": NAN,  # B, (N-25h, N-1h]: no EUR inflow (sg@N-2d out)
           "acct_distinct_cp_in_24h": 0.0,
           "acct_distinct_cp_in_7d": 2.0},  # A@N-7d inside (N-7d-1h, N-1h], G
    "b2": {"acct_pass_through_24h": NAN},  # no USD inflow
    "sg": {"cp_distinct_senders_24h": 1.0,  # payee B: G
           "cp_distinct_senders_7d": 2.0,  # A@N-7d inside (N-9d, N-2d], G
           "cp_pass_through_24h": 0 / 100},
    "q5": {"cp_pass_through_24h": 1000 / 500,  # payee E: out r2 (r1@N-25h out) / in q5
           "cp_distinct_senders_24h": 1.0, "cp_distinct_senders_7d": 1.0},  # A
    "q7": {"acct_distinct_cp_out_24h": 2.0,  # D, E (C exactly 24h before: out)
           "acct_distinct_cp_out_7d": 3.0,  # C, D, E (B exactly 7d before: out)
           "acct_distinct_cp_in_24h": 1.0,  # E (F@N-3d out)
           "acct_distinct_cp_in_7d": 2.0,  # E, F
           # in r2 + q3 = 6000; out q4 + q5 + q6 = 3000 (q2 exactly 24h before: out;
           # a card authorisation is neither in nor out)
           "acct_pass_through_24h": (1500 + 500 + 1000) / (1000 + 5000)},
    # payee B, EUR: in h1 300 (sg@N-2d, q1 out); out b1 50
    "h1": {"cp_pass_through_24h": 50 / 300,
           "cp_distinct_senders_24h": 1.0,  # H
           "cp_distinct_senders_7d": 2.0},  # G, H (A exactly 7d before: out)
    "h2": {"cp_pass_through_24h": 999 / 200,  # payee B, USD: out b2 / in h2
           "cp_distinct_senders_24h": 1.0, "cp_distinct_senders_7d": 2.0},
    # q5 counted once despite the redelivery; the card capture is an outflow
    "q8": {"acct_pass_through_24h": (1500 + 500 + 1000 + 100) / (1000 + 5000),
           "acct_distinct_cp_out_24h": 2.0},
})

scenario("pass_through_event_types", [
    ev("k1", N - 5 * H, 200, account="K", kind="refund", merchant="shop"),  # in
    ev("k2", N - 4 * H, 300, account="K", kind="chargeback", merchant="shop"),  # in
    ev("k3", N - 3 * H, 250, account="K", kind="card_capture", merchant="shop"),  # out
    ev("k4", N - 2 * H, 100, account="K", kind="merchant_payment", merchant="shop"),  # out
    ev("k5", N - H, 1000, account="K", kind="fx_conversion"),  # neither
    ev("k6", N - 30 * M, 400, account="K", kind="card_authorization", merchant="shop"),
    ev("k7", N, 400, account="K", kind="card_void", merchant="shop"),  # neither
    ev("k8", N + M, 90, "GBP", account="K", kind="withdrawal"),  # out, other currency
], {
    "k1": {"acct_pass_through_24h": 0 / 200},
    "k3": {"acct_pass_through_24h": 250 / (200 + 300)},
    "k7": {"acct_pass_through_24h": (250 + 100) / (200 + 300)},
    "k8": {"acct_pass_through_24h": NAN},  # no GBP inflow
})


# --- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sc", SCENARIOS, ids=[sc.id for sc in SCENARIOS])
def test_hand_computed_values_online_and_offline(sc: Scenario) -> None:
    check(sc.steps, sc.expected)


def test_merchant_fraud_rate_of_late_transactions() -> None:
    m = dict(account="late-pay", merchant="m11")
    s0, s1 = ev("s0", N - 30 * D, 100, **m), ev("s1", N - 5 * D, 100, **m)
    s2 = ev("s2", N - 20 * D, 100, **m)  # arrives after s1: at the clock, N-5d
    s3 = ev("s3", N - 25 * D, 100, **m)  # likewise at N-5d
    q = ev("mq", N, 100, **m)
    steps = [s0, s1, s2, s3, label(s2, N - 4 * D, True, 1), label(s3, N - 4 * D, True, 1), q]
    # (N-37d, N-7d] on the merchant's clock holds s0 only, which is not fraud: 0 / 1
    # (labels place s2 and s3 where the merchant counted them: at its clock, N-5d)
    check(steps, {"mq": {"merchant_fraud_rate_30d_delay7d": 0 / 1}})


def test_a_label_reaches_the_device_and_the_payee_on_other_stage_states() -> None:
    """The stream routes a label to the states its transaction's stages keyed: merchant,
    device and (P2P) payee; a payer-side or merchant-less label reaches only what it names."""
    online = OnlineFeatures()
    tx = ev("rt", N, 100, account="A", kind="p2p_transfer", to="B", device="dz")
    online.process(tx)
    online.label(label(tx, N + D, True, 1))
    assert sorted(k for k, st in online.states.items() if "labels" in st) == [
        "device:dz", "net:B"]
    assert online.states["net:B"]["labels"]["rt"] == [int(N.timestamp() * 1e6),
                                                      int((N + D).timestamp() * 1e6), True]


def test_every_feature_has_a_hand_computed_value() -> None:
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names))
    assert COVERED >= set(names), f"no hand value for: {sorted(set(names) - COVERED)}"


def test_registry_lists_every_feature_once_with_its_declaration() -> None:
    rows = registry()
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names)), "a feature is listed twice"
    assert names == list(FEATURE_NAMES)
    by_name = {row["name"]: row for row in rows}
    for row in rows:
        for key in ("description", "entity", "family", "aggregation"):
            assert isinstance(row[key], str) and row[key].strip(), (row["name"], key)
    for f in FEATURES:
        row = by_name[f.name]
        assert (row["entity"], row["family"], row["aggregation"]) == (
            f.entity, f.family, str(f.aggregation))
        if f.window is None:
            assert row["window"] is None, f.name
        else:
            assert isinstance(row["window"], str) and row["window"].strip(), f.name
            assert row["window"].startswith(f.window_label), f.name
    assert by_name["acct_sum_24h"]["window"] == "24h"
    assert by_name["card_max_30d"]["window"] == "30d"
    assert by_name["device_distinct_accounts_7d"]["window"] == "7d"
    assert by_name["acct_new_merchant"]["window"] == "90d"
    assert by_name["merchant_fraud_rate_30d_delay7d"]["window"] == "30d ending 7d before"
    assert by_name["cp_fraud_rate_1d_delay7d"]["window"] == "1d ending 7d before"
    assert by_name["acct_amount_zscore"]["include_current"] is False


def test_a_stored_home_the_contract_now_refuses_is_rehomed_not_fatal(caplog) -> None:
    """States written when the contract took any two capitals may hold a home with no zone:
    the account is re-homed to its next (validated) event's country, with a warning."""
    online = OnlineFeatures()
    online.state("account", "old").update(home="XX")
    row = ev("k1", _utc(2026, 1, 2, 21, 30), 100, account="old", country="KE")  # Sat 00:30
    values = online.process(row)
    assert (values["acct_local_night"], values["acct_local_weekend"]) == (1.0, 1.0)
    assert online.state("account", "old")["home"] == "KE"
    assert "home country 'XX' is unknown; re-homed to 'KE'" in caplog.text
