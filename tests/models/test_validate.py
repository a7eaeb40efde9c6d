"""Offline loading refuses what the event contract refuses, naming the rows and the fields."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from core.contract import TransactionEvent
from core.geo import COUNTRY_TIMEZONES, tzdata_countries
from features.offline.checks import check_encodable
from models.training.data import load_events, load_labels
from models.training.validate import ContractError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int = 6) -> pl.DataFrame:
    """Valid events, given newest first (loading sorts them: row numbers stay the input's)."""
    return pl.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)], "event_type": ["card_capture"] * n,
        "occurred_at": [T0 + timedelta(hours=n - i) for i in range(n)],
        "amount_minor": [100 * (i + 1) for i in range(n)], "currency": ["EUR"] * n,
        "account_id": ["a"] * n, "merchant_id": ["m"] * n, "country": ["DE"] * n,
        "channel": ["ecommerce"] * n})


def _set(frame: pl.DataFrame, rows: list[int], **values: object) -> pl.DataFrame:
    at = pl.int_range(pl.len()).is_in(rows)
    return frame.with_columns(
        pl.when(at).then(pl.lit(v)).otherwise(
            pl.col(k) if k in frame.columns else pl.lit(None)).alias(k)
        for k, v in values.items())


def _only_problem(frame: pl.DataFrame):
    with pytest.raises(ContractError) as err:
        load_events(frame)
    assert len(err.value.problems) == 1, str(err.value)
    return err.value.problems[0], str(err.value)


CASES = [
    # (field, rows, changes, expected words in the message, shown values)
    ("amount_minor", [1, 4], {"amount_minor": 0}, "must be > 0", [0]),
    ("amount_minor", [2], {"amount_minor": -300}, "must be > 0", [-300]),
    ("amount_minor", [0], {"amount_minor": 10**15 + 1}, "10^15", [10**15 + 1]),
    ("fee_minor", [3], {"fee_minor": 0}, "must be > 0", [0]),
    ("event_type", [2], {"event_type": "purchase"}, "not an event type", ["purchase"]),
    ("channel", [5], {"channel": "fax"}, "not a channel", ["fax"]),
    ("currency", [0, 1], {"currency": "EUX"}, "ISO 4217", ["EUX"]),
    ("country", [3], {"country": "XX"}, "ISO 3166-1 alpha-2", ["XX"]),
    ("country", [4], {"country": "germany"}, "ISO 3166-1 alpha-2", ["germany"]),
    ("occurred_at", [1], {"occurred_at": datetime(1990, 1, 1, tzinfo=UTC)}, "[2000, 2100)",
     [datetime(1990, 1, 1, tzinfo=UTC)]),
    ("merchant_id", [2], {"merchant_id": None}, "required for card_authorization", []),
    ("counterparty_account_id", [1], {"event_type": "p2p_transfer"}, "p2p_transfer", []),
    ("counterparty_account_id", [1],
     {"event_type": "p2p_transfer", "counterparty_account_id": "a"}, "other than", []),
    ("target_currency", [0], {"event_type": "fx_conversion"}, "fx_conversion needs", []),
    ("target_currency", [0], {"target_currency": "USD"}, "only for fx_conversion", []),
    ("original_transaction_id", [4], {"event_type": "card_void"}, "card_void", []),
    ("account_id", [3], {"account_id": None}, "nulls in required", []),
]


@pytest.mark.parametrize(("field", "rows", "changes", "words", "values"), CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_each_broken_rule_names_its_field_rows_and_values(field, rows, changes, words, values):
    problem, message = _only_problem(_set(_events(), rows, **changes))
    assert problem.field == field and words in problem.rule
    assert problem.count == len(rows)
    assert problem.rows == rows  # input positions, not the time-sorted order
    assert problem.transaction_ids == [f"t{r}" for r in rows]
    assert problem.values == values
    assert f"{field}: " in message and f"row {rows[0]} (transaction_id 't{rows[0]}')" in message


def test_every_broken_rule_is_reported_at_once_and_long_lists_are_cut():
    frame = _set(_set(_events(20), list(range(12)), amount_minor=0), [7], event_type="purchase")
    with pytest.raises(ContractError) as err:
        load_events(frame)
    fields = [p.field for p in err.value.problems]
    assert fields == ["amount_minor", "event_type"]
    amount = err.value.problems[0]
    assert amount.count == 12 and amount.rows == [0, 1, 2, 3, 4]
    assert "… 7 more" in str(err.value)


def test_float_amounts_must_be_whole_minor_units():
    frame = _events().with_columns(pl.col("amount_minor").cast(pl.Float64))
    assert load_events(frame)["amount_minor"].dtype == pl.Int64  # 100.0 is fine
    problem, _ = _only_problem(_set(frame, [2], amount_minor=12.5))
    assert (problem.field, problem.rows, problem.values) == ("amount_minor", [2], [12.5])


def test_valid_events_load_and_a_missing_country_is_a_warning(caplog):
    assert load_events(_events()).height == 6
    with caplog.at_level("WARNING", logger="models.training.data"):
        load_events(_events().drop("country"))
    assert "6 events have no country" in caplog.text


def test_labels_name_the_rows_with_nulls():
    labels = pl.DataFrame({"transaction_id": ["t0", "t1", "t2"], "is_fraud": [True, None, False],
                           "labelled_at": [T0, T0, T0]})
    with pytest.raises(ContractError, match=r"is_fraud: nulls in required column — 1 row: "
                                            r"row 1 \(transaction_id 't1'\)"):
        load_labels(labels)


def test_the_contract_and_the_offline_checks_agree_on_every_country():
    """One decision of "known country" (``core.geo``): the event contract, the training loader
    and ``build_features``' checks accept exactly the same codes."""
    codes = sorted({*tzdata_countries(), "XX", "ZZ", "de", "DEU", ""})
    event = {"transaction_id": "t", "event_type": "top_up", "occurred_at": T0.isoformat(),
             "amount_minor": 1, "currency": "EUR", "account_id": "a", "channel": "web"}
    by_contract = set()
    for code in codes:
        try:
            TransactionEvent.model_validate({**event, "country": code})
            by_contract.add(code)
        except ValidationError as exc:
            assert [e["loc"] for e in exc.errors()] == [("country",)]
    assert by_contract == set(COUNTRY_TIMEZONES)
    refused = len(codes) - len(by_contract)
    frame = _events(len(codes)).with_columns(pl.Series("country", codes))
    with pytest.raises(ContractError, match=f"country: .* — {refused} rows"):
        load_events(frame)
    with pytest.raises(ValueError, match=f"country: .*\n    {refused} rows"):
        check_encodable(frame)
