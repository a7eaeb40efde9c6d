"""The PAN rule (core/contract/pan.py): card numbers whatever their separators, in every string
field, never across letters, and never echoed in the error."""

import random
import re
import uuid

import pytest
from pydantic import ValidationError

from core.contract import LabelEvent, TransactionEvent
from core.contract.pan import find_pan

from .test_contract import VALID

# Luhn-valid test numbers (Discover, Visa 13 and 16, Mastercard, Amex, a 19-digit one).
PANS = ["6011365004071610", "4222222222222", "4111111111111111", "5500000000000004",
        "378282246310005", "6011000990139424", "4000056655665556", "6062825624254001344"]


def hostile_forms(pan: str) -> list[str]:
    """The issue's bypasses and more: every separator, prefixes, suffixes, free text."""
    groups = [pan[i:i + 4] for i in range(0, len(pan), 4)]
    forms = [sep.join(groups) for sep in (".", ":", "_", "-", " ", "/", " - ", ".:", "\t")]
    return forms + [
        f"tx-{'.'.join(groups)}", f"id:{':'.join(groups)}:end", f"{pan}-2026", f"2026-{pan}",
        f"card {' '.join(groups)} exp 12/27", f"{pan}20261207", f"999{pan}2026", " ".join(pan),
        f"ref:{pan}", "".join(chr(0xFF10 + int(d)) for d in pan),  # full-width digits
    ]


@pytest.mark.parametrize("pan", PANS)
def test_every_hostile_form_is_found(pan):
    for form in hostile_forms(pan):
        assert find_pan(form) is not None, form


@pytest.mark.parametrize("text", [
    *(str(uuid.UUID(int=random.Random(n).getrandbits(128))) for n in range(50)),
    "00000000-0000-0000-0000-000000000000",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "dev-4111111111111112", "acc-000123", "2026-12-07T10:00:00+00:00", "192.168.100.200",
    "6011a3650b0407c1610", "tx-1234567-abc-7654321", "refund of 25.00 EUR on 2026-12-01",
])
def test_ids_and_text_without_cards_pass(text):
    assert find_pan(text) is None


@pytest.mark.parametrize("field", ["transaction_id", "account_id", "merchant_id", "card_token",
                                   "device_id", "original_transaction_id"])
@pytest.mark.parametrize("form", [f for f in hostile_forms("6011365004071610")
                                  if re.fullmatch(r"[\w.:\-]{1,63}", f, re.ASCII)])
def test_transaction_fields_refuse_a_pan_naming_the_field_not_the_number(field, form):
    value = f"x{form}"[:64]
    payload = {**VALID, field: value}
    if field == "original_transaction_id":
        payload["event_type"] = "refund"
    with pytest.raises(ValidationError) as err:
        TransactionEvent.model_validate(payload)
    errors = err.value.errors(include_input=False)
    assert [e["loc"] for e in errors if "card number" in e["msg"]] == [(field,)]
    assert "6011" not in str(errors)


def test_label_ids_refuse_a_pan():
    label = {"label_id": "l-1", "labelled_transaction_id": "tx_4111_1111_1111_1111",
             "account_id": "acc-1", "transaction_occurred_at": "2026-11-01T10:00:00Z",
             "occurred_at": "2026-11-15T09:00:00Z", "is_fraud": True}
    with pytest.raises(ValidationError, match="card number"):
        LabelEvent.model_validate(label)
