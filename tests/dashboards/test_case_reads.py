"""The case page's lake reads, written to be pruned by the lake's layout (files sorted by
account, bloom filters on the payee), give the answers of the plain queries over the
deduplicated ``transactions`` view: with the sink's batch files and a redelivered copy, after
compaction into account-clustered row groups, and with a new tail on top."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

import streams.lake_compactor as compactor
from core.db import make_engine
from core.lake import connect
from dashboards import customer, workbench
from flowlet.bench.dashboard import lake_rows
from streams.lake_compactor import compact
from streams.sink import LakeSink

END = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)


class CrashingSink(LakeSink):
    """Dies after renaming its files, before its claims commit: an unclaimed copy stays."""

    def _write_files(self, rows, file_id):
        super()._write_files(rows, file_id)
        raise KeyboardInterrupt("killed between rename and commit")


def naive_recent_ids(con, account: str, limit: int = 50) -> list[str]:
    return [i for (i,) in con.execute(
        """SELECT transaction_id FROM transactions
           WHERE account_id = $a OR counterparty_account_id = $a
           ORDER BY occurred_at DESC, transaction_id LIMIT $n""",
        {"a": account, "n": limit}).fetchall()]


def naive_network(con, account: str, hops: int = 2, per_node: int = customer.EDGES_PER_NODE):
    """The network from the deduplicated view, a hop at a time, as first written."""
    frontier, seen, edges = {account}, {account}, []
    for _ in range(hops):
        if not frontier:
            break
        found = con.execute(
            """WITH g AS (
                 SELECT account_id AS payer,
                        coalesce(counterparty_account_id, merchant_id) AS payee, currency,
                        count(*) AS n, sum(amount_minor) AS total
                 FROM transactions
                 WHERE coalesce(counterparty_account_id, merchant_id) IS NOT NULL
                   AND (list_contains($nodes, account_id)
                        OR list_contains($nodes, counterparty_account_id))
                 GROUP BY ALL)
               SELECT payer, payee, currency, n, total FROM g
               QUALIFY row_number() OVER (
                 PARTITION BY CASE WHEN list_contains($nodes, payer) THEN payer ELSE payee END
                 ORDER BY n DESC, total DESC, payer, payee) <= $k""",
            {"nodes": sorted(frontier), "k": per_node}).df()
        edges.append(found)
        frontier = (set(found["payer"]) | set(found["payee"])) - seen
        seen |= frontier
    raw = pd.concat(edges).drop_duplicates(["payer", "payee", "currency"])
    flagged = {a for (a,) in con.execute(
        "SELECT DISTINCT account_id FROM transactions WHERE is_alert "
        "AND list_contains($nodes, account_id)", {"nodes": sorted(seen)}).fetchall()}
    return {(r.payer, r.payee, int(r.n)) for r in raw.itertuples()}, flagged


def assert_case_reads_equal_naive(lake_dir, accounts: list[str], *, network: bool = True,
                                  ) -> None:
    """``network=False`` while an unclaimed copy is live: the cubes count it until compaction
    drops it (the raw reads deduplicate it at once; see dashboards/README.md)."""
    con = connect(lake_dir)
    for account in accounts:
        recent = workbench.recent_transactions(con, account)
        assert recent["transaction"].tolist() == naive_recent_ids(con, account), account
        if not network:
            continue
        network_of = customer.counterparty_network(con, account)
        edges = {(e.payer, e.payee, int(e.transactions))
                 for e in network_of.edges.itertuples()}
        assert (edges, set(network_of.flagged)) == naive_network(con, account), account
    con.close()


@pytest.fixture
def rows() -> list[dict]:
    """6,000 generated lake rows over 3 days on 300 accounts (so transfers meet)."""
    out: list[dict] = []
    for day in lake_rows(6_000, seed=5, end=END, days=3, accounts=300, merchants=40):
        out += day.to_pylist()
    return out


def test_case_reads_answer_as_the_naive_queries_through_redelivery_and_compaction(
        tmp_path, rows, monkeypatch):
    monkeypatch.setattr(compactor, "_ROW_GROUP_ROWS", 200)  # several groups per day file
    lake_dir = tmp_path / "lake"
    engine = make_engine(f"sqlite:///{tmp_path / 'flowlet.db'}")
    batches = [rows[i:i + 500] for i in range(0, len(rows), 500)]
    with pytest.raises(KeyboardInterrupt):
        CrashingSink(lake_dir, engine).write(batches[0])
    sink = LakeSink(lake_dir, engine)
    for b in batches[:8]:
        sink.write(b)  # batch 0 again: the redelivery of the crashed one
    ids = {r["transaction_id"] for b in batches[:8] for r in b}
    con = connect(lake_dir)
    assert con.sql("SELECT count(*) FROM lake_rows").fetchall()[0][0] == len(ids) + 500
    busiest = con.sql("SELECT account_id FROM transactions GROUP BY ALL "
                      "ORDER BY count(*) DESC, account_id LIMIT 1").fetchall()[0][0]
    payees = [a for (a,) in con.sql(
        "SELECT DISTINCT counterparty_account_id FROM transactions "
        "WHERE counterparty_account_id IS NOT NULL ORDER BY 1 LIMIT 3").fetchall()]
    con.close()
    accounts = [busiest, *payees, rows[0]["account_id"], "nobody"]
    assert_case_reads_equal_naive(lake_dir, accounts, network=False)

    compact(lake_dir, engine, grace_seconds=0.0)
    assert_case_reads_equal_naive(lake_dir, accounts)

    for b in batches[8:]:  # a tail of batch files on top of the compacted ones
        sink.write(b)
    sink.write(batches[9])  # a plain redelivery: claimed already, adds nothing
    assert_case_reads_equal_naive(lake_dir, accounts)
    compact(lake_dir, engine, grace_seconds=0.0, merge_factor=2)
    assert_case_reads_equal_naive(lake_dir, accounts)
    engine.dispose()


def test_the_naive_comparison_can_fail(tmp_path, rows, monkeypatch):
    """Reads that miss the payee side (transfers *to* the account) are caught."""
    lake_dir = tmp_path / "lake"
    engine = make_engine(f"sqlite:///{tmp_path / 'flowlet.db'}")
    LakeSink(lake_dir, engine).write(rows[:1000])
    payee = next(r["counterparty_account_id"] for r in rows[:1000]
                 if r["counterparty_account_id"])
    assert_case_reads_equal_naive(lake_dir, [payee])
    recent = workbench.recent_transactions
    monkeypatch.setattr(workbench, "recent_transactions", lambda con, account: (
        lambda t: t[~t["merchant or counterparty"].str.startswith("from ")])(
            recent(con, account)))
    with pytest.raises(AssertionError):
        assert_case_reads_equal_naive(lake_dir, [payee])
    engine.dispose()


def test_page_views_share_a_database_but_each_sees_its_own_lake(tmp_path, rows, monkeypatch):
    """open_lake's connections share one database (its Parquet footer cache) yet each has its
    own views: two lakes open at once answer apart, also across a renewal of the database."""
    from dashboards import queries

    lakes = []
    for k, part in enumerate((rows[:500], rows[500:1500])):
        engine = make_engine(f"sqlite:///{tmp_path / f'{k}.db'}")
        LakeSink(tmp_path / f"lake{k}", engine).write(part)
        engine.dispose()
        lakes.append(tmp_path / f"lake{k}")
    monkeypatch.setattr(queries, "RENEW_AFTER_OPENS", 2)
    first, second, third = (queries.open_lake(lakes[0]), queries.open_lake(lakes[1]),
                            queries.open_lake(lakes[0]))  # the third opens a new database
    for con, want in ((first, 500), (second, 1000), (third, 500)):
        assert con.sql("SELECT count(*) FROM transactions").fetchall() == [(want,)]
        assert queries.kpis(con)["transactions"] == want
    first.close()
    assert second.sql("SELECT count(*) FROM lake_rows").fetchall() == [(1000,)]
    second.close()
    third.close()
