"""What a detector sees of one transaction: the event, the state after it, the config.

Every detector looks at the payer's side of the transaction that just arrived (the account whose
partition it is on): structuring, pass-through, fan-out, closing a cycle, reactivation and a
corridor are all things the payer does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detectors.config import DetectorConfig
from detectors.state import DetectorState

#: Event types that move money out of the account to someone else or to cash, and into it.
OUT_TYPES = frozenset({"p2p_transfer", "withdrawal"})
IN_TYPES = frozenset({"top_up"})
#: Outgoing money movements whose destination is a place (the event's country).
SPEND_TYPES = frozenset({"withdrawal", "card_capture", "merchant_payment", "p2p_transfer"})


@dataclass(frozen=True)
class Seen:
    """One transaction as the detectors read it (times in microseconds since the epoch)."""

    transaction_id: str
    t_us: int
    event_type: str
    amount_minor: int
    currency: str
    account_id: str
    counterparty: str | None
    country: str
    #: Seconds since the account's previous transaction (the feature
    #: ``acct_seconds_since_prev``; NaN when unknown or first).
    since_prev_s: float = math.nan
    merchant_id: str | None = None


@dataclass(frozen=True)
class Context:
    ev: Seen
    state: DetectorState
    config: DetectorConfig
