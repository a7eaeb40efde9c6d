"""Double-entry ledger: balanced, immutable, hash-chained, idempotent by transaction_id."""

from ledger.recipes import Leg, legs, plan
from ledger.store import Ledger, PostingResult, make_engine
from ledger.verify import VerifyReport, verify

__all__ = ["Leg", "Ledger", "PostingResult", "VerifyReport", "legs", "make_engine", "plan",
           "verify"]
