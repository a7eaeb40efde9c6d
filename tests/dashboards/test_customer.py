"""The case page's customer 360: ledger balances, features against the usual, the network."""

from datetime import UTC, datetime, timedelta

import pytest

from core.contract import format_minor
from core.lake import connect
from core.settings import Settings
from dashboards import customer, workbench
from ledger import Ledger
from ledger.accounts import wallet
from simulator import Simulator
from streams.testing import run_pipeline


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("customer")
    now = datetime.now(UTC)
    events = [t.event for t in Simulator(seed=12, n_accounts=40, n_merchants=8).generate(
        1500, now - timedelta(days=3), now)]
    run_pipeline(events, data_dir)
    settings = Settings(data_dir=data_dir)
    return settings, events, connect(settings.lake_dir)


def test_balances_are_the_ledgers_available_amounts(lake):
    settings, events, _ = lake
    ledger = Ledger.from_url(settings.database_url)
    account, currency = events[0].account_id, events[0].currency
    table = customer.ledger_balances(ledger.engine, account)
    row = table[(table["account"] == "wallet (available)") & (table["currency"] == currency)]
    assert row["balance"].tolist() == [
        format_minor(ledger.available(wallet(account), currency), currency)]
    assert customer.ledger_balances(ledger.engine, "nobody").empty


def test_features_now_against_the_usual_name_the_latest_transactions_values(lake):
    _, events, con = lake
    account = max({e.account_id for e in events},
                  key=lambda a: sum(e.account_id == a for e in events))
    usual = customer.features_vs_usual(con, account, workbench.feature_descriptions())
    assert 0 < len(usual) <= 8
    assert usual["unusual by"].is_monotonic_decreasing
    latest = con.execute("SELECT f_acct_count_24h FROM transactions WHERE account_id = ? "
                         "ORDER BY occurred_at DESC, transaction_id LIMIT 1",
                         [account]).fetchone()[0]
    wide = customer.features_vs_usual(con, account, {}, top=1000)
    row = wide[wide["feature"] == "acct count 24h"]  # no description: the name in words
    assert row["now"].tolist() == [f"{latest:,.0f}"]
    assert customer.features_vs_usual(con, "nobody", {}).empty


def test_the_network_reaches_two_hops_and_draws(lake):
    _, events, con = lake
    p2p = [e for e in events if e.counterparty_account_id]
    assert p2p, "the simulator makes transfers"
    center = p2p[0].account_id
    one = customer.counterparty_network(con, center, hops=1)
    two = customer.counterparty_network(con, center, hops=2)
    direct = {e.counterparty_account_id for e in p2p if e.account_id == center}
    reached = set(one.edges["payee"]) | set(one.edges["payer"])
    assert direct & reached, "a direct counterparty is in the first hop"
    assert len(two.edges) >= len(one.edges)
    assert set(one.edges.itertuples(index=False)) <= set(two.edges.itertuples(index=False))
    counts = two.edges.groupby("payer").size()
    assert counts.max() <= 2 * customer.EDGES_PER_NODE
    dot = two.dot()
    assert dot.startswith("digraph") and f'"{center}"' in dot
    assert dot.count("->") == len(two.edges)
    assert two.edges["amount"].str.fullmatch(r"-?[\d,]+(\.\d+)? [A-Z]{3}").all()
