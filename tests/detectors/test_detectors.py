"""Each typology detector on hand-built transactions: the pattern alerts (with its typology,
evidence and a score in [0, 1]), a near miss does not."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from detectors import DetectorConfig, TypologyDetectors
from detectors.context import Seen

H = 3_600 * 1_000_000
DAY = 24 * H
T0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1_000_000)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


class Flow:
    """Builds transactions with ids tx-1, tx-2, … ."""

    def __init__(self) -> None:
        self.n = 0
        self.events: list[Seen] = []

    def __call__(self, hours: float, event_type: str, amount_eur: float, account: str,
                 counterparty: str | None = None, country: str = "DE", gap_s: float = math.nan,
                 currency: str = "EUR") -> Seen:
        self.n += 1
        ev = Seen(f"tx-{self.n}", T0 + round(hours * H), event_type, round(amount_eur * 100),
                  currency, account, counterparty, country, gap_s)
        self.events.append(ev)
        return ev


def run(typology: str, events: list[Seen], config: DetectorConfig | None = None
        ) -> list[dict]:
    detectors = TypologyDetectors(config, typologies=[typology])
    return [a for ev in events for a in detectors.observe(ev, NOW)]


def check_alert(alert: dict, typology: str, account: str) -> None:
    assert alert["source"] == f"typology:{typology}" and alert["typology"] == typology
    assert alert["model_version"] == f"{typology}/1"
    assert alert["account_id"] == account
    assert 0.5 <= alert["score"] <= 1.0
    assert alert["reason_codes"] and all(" " in r for r in alert["reason_codes"])  # words
    assert alert["transaction_id"] in alert["evidence"]["transactions"]


# -- structuring ---------------------------------------------------------------------------------
def test_structuring_alerts_on_the_third_deposit_just_under_the_threshold():
    tx = Flow()
    events = [tx(0, "top_up", 9_500, "s"), tx(20, "top_up", 9_800, "s"),
              tx(45, "top_up", 9_100, "s"), tx(50, "p2p_transfer", 9_700, "s", "x")]
    alerts = run("structuring", events)
    assert [a["transaction_id"] for a in alerts] == ["tx-3", "tx-4"]
    check_alert(alerts[0], "structuring", "s")
    assert alerts[0]["evidence"]["transactions"] == ["tx-1", "tx-2", "tx-3"]
    assert alerts[1]["evidence"]["counterparties"] == ["x"]
    assert alerts[1]["score"] > alerts[0]["score"]  # more of them: a higher score


def test_structuring_near_misses_do_not_alert():
    tx = Flow()
    at_threshold = [tx(0, "top_up", 9_500, "a"), tx(20, "top_up", 10_000, "a"),
                    tx(45, "top_up", 9_100, "a")]  # 10,000 is reported, not structured
    two = [tx(0, "top_up", 9_500, "b"), tx(20, "top_up", 9_800, "b")]
    too_spread = [tx(0, "top_up", 9_500, "c"), tx(24 * 4, "top_up", 9_800, "c"),
                  tx(24 * 8, "top_up", 9_100, "c")]  # 3 in 8 days, never 3 in 7
    received = [tx(0, "p2p_transfer", 9_500, f"p{i}", "d") for i in range(3)]
    assert run("structuring", at_threshold + two + too_spread + received) == []


def test_the_reporting_threshold_is_per_currency():
    tx = Flow()
    events = [tx(i * 10, "top_up", 7_600, "gb", currency="GBP") for i in range(3)]
    assert run("structuring", events) == []  # 7,600 GBP is far under 10,000
    gbp = DetectorConfig(thresholds_major={"*": 10_000, "GBP": 8_000})
    assert [a["transaction_id"] for a in run("structuring", events, gbp)] == ["tx-3"]


# -- fan-in / fan-out ----------------------------------------------------------------------------
def fan(tx: Flow, senders: int, share_out: float) -> list[Seen]:
    events = [tx(i, "p2p_transfer", 800, f"sender-{i}", "mule") for i in range(senders)]
    out = 800 * senders * share_out / 3
    return events + [tx(senders + 1 + i, "p2p_transfer", out, "mule", f"recv-{i}")
                     for i in range(3)]


def test_fan_in_fan_out_alerts_when_the_collected_money_is_sent_on():
    alerts = run("fan_in_fan_out", fan(Flow(), 8, 0.95))
    assert alerts and alerts[0]["transaction_id"] == "tx-10"  # the second outflow: 63 %
    check_alert(alerts[0], "fan_in_fan_out", "mule")
    assert {"sender-0", "recv-0", "recv-1"} <= set(alerts[0]["evidence"]["counterparties"])


def test_fan_in_near_misses_do_not_alert():
    assert run("fan_in_fan_out", fan(Flow(), 4, 0.95)) == []  # four senders only
    assert run("fan_in_fan_out", fan(Flow(), 8, 0.5)) == []  # kept half of it


# -- pass-through --------------------------------------------------------------------------------
def test_pass_through_alerts_when_almost_all_of_an_inflow_leaves_within_hours():
    tx = Flow()
    events = [tx(0, "p2p_transfer", 5_000, "payer", "acct"),
              tx(3, "p2p_transfer", 4_900, "acct", "onward")]
    (alert,) = run("pass_through", events)
    check_alert(alert, "pass_through", "acct")
    assert alert["evidence"]["transactions"] == ["tx-1", "tx-2"]


def test_pass_through_near_misses_do_not_alert():
    tx = Flow()
    small = [tx(0, "p2p_transfer", 500, "p", "a"), tx(1, "p2p_transfer", 490, "a", "o")]
    kept = [tx(0, "top_up", 5_000, "b"), tx(2, "p2p_transfer", 3_000, "b", "o")]  # 60 %
    late = [tx(0, "top_up", 5_000, "c"), tx(30, "p2p_transfer", 4_900, "c", "o")]  # 30 h
    assert run("pass_through", small + kept + late) == []


# -- cycles --------------------------------------------------------------------------------------
def ring(tx: Flow, members: list[str], keep: float = 0.98, amount: float = 5_000) -> list[Seen]:
    events = []
    for i, payer in enumerate(members):
        events.append(tx(i * 5, "p2p_transfer", amount, payer, members[(i + 1) % len(members)]))
        amount *= keep
    return events


def test_a_cycle_alerts_when_the_money_comes_back():
    (alert,) = run("cycle", ring(Flow(), ["a", "b", "c", "d"]))
    check_alert(alert, "cycle", "d")
    assert alert["evidence"]["transactions"] == ["tx-1", "tx-2", "tx-3", "tx-4"]
    assert alert["evidence"]["counterparties"] == ["a", "b", "c", "d"]


def test_cycle_near_misses_do_not_alert():
    tx = Flow()
    assert run("cycle", ring(tx, ["a", "b", "c"], keep=0.5)) == []  # not the same money
    assert run("cycle", ring(tx, ["d", "e", "f"], amount=300)) == []  # friends' small change
    assert run("cycle", ring(tx, list("ghijklm"))) == []  # 7 accounts: beyond max_hops
    n_o, o_p, p_n = ring(tx, ["n", "o", "p"])
    # o → p before n → o: the money o passed on is not what n sent it.
    late = [replace(o_p, t_us=T0), replace(n_o, t_us=T0 + 5 * H), replace(p_n, t_us=T0 + 10 * H)]
    assert run("cycle", late) == []
    assert run("cycle", [n_o, o_p, p_n])  # in ring order it does


def test_a_cycle_beyond_the_window_does_not_alert():
    tx = Flow()
    slow = [tx(0, "p2p_transfer", 5_000, "a", "b"), tx(24 * 5, "p2p_transfer", 4_900, "b", "c"),
            tx(24 * 9, "p2p_transfer", 4_800, "c", "a")]
    assert run("cycle", slow) == []
    assert run("cycle", slow, DetectorConfig(cycle_days=10))


# -- dormant -------------------------------------------------------------------------------------
def test_a_dormant_account_moving_money_alerts():
    tx = Flow()
    (alert,) = run("dormant", [tx(0, "withdrawal", 2_000, "z", gap_s=120 * 86_400)])
    check_alert(alert, "dormant", "z")
    assert "120 days" in alert["reason_codes"][0]


@pytest.mark.parametrize(("gap_days", "amount"), [(60, 2_000), (120, 100), (math.nan, 5_000)])
def test_dormant_near_misses_do_not_alert(gap_days, amount):
    tx = Flow()
    assert run("dormant", [tx(0, "withdrawal", amount, "z", gap_s=gap_days * 86_400)]) == []


# -- high-risk corridors -------------------------------------------------------------------------
def test_money_into_a_high_risk_country_alerts():
    tx = Flow()
    events = [tx(0, "top_up", 50, "h"), tx(5, "withdrawal", 1_500, "h", country="IR"),
              tx(6, "top_up", 50, "r", country="RU"),
              tx(7, "p2p_transfer", 1_200, "h", "r")]  # to an account living in Russia
    alerts = run("high_risk_corridor", events)
    assert [a["transaction_id"] for a in alerts] == ["tx-2", "tx-4"]
    check_alert(alerts[0], "high_risk_corridor", "h")
    assert "DE → IR" in alerts[0]["reason_codes"][0]


def test_corridor_near_misses_do_not_alert():
    tx = Flow()
    events = [tx(0, "top_up", 50, "h"), tx(5, "withdrawal", 1_500, "h", country="FR"),
              tx(6, "withdrawal", 300, "h", country="IR"),  # small: under the minimum
              tx(7, "top_up", 50, "i", country="IR"),
              tx(8, "withdrawal", 2_000, "i", country="IR")]  # at home in Iran: no corridor
    assert run("high_risk_corridor", events) == []


def test_unknown_typologies_and_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="smurf"):
        TypologyDetectors(typologies=["smurf"])
    from detectors.config import parse_countries, parse_thresholds

    with pytest.raises(ValueError, match="'EUR=9000'"):
        parse_thresholds("*:10000,EUR=9000")
    with pytest.raises(ValueError, match="XXX"):
        parse_thresholds("XXX:10")
    with pytest.raises(ValueError, match="GER"):
        parse_countries("IR,GER")


def test_every_transaction_seen_again_gets_what_it_got_the_first_time():
    tx = Flow()
    events = [tx(0, "top_up", 9_500, "s"), tx(20, "top_up", 9_800, "s"),
              tx(45, "top_up", 9_100, "s"), *ring(tx, ["a", "b", "c"]),
              tx(50, "withdrawal", 1_500, "s", country="IR")]
    detectors = TypologyDetectors()
    first = [detectors.observe(ev, NOW) for ev in events]
    assert sum(map(len, first)) >= 3  # structuring, cycle, corridor at least
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert [detectors.observe(ev, later) for ev in events] == first  # raised_at included
