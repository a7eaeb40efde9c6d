"""Money passing through an account: fan-in/fan-out (mule) and pass-through.

**Fan-in/fan-out**: within ``fan_window_hours`` the account received P2P money from at least
``fan_min_senders`` distinct accounts, then sent at least ``fan_min_out_ratio`` of it on to at
least ``fan_min_receivers`` accounts or cash; raised on the outflow that completes it.

**Pass-through**: within ``pass_window_hours`` the account received at least
``pass_min_share`` of the reporting threshold — all inflows since one of them, or that one
inflow alone — and sent on, since then, an amount whose ratio to it lies in
``pass_ratio_range`` (almost all of it, not more); raised on that outflow.
"""

from __future__ import annotations

from detectors.config import HOUR_US
from detectors.context import OUT_TYPES, Context
from detectors.scoring import Finding, Indicator, ramp
from detectors.state import AMOUNT, CURRENCY, OTHER, TX, T, window


def fan_in_fan_out(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    if ev.event_type not in OUT_TYPES:
        return None
    flows = ctx.state.flows(ev.account_id)
    start = ev.t_us - cfg.fan_window_hours * HOUR_US
    inflow = [f for f in window(flows, start, ev.t_us, "in")
              if f[OTHER] is not None and f[CURRENCY] == ev.currency]
    senders = {f[OTHER] for f in inflow}
    if len(senders) < cfg.fan_min_senders:
        return None
    first_in = min(f[T] for f in inflow)
    outflow = [f for f in window(flows, first_in, ev.t_us, "out") if f[CURRENCY] == ev.currency]
    receivers = {f[OTHER] or f"cash:{f[TX]}" for f in outflow}
    received = sum(f[AMOUNT] for f in inflow)
    ratio = sum(f[AMOUNT] for f in outflow) / received
    if len(receivers) < cfg.fan_min_receivers or ratio < cfg.fan_min_out_ratio:
        return None
    hours = (ev.t_us - max(f[T] for f in inflow)) / HOUR_US
    return Finding("fan_in_fan_out", ev.account_id, ev.transaction_id, (
        Indicator(ramp(len(senders), cfg.fan_min_senders - 2, 2 * cfg.fan_min_senders), 0.35,
                  f"money from {len(senders)} accounts within {cfg.fan_window_hours} h"),
        Indicator(ramp(len(receivers), cfg.fan_min_receivers - 1, 5), 0.25,
                  f"sent on to {len(receivers)} accounts or cash"),
        Indicator(ramp(ratio, cfg.fan_min_out_ratio - 0.2, 0.9), 0.25,
                  f"{ratio:.0%} of what came in went out"),
        Indicator(ramp(hours, 12, 1), 0.15, f"{hours:.1f} h after the last arrival"),
    ), tuple(f[TX] for f in inflow + outflow),
        tuple(f[OTHER] for f in inflow + outflow if f[OTHER]))


def pass_through(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    if ev.event_type not in OUT_TYPES:
        return None
    flows = ctx.state.flows(ev.account_id)
    minimum = cfg.share(ev.currency, cfg.pass_min_share)
    start = ev.t_us - cfg.pass_window_hours * HOUR_US
    inflow = [f for f in window(flows, start, ev.t_us, "in") if f[CURRENCY] == ev.currency]
    low, high = cfg.pass_ratio_range
    # What came in since each inflow (the window's, or from one large inflow on: the account's
    # own small deposits meanwhile must not hide a sum passed on), against what went out since.
    best = None
    for i, first in enumerate(inflow):
        received = sum(f[AMOUNT] for f in inflow[i:])
        if received < minimum:
            break
        outflow = [f for f in window(flows, first[T], ev.t_us, "out")
                   if f[CURRENCY] == ev.currency]
        for basis in (received, first[AMOUNT]):
            ratio = sum(f[AMOUNT] for f in outflow) / basis
            if basis >= minimum and low <= ratio <= high and (
                    best is None or abs(1 - ratio) < abs(1 - best[0])):
                best = (ratio, basis, first, inflow[i:] if basis == received else [first],
                        outflow)
    if best is None:
        return None
    ratio, received, first, came_in, went_out = best
    hours = (ev.t_us - first[T]) / HOUR_US
    earlier = [f for f in window(flows, ev.t_us - 7 * 24 * HOUR_US, start, "in")
               if f[AMOUNT] >= minimum]
    return Finding("pass_through", ev.account_id, ev.transaction_id, (
        Indicator(ramp(abs(1 - ratio), 0.15, 0.0), 0.35,
                  f"passed on {ratio:.1%} of what came in"),
        Indicator(ramp(hours, cfg.pass_window_hours, 1), 0.25, f"within {hours:.1f} h"),
        Indicator(ramp(received, minimum, 5 * minimum), 0.25,
                  f"{received / cfg.threshold_minor(ev.currency):.2f}× the reporting threshold"),
        Indicator(ramp(len(earlier), 0, 2), 0.15,
                  f"{len(earlier)} more large inflows in the week before"),
    ), tuple(f[TX] for f in came_in + went_out),
        tuple(f[OTHER] for f in came_in + went_out if f[OTHER]))
