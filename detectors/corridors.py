"""High-risk corridors: money moving between a high-risk country and another one.

The corridor of a transaction is (origin, destination): a cash withdrawal or a card/merchant
payment goes from the account's home country (the country of its first transaction seen) to the
event's country; a P2P transfer from the event's country to the receiver's home (when the
detectors have seen the receiver); a deposit from the event's country to the account's home.
A corridor between two different countries, one of them in ``high_risk_countries``, alerts when
the transaction, or the account's risky-corridor total over ``corridor_window_days``, reaches
``corridor_min_share`` of the reporting threshold.
"""

from __future__ import annotations

from detectors.config import DAY_US
from detectors.context import IN_TYPES, SPEND_TYPES, Context
from detectors.scoring import Finding, Indicator, ramp


def corridor_of(ctx: Context) -> tuple[str | None, str | None]:
    ev, state = ctx.ev, ctx.state
    home = state.home(ev.account_id)
    if ev.event_type == "p2p_transfer":
        receiver = state.accounts.get(ev.counterparty or "")
        return ev.country, receiver["home"] if receiver else None
    if ev.event_type in IN_TYPES:
        return ev.country, home
    if ev.event_type in SPEND_TYPES:
        return home, ev.country
    return None, None


def high_risk_corridor(ctx: Context) -> Finding | None:
    ev, cfg = ctx.ev, ctx.config
    origin, destination = corridor_of(ctx)
    if origin is None or destination is None or origin == destination:
        return None
    risky = {origin, destination} & cfg.high_risk_countries
    if not risky:
        return None
    account = ctx.state.account(ev.account_id)
    since = ev.t_us - cfg.corridor_window_days * DAY_US
    recent = [r for r in account.setdefault("risk", []) if r[0] > since]
    if not any(r[1] == ev.transaction_id for r in recent):
        recent.append([ev.t_us, ev.transaction_id, ev.amount_minor, ev.currency])
    account["risk"] = recent
    same_currency = [r for r in recent if r[3] == ev.currency]
    total = sum(r[2] for r in same_currency)
    minimum = cfg.share(ev.currency, cfg.corridor_min_share)
    if total < minimum:
        return None
    threshold = cfg.threshold_minor(ev.currency)
    return Finding("high_risk_corridor", ev.account_id, ev.transaction_id, (
        Indicator(1.0, 0.5, f"money {origin} → {destination} "
                  f"({', '.join(sorted(risky))} high-risk)"),
        Indicator(ramp(total, minimum, 5 * minimum), 0.3,
                  f"{total / threshold:.2f}× the reporting threshold in "
                  f"{cfg.corridor_window_days} days"),
        Indicator(ramp(len(same_currency), 1, 4), 0.2,
                  f"{len(same_currency)} transactions in the corridor"),
    ), tuple(r[1] for r in same_currency), (ev.counterparty,) if ev.counterparty else ())
