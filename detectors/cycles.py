"""Cycles (round-tripping): money that comes back to where it started, A → B → … → A.

When a P2P transfer u → v arrives, the detector searches the bounded recent graph (every
account's P2P transfers of the last ``cycle_days``) for a path v → … → u whose transfers follow
each other in time and each pass on a share of the previous one in ``cycle_keep_range`` (money
moving on, less a cut): with the new transfer the path closes a ring of at most
``cycle_max_hops`` accounts. Transfers below ``cycle_min_share`` of the reporting threshold are
ignored (friends paying each other back form rings of small, unrelated amounts). The search
stops after :data:`MAX_EXPANSIONS` steps, so a busy account cannot stall a batch.
"""

from __future__ import annotations

from detectors.config import DAY_US
from detectors.context import Context
from detectors.scoring import Finding, Indicator, ramp
from detectors.state import AMOUNT, CURRENCY, DIRECTION, OTHER, TX, Flow, T

MAX_EXPANSIONS = 5_000


def cycle(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    minimum = cfg.share(ev.currency, cfg.cycle_min_share)
    if ev.event_type != "p2p_transfer" or ev.counterparty is None or ev.amount_minor < minimum:
        return None
    path = _path_back(ctx, ev.counterparty, ev.account_id, minimum)
    if path is None:
        return None
    ring = [ev.counterparty, *(f[OTHER] for f in path)]  # v, x1, …, u
    hops = len(ring)
    kept = ev.amount_minor / path[0][AMOUNT]
    hours = (ev.t_us - path[0][T]) / 3_600_000_000
    return Finding("cycle", ev.account_id, ev.transaction_id, (
        Indicator(1.0, 0.4, f"money went round {hops} accounts and came back"),
        Indicator(ramp(kept, cfg.cycle_keep_range[0], 0.97), 0.3,
                  f"{kept:.1%} of it came back"),
        Indicator(ramp(hours, cfg.cycle_days * 24, 12), 0.3, f"within {hours:.0f} h"),
    ), (*(f[TX] for f in path), ev.transaction_id), tuple(ring))


def _path_back(ctx: Context, start: str, target: str, minimum: int) -> list[Flow] | None:
    """The shortest time-respecting chain of transfers start → … → target the new transfer
    (target → start) closes, or None."""
    ev, cfg = ctx.ev, ctx.config
    low, high = cfg.cycle_keep_range
    since = ev.t_us - cfg.cycle_days * DAY_US
    frontier: list[tuple[str, list[Flow]]] = [(start, [])]
    expansions = 0
    for _ in range(cfg.cycle_max_hops - 1):
        following: list[tuple[str, list[Flow]]] = []
        for node, chain in frontier:
            last = chain[-1] if chain else None
            on_path = {start, *(f[OTHER] for f in chain)}
            for f in ctx.state.flows(node):
                expansions += 1
                if expansions > MAX_EXPANSIONS:
                    return None
                if (f[DIRECTION] != "out" or f[OTHER] is None or f[CURRENCY] != ev.currency
                        or f[AMOUNT] < minimum or not since < f[T] <= ev.t_us
                        or f[TX] == ev.transaction_id):
                    continue
                if last is not None and (f[T] < last[T]
                                         or not low <= f[AMOUNT] / last[AMOUNT] <= high):
                    continue
                if f[OTHER] == target:
                    if low <= ev.amount_minor / f[AMOUNT] <= high and f[T] <= ev.t_us:
                        return [*chain, f]
                elif f[OTHER] not in on_path:
                    following.append((f[OTHER], [*chain, f]))
        frontier = following
    return None
