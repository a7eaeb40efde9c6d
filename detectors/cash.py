"""Cash typologies of one account: structuring and dormant-account reactivation.

**Structuring** (smurfing): the account's deposits and transfers/withdrawals with amounts in
the band just under the reporting threshold of their currency, ``structuring_min_count`` or
more within ``structuring_window_days``; the alert is raised on an in-band transaction.

**Dormant reactivation**: a money movement of at least ``dormant_min_share`` of the threshold
after ``dormant_days`` without any transaction (the feature ``acct_seconds_since_prev``, kept
in the durable feature state, so it survives restarts and is right across workers).
"""

from __future__ import annotations

import math

from detectors.config import DAY_US
from detectors.context import IN_TYPES, OUT_TYPES, Context
from detectors.scoring import Finding, Indicator, ramp
from detectors.state import AMOUNT, CURRENCY, DIRECTION, OTHER, TX, window


def structuring(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    low, high = cfg.band(ev.currency)
    if not (low <= ev.amount_minor < high) or ev.event_type not in IN_TYPES | OUT_TYPES:
        return None
    recent = window(ctx.state.flows(ev.account_id),
                    ev.t_us - cfg.structuring_window_days * DAY_US, ev.t_us)
    # A P2P transfer received is the sender's structuring, not this account's.
    own = [f for f in recent if _own_leg(f)]
    in_band = [f for f in own if cfg.band(f[CURRENCY])[0] <= f[AMOUNT] < cfg.band(f[CURRENCY])[1]]
    n = len(in_band)
    if n < cfg.structuring_min_count:
        return None
    total = sum(f[AMOUNT] for f in in_band if f[CURRENCY] == ev.currency)
    closeness = sum((f[AMOUNT] / cfg.band(f[CURRENCY])[1] - cfg.structuring_fraction)
                    / (1 - cfg.structuring_fraction) for f in in_band) / n
    return Finding("structuring", ev.account_id, ev.transaction_id, (
        Indicator(ramp(n, cfg.structuring_min_count - 2, 2 * cfg.structuring_min_count), 0.4,
                  f"{n} amounts just under the reporting threshold "
                  f"in {cfg.structuring_window_days} days"),
        Indicator(ramp(total / high, 1, 2.5), 0.4,
                  f"each under the threshold, together {total / high:.1f}× it"),
        Indicator(closeness, 0.2, f"on average {closeness:.0%} of the way up the band"),
    ), tuple(f[TX] for f in in_band), tuple(f[OTHER] for f in in_band if f[OTHER]))


def _own_leg(flow: list) -> bool:  # type: ignore[type-arg]
    """Deposits (in, no counterparty) and anything sent (out) are the account's own acts."""
    return flow[DIRECTION] == "out" or flow[OTHER] is None


def dormant(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    gap = ev.since_prev_s
    if math.isnan(gap) or ev.event_type not in IN_TYPES | OUT_TYPES:
        return None
    dormant_s = cfg.dormant_days * 86_400
    minimum = cfg.share(ev.currency, cfg.dormant_min_share)
    if gap < dormant_s or ev.amount_minor < minimum:
        return None
    days = gap / 86_400
    return Finding("dormant", ev.account_id, ev.transaction_id, (
        Indicator(1.0, 0.5, f"first transaction after {days:.0f} days without any"),
        Indicator(ramp(gap, dormant_s, 3 * dormant_s), 0.2, "dormant for long"),
        Indicator(ramp(ev.amount_minor, minimum, 10 * minimum), 0.3,
                  f"moves {ev.amount_minor / cfg.threshold_minor(ev.currency):.2f}× the "
                  "reporting threshold"),
    ), (ev.transaction_id,), (ev.counterparty,) if ev.counterparty else ())
