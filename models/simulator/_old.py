"""A transaction simulator with labelled fraud patterns, deterministic under a seed.

Customers have a home country, currency, typical spend, devices and a card; merchants have an
MCC and a price level. Legitimate activity is top-ups, card and merchant payments, P2P,
withdrawals, refunds and FX. Fraud patterns injected on top:

* ``card_testing`` — many small card-not-present captures at different merchants in minutes;
* ``account_takeover`` — new device, foreign country and IP, night-time cash-out / P2P to a mule;
* ``amount_burst`` — several payments far above the customer's usual amount within an hour.

>>> from datetime import UTC, datetime
>>> sim = Simulator(seed=1, n_accounts=20, n_merchants=5)
>>> txs = sim.generate(200, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> len(txs), txs == Simulator(seed=1, n_accounts=20, n_merchants=5).generate(
...     200, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
(200, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from flowlet.contract import LabelEvent, TransactionEvent

COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL"]
HIGH_RISK_COUNTRIES = ["NG", "RU", "KP", "IR", "VN"]
CURRENCY_OF = {"GB": "GBP", "US": "USD", "PL": "PLN"}
MCCS = ["5411", "5812", "5999", "4111", "5732", "7995", "5311", "4814", "6051", "5944"]


@dataclass(frozen=True)
class SimulatedTransaction:
    event: TransactionEvent
    is_fraud: bool
    pattern: str | None = None


@dataclass(frozen=True)
class _Account:
    account_id: str
    country: str
    currency: str
    typical_minor: float
    devices: tuple[str, ...]
    card_token: str
    ip: str


@dataclass(frozen=True)
class _Merchant:
    merchant_id: str
    mcc: str
    country: str
    price_factor: float


class Simulator:
    def __init__(self, seed: int = 7, n_accounts: int = 500, n_merchants: int = 100,
                 fraud_share: float = 0.03) -> None:
        self.seed = seed
        self.fraud_share = fraud_share
        self._rng = np.random.default_rng(seed)
        rng = self._rng
        self.accounts = [
            _Account(
                account_id=f"acc-{seed}-{i:05d}",
                country=(c := str(rng.choice(COUNTRIES, p=[.3, .15, .1, .1, .1, .1, .1, .05]))),
                currency=CURRENCY_OF.get(c, "EUR"),
                typical_minor=float(np.exp(rng.normal(np.log(3500), 0.6))),
                devices=tuple(f"dev-{seed}-{i:05d}-{d}" for d in range(int(rng.integers(1, 3)))),
                card_token=f"ctok_{seed}_{i:05d}",
                ip=f"10.{i // 250 % 250}.{i % 250}.{int(rng.integers(1, 250))}",
            )
            for i in range(n_accounts)
        ]
        self.merchants = [
            _Merchant(f"mer-{seed}-{j:04d}", str(rng.choice(MCCS)), str(rng.choice(COUNTRIES)),
                      float(rng.uniform(0.4, 2.5)))
            for j in range(n_merchants)
        ]
        self._seq = 0
        self._funded: set[str] = set()

    def _tid(self) -> str:
        self._seq += 1
        return f"tx-{self.seed}-{self._seq:08d}"

    def generate(self, n: int, start: datetime, end: datetime) -> list[SimulatedTransaction]:
        """``n`` transactions with occurred_at in [start, end), sorted by time.

        An account's first appearance is preceded by an opening top-up at ``start`` (counted
        in ``n``), so the ledger's no-overdraft rule rejects only what overspends.
        """
        rng = self._rng
        span = (end - start).total_seconds()
        out: list[SimulatedTransaction] = []
        while len(out) < n:
            at = start + timedelta(seconds=float(rng.uniform(0, span)))
            acct = self.accounts[int(rng.integers(len(self.accounts)))]
            if acct.account_id not in self._funded:
                self._funded.add(acct.account_id)
                out.append(SimulatedTransaction(self._event(
                    acct, start, event_type="top_up", channel="api", device_id=None,
                    amount_minor=int(acct.typical_minor * 60)), False))
            if rng.random() < self.fraud_share / 6:  # patterns emit ~6 events each
                out += self._fraud(acct, at)
            else:
                out += self._legit(acct, at)
        out = out[:n]
        out.sort(key=lambda t: (t.event.occurred_at, t.event.transaction_id))
        return out

    def _event(self, acct: _Account, at: datetime, **fields: object) -> TransactionEvent:
        base: dict[str, object] = {
            "transaction_id": self._tid(), "occurred_at": at, "currency": acct.currency,
            "account_id": acct.account_id, "country": acct.country, "device_id": acct.devices[0],
            "ip_address": acct.ip,
        }
        base.update(fields)
        return TransactionEvent.model_validate(base)

    def _legit(self, acct: _Account, at: datetime) -> list[SimulatedTransaction]:
        rng = self._rng
        kind = rng.choice(["card", "merchant", "top_up", "p2p", "withdrawal", "refund", "fx"],
                          p=[.38, .25, .12, .12, .07, .03, .03])
        amount = max(50, int(acct.typical_minor * rng.lognormal(0, 0.5)))
        m = self.merchants[int(rng.integers(len(self.merchants)))]
        merchant = {"merchant_id": m.merchant_id, "mcc": m.mcc}
        if kind == "card":
            card = {"card_token": acct.card_token, "channel": str(
                rng.choice(["card_present", "ecommerce"], p=[.6, .4])), **merchant}
            price = int(amount * m.price_factor) + 1
            if rng.random() < 0.5:  # single-message purchase
                ev = self._event(acct, at, event_type="card_capture", amount_minor=price, **card)
            else:  # two-phase: authorization, then capture (or, sometimes, a void)
                auth = self._event(acct, at, event_type="card_authorization",
                                   amount_minor=price, **card)
                later = at + timedelta(minutes=float(rng.uniform(1, 90)))
                follow = "card_void" if rng.random() < 0.08 else "card_capture"
                second = self._event(acct, later, event_type=follow, amount_minor=price,
                                     original_transaction_id=auth.transaction_id, **card)
                return [SimulatedTransaction(auth, False), SimulatedTransaction(second, False)]
        elif kind == "merchant":
            ev = self._event(acct, at, event_type="merchant_payment",
                             amount_minor=int(amount * m.price_factor) + 1, channel="mobile_app",
                             **merchant)
        elif kind == "top_up":
            ev = self._event(acct, at, event_type="top_up", amount_minor=amount * 8,
                             channel="api", device_id=None)
        elif kind == "p2p":
            other = self.accounts[int(rng.integers(len(self.accounts)))]
            if other.account_id == acct.account_id:
                return self._legit(acct, at)
            ev = self._event(acct, at, event_type="p2p_transfer", amount_minor=amount,
                             counterparty_account_id=other.account_id, channel="mobile_app")
        elif kind == "withdrawal":
            ev = self._event(acct, at, event_type="withdrawal", amount_minor=amount * 3,
                             channel="atm", card_token=acct.card_token,
                             fee_minor=200 if rng.random() < 0.3 else None)
        elif kind == "refund":
            ev = self._event(acct, at, event_type="refund", amount_minor=amount, channel="web",
                             **merchant)
        else:
            target = "USD" if acct.currency != "USD" else "EUR"
            ev = self._event(acct, at, event_type="fx_conversion", amount_minor=amount,
                             target_currency=target, target_amount_minor=int(amount * 1.08),
                             channel="mobile_app")
        return [SimulatedTransaction(ev, False)]

    def _fraud(self, acct: _Account, at: datetime) -> list[SimulatedTransaction]:
        rng = self._rng
        pattern = str(rng.choice(["card_testing", "account_takeover", "amount_burst"]))
        evs: list[TransactionEvent] = []
        if pattern == "card_testing":
            device = f"dev-fraud-{self._seq}"
            for k in range(int(rng.integers(5, 12))):
                m = self.merchants[int(rng.integers(len(self.merchants)))]
                evs.append(self._event(
                    acct, at + timedelta(seconds=40 * k + float(rng.uniform(0, 30))),
                    event_type="card_capture", amount_minor=int(rng.integers(100, 400)),
                    channel="ecommerce", card_token=acct.card_token, device_id=device,
                    merchant_id=m.merchant_id, mcc=m.mcc, ip_address="203.0.113.7",
                    country=str(rng.choice(HIGH_RISK_COUNTRIES))))
        elif pattern == "account_takeover":
            night = at.replace(hour=int(rng.integers(1, 5)))
            if night < at:  # the next night, so a live feed never emits events in the past
                night += timedelta(days=1)
            country = str(rng.choice(HIGH_RISK_COUNTRIES))
            mule = f"acc-mule-{int(rng.integers(0, 20)):03d}"
            for k in range(int(rng.integers(2, 5))):
                kind = "p2p_transfer" if k % 2 == 0 else "withdrawal"
                extra = {"counterparty_account_id": mule} if kind == "p2p_transfer" else {}
                evs.append(self._event(
                    acct, night + timedelta(minutes=7 * k), event_type=kind,
                    amount_minor=int(acct.typical_minor * rng.uniform(6, 15)),
                    channel="web", device_id=f"dev-ato-{self._seq}", country=country,
                    ip_address=f"198.51.100.{int(rng.integers(1, 250))}", **extra))
        else:
            for k in range(int(rng.integers(3, 7))):
                m = self.merchants[int(rng.integers(len(self.merchants)))]
                evs.append(self._event(
                    acct, at + timedelta(minutes=6 * k), event_type="merchant_payment",
                    amount_minor=int(acct.typical_minor * rng.uniform(8, 25)),
                    channel="web", merchant_id=m.merchant_id, mcc=m.mcc))
        return [SimulatedTransaction(e, True, pattern) for e in evs]


def label_events(txs: list[SimulatedTransaction], seed: int = 0,
                 cleared_share: float = 0.01) -> list[LabelEvent]:
    """Late labels for simulated history, sorted by when they became known.

    Fraud is labelled by an analyst 1–5 days after the transaction (40%) or by a chargeback
    10–40 days after (60%); a small share of legitimate transactions is labelled not-fraud by
    analysts clearing alerts. Deterministic under ``seed``.

    >>> from datetime import UTC, datetime
    >>> txs = Simulator(seed=2, n_accounts=30, n_merchants=5, fraud_share=0.3).generate(
    ...     300, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))
    >>> labels = label_events(txs, seed=2)
    >>> all(lab.occurred_at > lab.transaction_occurred_at for lab in labels)
    True
    >>> sum(lab.is_fraud for lab in labels) == sum(t.is_fraud for t in txs)
    True
    """
    rng = np.random.default_rng(seed)
    out: list[LabelEvent] = []
    for t in txs:
        ev = t.event
        if t.is_fraud:
            chargeback = rng.random() < 0.6
            delay = timedelta(days=float(rng.uniform(10, 40) if chargeback else rng.uniform(1, 5)))
            source = "chargeback" if chargeback else "analyst"
        elif rng.random() < cleared_share:
            delay, source = timedelta(days=float(rng.uniform(0.5, 3))), "analyst"
        else:
            continue
        out.append(LabelEvent(
            label_id=f"label-{ev.transaction_id}", labelled_transaction_id=ev.transaction_id,
            account_id=ev.account_id, merchant_id=ev.merchant_id,
            transaction_occurred_at=ev.occurred_at, occurred_at=ev.occurred_at + delay,
            is_fraud=t.is_fraud, source=source))
    out.sort(key=lambda lab: (lab.occurred_at, lab.label_id))
    return out
