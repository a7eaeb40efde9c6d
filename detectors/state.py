"""The detectors' memory: each account's recent money flows, bounded in time and size.

A *flow* is one leg of a money movement as seen from one account, a plain list (so a state can
be stored like the feature states, ``marshal``-able)::

    [t_us, direction, amount_minor, currency, transaction_id, other_account, event_type, country]

``direction`` is ``"in"`` (cash deposit/top-up, P2P received) or ``"out"`` (P2P sent, cash
withdrawal); ``other_account`` is the P2P counterparty (None for cash). A P2P transfer A → B is
an ``out`` flow of A and an ``in`` flow of B. Flows older than the detectors' horizon (the
longest window) are dropped, and an account keeps at most ``max_flows`` of them.

>>> st = DetectorState(horizon_us=10, max_flows=3)
>>> for t in range(5):
...     st.add("a", [t, "in", 100, "EUR", f"tx-{t}", None, "top_up", "DE"])
>>> [f[4] for f in st.flows("a")]
['tx-2', 'tx-3', 'tx-4']
>>> st.expire(now_us=12); [f[4] for f in st.flows("a")]
['tx-3', 'tx-4']
"""

from __future__ import annotations

from typing import Any

Flow = list[Any]
T, DIRECTION, AMOUNT, CURRENCY, TX, OTHER, TYPE, COUNTRY = range(8)
#: Alerting transactions remembered with their alert records, for redelivery: at most this many.
MAX_RAISED = 1_000_000


class DetectorState:
    """Flows per account, the accounts' home country, and what alerting transactions raised."""

    def __init__(self, horizon_us: int, max_flows: int = 400) -> None:
        self.horizon_us, self.max_flows = horizon_us, max_flows
        self.accounts: dict[str, dict[str, Any]] = {}
        #: alerting transaction id -> (event time, the alert records it raised): a redelivered
        #: transaction gets exactly these again. Others are known by their flows (applied).
        self.raised: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self.clock = 0  # newest event time seen (us)

    def account(self, account_id: str) -> dict[str, Any]:
        st = self.accounts.get(account_id)
        if st is None:
            st = self.accounts[account_id] = {"flows": [], "home": None, "last": 0}
        return st

    def flows(self, account_id: str) -> list[Flow]:
        st = self.accounts.get(account_id)
        return st["flows"] if st else []

    def touch(self, account_id: str, t_us: int) -> None:
        """The account was active at ``t_us`` (its state lives a horizon from its last act)."""
        st = self.account(account_id)
        st["last"] = max(st.get("last", 0), t_us)
        self.clock = max(self.clock, t_us)

    def add(self, account_id: str, flow: Flow) -> None:
        self.touch(account_id, flow[T])
        flows = self.account(account_id)["flows"]
        flows.append(flow)
        if len(flows) > self.max_flows:
            del flows[: len(flows) - self.max_flows]

    def home(self, account_id: str, country: str | None = None) -> str | None:
        """The account's home country: the country of the first transaction seen."""
        st = self.account(account_id)
        if st["home"] is None and country is not None:
            st["home"] = country
        return st["home"]  # type: ignore[no-any-return]

    def remember(self, transaction_id: str, t_us: int, alerts: list[dict[str, Any]]) -> None:
        if not alerts:
            return
        self.raised[transaction_id] = (t_us, alerts)
        if len(self.raised) > MAX_RAISED:
            for key in list(self.raised)[: len(self.raised) - MAX_RAISED]:
                del self.raised[key]

    def applied(self, account_id: str, transaction_id: str) -> bool:
        """Whether the transaction is already in the account's state (a flow or a corridor)."""
        st = self.accounts.get(account_id)
        return st is not None and (any(f[TX] == transaction_id for f in st["flows"])
                                   or any(r[1] == transaction_id for r in st.get("risk", ())))

    def expire(self, now_us: int | None = None) -> None:
        """Forget flows (and remembered alerts) older than the horizon."""
        edge = (self.clock if now_us is None else now_us) - self.horizon_us
        for account_id in list(self.accounts):
            st = self.accounts[account_id]
            if st.get("last", 0) <= edge:  # nothing for a whole horizon: forget the account
                del self.accounts[account_id]
                continue
            st["flows"] = [f for f in st["flows"] if f[T] > edge]
            if "risk" in st:
                st["risk"] = [r for r in st["risk"] if r[0] > edge]
        for tx in [tx for tx, (t, _) in self.raised.items() if t <= edge]:
            del self.raised[tx]


def window(flows: list[Flow], start_us: int, end_us: int, direction: str | None = None
           ) -> list[Flow]:
    """The flows with ``start_us < t <= end_us`` (of one direction, when given)."""
    return [f for f in flows if start_us < f[T] <= end_us
            and (direction is None or f[DIRECTION] == direction)]
