"""Double-entry ledger: balanced, immutable, hash-chained, idempotent by transaction_id."""

from ledger.batch import PostingResult
from ledger.recipes import Leg, legs, plan
from ledger.store import Ledger
from ledger.verify import VerifyReport, verify

__all__ = ["Leg", "Ledger", "PostingResult", "VerifyReport", "legs", "plan",
           "verify"]
