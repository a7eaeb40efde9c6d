"""``flowlet ledger verify``: the checks a payments team runs before trusting the books.

1. trial balance: every currency sums to zero;
2. every journal is balanced per currency, and rejected journals have a reason and no entries;
3. the hash chain of every shard: ``seq`` contiguous from 1, the first ``prev_hash`` the
   shard's genesis and each later one the previous ``hash``, each ``hash`` recomputed from the
   row and its entries, the shard's head matching its last journal;
4. derived balances: the cached ``ledger_balances`` equal the sums of entries;
5. (when given the accepted ids) every accepted transaction has exactly one journal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from ledger.chain import genesis, journal_hash
from ledger.schema import balances, chain_head, entries, journals
from ledger.store import Ledger

MAX_LISTED = 50  # problems listed per check; the count is always exact


@dataclass
class VerifyReport:
    journals: int = 0
    entries: int = 0
    rejected: int = 0
    #: shard -> (seq, hash) of its chain head, as stored (publish these to anchor the chains)
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)
    trial_balance: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"journals: {self.journals} ({self.rejected} rejected)",
                 f"entries:  {self.entries}", f"chain heads ({len(self.heads)} shards):"]
        lines += [f"  shard {shard}: seq {seq} {digest}"
                  for shard, (seq, digest) in sorted(self.heads.items())]
        lines += ["trial balance:"]
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
        # Entries name their journal by (shard, seq) (revision 0003 dropped their copy of its
        # id, 0004 added the shard).
        legs_by_key: dict[tuple[int, int], list[tuple[int, str, str, int]]] = defaultdict(list)
        derived: dict[tuple[str, str], int] = defaultdict(int)
        trial: dict[str, int] = defaultdict(int)
        for r in conn.execute(select(entries).order_by(
                entries.c.journal_shard, entries.c.journal_seq, entries.c.leg)):
            legs_by_key[(int(r.journal_shard), int(r.journal_seq))].append(
                (r.leg, r.ledger_account, r.currency, int(r.amount_minor)))
            derived[(r.ledger_account, r.currency)] += int(r.amount_minor)
            trial[r.currency] += int(r.amount_minor)
            report.entries += 1
        chain: list[str] = []
        #: shard -> (next seq expected, last hash) of each shard's chain walked so far
        walked: dict[int, tuple[int, str]] = {}
        seen_tx: set[str] = set()
        for row in conn.execute(select(journals).order_by(journals.c.shard,
                                                          journals.c.seq)).mappings():
            report.journals += 1
            shard, seq = int(row["shard"]), int(row["seq"])
            tid, legs = row["transaction_id"], legs_by_key.pop((shard, seq), [])
            seen_tx.add(tid)
            expected_seq, prev = walked.get(shard) or (1, genesis(shard))
            where = f"shard {shard}: journal seq {seq} ({tid})"
            if seq != expected_seq:
                chain.append(f"{where}: expected seq {expected_seq} — a journal was deleted "
                             "or inserted before it")
            if row["prev_hash"] != prev:
                chain.append(f"{where}: prev_hash does not match "
                             + (f"the hash of seq {seq - 1}" if seq > 1
                                else f"shard {shard}'s genesis"))
            if journal_hash(row["prev_hash"], row, legs) != row["hash"]:
                chain.append(f"{where}: hash mismatch — the row or its entries were altered")
            walked[shard] = (seq + 1, row["hash"])
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
        for shard, seq in sorted(legs_by_key):
            chain.append(f"shard {shard}: entries for journal seq {seq} belong to no journal")
        report.heads = {int(r.shard): (int(r.seq), r.hash) for r in conn.execute(
            select(chain_head.c.shard, chain_head.c.seq, chain_head.c.hash))}
        for shard in sorted(set(report.heads) | set(walked)):
            head = report.heads.get(shard)
            expected_seq, prev = walked.get(shard) or (1, genesis(shard))
            if head is None:
                chain.append(f"shard {shard}: no chain head, but journals up to seq "
                             f"{expected_seq - 1}")
            elif head != (expected_seq - 1, prev):
                chain.append(f"shard {shard}: chain head (seq {head[0]}) does not match the "
                             f"last journal (seq {expected_seq - 1}) — journals were removed "
                             "from the end, or the head was altered")
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
