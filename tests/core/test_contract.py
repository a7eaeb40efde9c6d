import json
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from core.contract import SCHEMA_PATH, TransactionEvent, format_minor, transaction_json_schema

VALID = {
    "transaction_id": "tx-1", "event_type": "card_capture",
    "occurred_at": "2026-11-22T10:00:00+02:00", "amount_minor": 1999, "currency": "EUR",
    "account_id": "acc-1", "merchant_id": "mer-1", "mcc": "5411", "card_token": "ctok_1",
    "country": "DE", "channel": "ecommerce", "ip_address": "192.0.2.1",
}


def test_committed_schema_file_equals_the_model():
    assert json.loads(SCHEMA_PATH.read_text()) == transaction_json_schema()


def test_valid_event_normalises_time_to_utc_and_keeps_integer_money():
    ev = TransactionEvent.model_validate(VALID)
    assert ev.occurred_at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert ev.amount_minor == 1999 and isinstance(ev.amount_minor, int)
    jsonschema.validate(VALID, transaction_json_schema())
    assert TransactionEvent.model_validate_json(ev.model_dump_json()) == ev


@pytest.mark.parametrize(("field", "value"), [
    ("amount_minor", 19.99), ("amount_minor", "1999"), ("amount_minor", 0),
    ("amount_minor", True), ("currency", "XYZ"), ("currency", "eur"),
    ("occurred_at", "2026-11-22T10:00:00"), ("occurred_at", 1763800000),
    ("card_token", "4111111111111111"), ("card_token", "tok 4111-1111-1111-1111"),
    ("event_type", "teleport"), ("country", "DEU"), ("country", "XX"), ("country", "BV"),
    ("country", "de"), ("mcc", "54"), ("surprise", 1),
])
def test_bad_fields_are_rejected_and_named(field, value):
    with pytest.raises(ValidationError) as err:
        TransactionEvent.model_validate({**VALID, field: value})
    assert any(field in e["loc"] for e in err.value.errors())


@pytest.mark.parametrize(("event_type", "missing"), [
    ("p2p_transfer", "counterparty_account_id"), ("merchant_payment", "merchant_id"),
    ("fx_conversion", "target_currency"),
])
def test_type_specific_fields_are_required(event_type, missing):
    payload = {k: v for k, v in VALID.items() if k not in ("merchant_id", "mcc")}
    with pytest.raises(ValidationError, match=missing):
        TransactionEvent.model_validate({**payload, "event_type": event_type})


def test_luhn_invalid_digit_runs_are_not_mistaken_for_cards():
    ev = TransactionEvent.model_validate({**VALID, "device_id": "dev-4111111111111112"})
    assert ev.device_id == "dev-4111111111111112"


def test_json_schema_rejects_what_pydantic_rejects():
    schema = transaction_json_schema()
    for bad in ({**VALID, "amount_minor": 1.5}, {**VALID, "currency": "eur"},
                {**VALID, "country": "XX"},
                {k: v for k, v in VALID.items() if k != "account_id"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_format_minor_uses_the_currency_exponent():
    assert format_minor(-5, "EUR") == "-0.05 EUR"
    assert format_minor(1500, "JPY") == "1500 JPY"
    assert format_minor(1234567, "KWD") == "1234.567 KWD"


def test_an_unknown_country_is_refused_naming_the_field_and_code():
    with pytest.raises(ValidationError) as err:
        TransactionEvent.model_validate({**VALID, "country": "XX"})
    (error,) = err.value.errors()
    assert error["loc"] == ("country",)
    assert "'XX' is not an ISO 3166-1 alpha-2 country code with a time zone" in error["msg"]

