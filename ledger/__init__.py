"""Double-entry ledger: balanced, immutable, hash-chained, idempotent by transaction_id."""

import logging

from ledger.decide import stale_builds
from ledger.recipes import Leg, legs, plan
from ledger.store import Ledger, PostingResult
from ledger.verify import VerifyReport, verify

if stale_builds():
    logging.getLogger(__name__).warning(
        "ledger: compiled %s older than the source, which therefore does not run; "
        "rebuild with `make ext`", ", ".join(stale_builds()))

__all__ = ["Leg", "Ledger", "PostingResult", "VerifyReport", "legs", "plan",
           "verify"]
