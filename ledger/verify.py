"""``flowlet ledger verify``: the checks a payments team runs before trusting the books."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from ledger.schema import entries, journals
from ledger.store import Ledger


@dataclass
class VerifyReport:
    journals: int = 0
    entries: int = 0
    trial_balance: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"journals: {self.journals}", f"entries:  {self.entries}", "trial balance:"]
        lines += [f"  {ccy}: {total}" for ccy, total in sorted(self.trial_balance.items())]
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["OK: ledger is consistent"]
        return "\n".join(lines)


def verify(ledger: Ledger) -> VerifyReport:
    report = VerifyReport(trial_balance=ledger.trial_balance())
    with ledger.engine.connect() as conn:
        report.journals = conn.execute(select(func.count()).select_from(journals)).scalar_one()
        report.entries = conn.execute(select(func.count()).select_from(entries)).scalar_one()
        per_tx = (
            select(entries.c.transaction_id, entries.c.currency)
            .group_by(entries.c.transaction_id, entries.c.currency)
            .having(func.sum(entries.c.amount_minor) != 0)
        )
        for tid, ccy in conn.execute(per_tx):
            report.problems.append(f"journal {tid} is unbalanced in {ccy}")
        unposted = select(journals.c.transaction_id).where(
            journals.c.status == "posted",
            ~select(entries.c.entry_id)
            .where(entries.c.transaction_id == journals.c.transaction_id)
            .exists(),
        )
        for (tid,) in conn.execute(unposted):
            report.problems.append(f"journal {tid} is marked posted but has no entries")
    for ccy, total in report.trial_balance.items():
        if total != 0:
            report.problems.append(f"trial balance in {ccy} is {total}, not 0")
    return report
