"""``flowlet ledger verify``: the checks a payments team runs before trusting the books.

1. trial balance: every currency sums to zero;
2. every journal is balanced per currency, and rejected journals have a reason and no entries;
3. the hash chain: ``seq`` contiguous from 1, each ``prev_hash`` the previous ``hash``, each
   ``hash`` recomputed from the row and its entries, the head matching the last journal;
4. derived balances: the cached ``ledger_balances`` equal the sums of entries;
5. (when given the accepted ids) every accepted transaction has exactly one journal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from ledger.chain import GENESIS, journal_hash
from ledger.schema import balances, chain_head, entries, journals
from ledger.store import Ledger

MAX_LISTED = 50  # problems listed per check; the count is always exact


@dataclass
class VerifyReport:
    journals: int = 0
    entries: int = 0
    rejected: int = 0
    head_hash: str = GENESIS
    trial_balance: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"journals: {self.journals} ({self.rejected} rejected)",
                 f"entries:  {self.entries}", f"chain head: {self.head_hash}", "trial balance:"]
        lines += [f"  {ccy}: {total}" for ccy, total in sorted(self.trial_balance.items())]
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["OK: ledger is consistent"]
        return "\n".join(lines)


def verify(ledger: Ledger, accepted_ids: Iterable[str] | None = None) -> VerifyReport:
    report = VerifyReport()
    with ledger.engine.connect() as conn:
        # One snapshot for every read, so a worker posting meanwhile causes no false alarms.
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        else:
            conn.exec_driver_sql("BEGIN")
        # Entries name their journal by seq (revision 0003 dropped their copy of its id).
        legs_by_seq: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
        derived: dict[tuple[str, str], int] = defaultdict(int)
        trial: dict[str, int] = defaultdict(int)
        for r in conn.execute(select(entries).order_by(entries.c.journal_seq, entries.c.leg)):
            legs_by_seq[int(r.journal_seq)].append(
                (r.leg, r.ledger_account, r.currency, int(r.amount_minor)))
            derived[(r.ledger_account, r.currency)] += int(r.amount_minor)
            trial[r.currency] += int(r.amount_minor)
            report.entries += 1
        chain: list[str] = []
        expected_seq, prev = 1, GENESIS
        seen_tx: set[str] = set()
        for row in conn.execute(select(journals).order_by(journals.c.seq)).mappings():
            report.journals += 1
            tid, legs = row["transaction_id"], legs_by_seq.pop(int(row["seq"]), [])
            seen_tx.add(tid)
            where = f"journal seq {row['seq']} ({tid})"
            if row["seq"] != expected_seq:
                chain.append(f"{where}: expected seq {expected_seq} — a journal was deleted "
                             "or inserted before it")
            if row["prev_hash"] != prev:
                chain.append(f"{where}: prev_hash does not match the hash of seq "
                             f"{row['seq'] - 1}")
            if journal_hash(row["prev_hash"], row, legs) != row["hash"]:
                chain.append(f"{where}: hash mismatch — the row or its entries were altered")
            expected_seq, prev = row["seq"] + 1, row["hash"]
            if row["status"] == "rejected":
                report.rejected += 1
                if not row["reason"]:
                    report.problems.append(f"{where}: rejected without a reason")
                if legs:
                    report.problems.append(f"{where}: rejected but has entries")
            else:
                per_ccy: dict[str, int] = defaultdict(int)
                for _, _, ccy, amount in legs:
                    per_ccy[ccy] += amount
                for ccy, total in sorted(per_ccy.items()):
                    if total:
                        report.problems.append(f"{where}: unbalanced in {ccy} by {total}")
                if not legs:
                    report.problems.append(f"{where}: posted but has no entries")
        for seq in sorted(legs_by_seq):
            chain.append(f"entries for journal seq {seq} belong to no journal")
        head = conn.execute(select(chain_head.c.seq, chain_head.c.hash)).one()
        report.head_hash = head.hash
        if (head.seq, head.hash) != (expected_seq - 1, prev):
            chain.append(f"chain head (seq {head.seq}) does not match the last journal "
                         f"(seq {expected_seq - 1}) — journals were removed from the end")
        cached = {(r.ledger_account, r.currency): int(r.balance)
                  for r in conn.execute(select(balances))}
        conn.rollback()
    report.trial_balance = dict(trial)
    report.problems[:0] = [f"trial balance in {ccy} is {total}, not 0"
                           for ccy, total in sorted(trial.items()) if total != 0]
    report.problems += _capped("hash chain", chain)
    wrong = [f"cached balance of {a} {c} is {cached.get((a, c), 0)}, entries sum to {v}"
             for (a, c), v in sorted(derived.items()) if cached.get((a, c), 0) != v]
    wrong += [f"cached balance of {a} {c} is {v} but it has no entries"
              for (a, c), v in sorted(cached.items()) if (a, c) not in derived and v != 0]
    report.problems += _capped("balances", wrong)
    if accepted_ids is not None:
        missing = sorted(set(accepted_ids) - seen_tx)
        report.problems += _capped("postings", [
            f"accepted transaction {t} has no journal (neither posted nor rejected)"
            for t in missing])
    return report


def _capped(check: str, problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return problems[:MAX_LISTED] + [f"{check}: {len(problems) - MAX_LISTED} more problems"]
