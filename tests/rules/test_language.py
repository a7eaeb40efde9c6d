"""The condition language: errors name the place, missing values never fire, and customer
attributes are null until a profile frame is joined in."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from rules import RuleSyntaxError, compile_condition
from rules.context import context_frame

LISTS = {"high_risk_countries": ["IR", "KP"]}


@pytest.mark.parametrize(("text", "line", "column", "says"), [
    ("amount_minor >= ", 1, 17, "expected a value, found the end"),
    ("amount_minor >= 10 and\n   (country == 'IR'", 2, 20, "expected ')'"),
    ("amount_minor = 5", 1, 14, "compare with =="),
    ("acct_cnt_24h > 3", 1, 1, "unknown name 'acct_cnt_24h'"),
    ("amount_minor > 1 and f_acct_count_1h > 2", 1, 22, "without the lake's 'f_' prefix"),
    ('country in list("high_risk_contries")', 1, 17, "unknown list 'high_risk_contries'"),
    ("customer.peep", 1, 1, "unknown customer attribute 'customer.peep'"),
    ("country > 5", 1, 9, "cannot compare a string with a number"),
    ("amount_minor and is_alert", 1, 1, "'and' needs a bool here, not a number"),
    ("amount_minor + 1", 1, 1, "must be true or false"),
    ("nope(1)", 1, 1, "unknown function 'nope'"),
    ("country in ['IR', 3]", 1, 19, "needs a string here, not a number"),
])
def test_errors_name_the_position_and_the_reason(text, line, column, says):
    with pytest.raises(RuleSyntaxError) as err:
        compile_condition(text, LISTS)
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert says in str(err.value)
    assert str(err.value).startswith(f"line {line}, column {column}: ")


def hits(text: str, frame: pl.DataFrame) -> list[bool]:
    return frame.select(compile_condition(text, LISTS).expr)["hit"].to_list()


def test_missing_values_never_fire_and_nan_is_missing():
    frame = pl.DataFrame({"acct_count_1h": [float("nan"), None, 5.0],
                          "country": [None, "IR", "FR"]})
    assert hits("acct_count_1h > 3", frame) == [False, False, True]
    assert hits("not (acct_count_1h > 3)", frame) == [False, False, False]
    assert hits('country in list("high_risk_countries")', frame) == [False, True, False]
    assert hits('country not in list("high_risk_countries")', frame) == [False, False, True]
    assert hits("is_null(country) or acct_count_1h >= 5", frame) == [True, False, True]


def test_arithmetic_functions_and_precedence():
    frame = pl.DataFrame({"amount_minor": [1_000, 999_000], "acct_sum_24h": [1_000.0, 1e6],
                          "channel": ["WEB", "pos"]})
    assert hits("amount_minor / acct_sum_24h > 0.9 and lower(channel) == 'web'",
                frame) == [True, False]
    assert hits("amount_minor > 500 or amount_minor < 0 and false", frame) == [True, True]
    assert hits("-amount_minor < -100_000", frame) == [False, True]


def test_customer_attributes_are_null_until_profiles_are_joined():
    rows = pl.DataFrame({"transaction_id": ["t1", "t2"], "account_id": ["a1", "a2"],
                         "occurred_at": [datetime(2026, 3, 1, tzinfo=UTC)] * 2,
                         "amount_minor": [100, 100], "event_type": ["top_up"] * 2,
                         "channel": ["web"] * 2, "device_id": [None, None]})
    rule = "customer.pep == true or days_since(customer.onboarded_at) < 30"
    assert context_frame(rows).select(compile_condition(rule, {}).expr)["hit"].to_list() \
        == [False, False]
    profiles = pl.DataFrame({"account_id": ["a2"], "pep": [False],
                             "onboarded_at": [datetime(2026, 2, 20, tzinfo=UTC)]})
    frame = context_frame(rows, profiles)
    assert frame.select(compile_condition(rule, {}).expr)["hit"].to_list() == [False, True]


def test_every_event_field_of_the_lake_can_be_named():
    from core.lake_schema import TRANSACTION_COLUMNS
    from rules.context import FIELDS

    event_columns = {c.name for c in TRANSACTION_COLUMNS[:TRANSACTION_COLUMNS.index(
        next(c for c in TRANSACTION_COLUMNS if c.name == "score"))]}
    assert event_columns <= set(FIELDS), event_columns - set(FIELDS)
    frame = pl.DataFrame({"mcc": ["7995", None, "5411"]})
    assert hits('mcc in ["7995", "6051"]', frame) == [True, False, False]
