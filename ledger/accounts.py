"""The chart of accounts of an embedded-finance platform.

Account codes are strings; their prefix fixes the kind. Legs are signed debit-positive, so an
account's raw balance is the sum of its legs; ``normal`` says which side increases it, and
:func:`available` turns the raw balance into the number a person reads (a customer's wallet of
``-5000`` raw is ``5000`` available, because wallets are liabilities: credit-normal).

| code                          | kind                | normal | overdraft |
|-------------------------------|---------------------|--------|-----------|
| ``customer:<id>:wallet``      | customer wallet     | credit | no        |
| ``customer:<id>:holds``       | card holds (earmark)| credit | no        |
| ``merchant:<id>``             | merchant account    | credit | yes       |
| ``clearing:card_scheme``      | payable to scheme   | credit | yes       |
| ``clearing:bank``             | bank cash-in/out    | debit  | yes       |
| ``clearing:chargebacks``      | chargeback claims   | debit  | yes       |
| ``fees:revenue``              | fee revenue         | credit | yes       |
| ``fx:position``               | FX position (long +)| credit | yes       |
| ``suspense``                  | unmatched items     | credit | yes       |

>>> kind_of("customer:a1:wallet"), allows_overdraft("customer:a1:wallet")
('customer_wallet', False)
>>> available("customer:a1:wallet", -5000)
5000
"""

from __future__ import annotations

BANK_CLEARING = "clearing:bank"
CARD_SCHEME_CLEARING = "clearing:card_scheme"
CHARGEBACK_CLEARING = "clearing:chargebacks"
FEE_REVENUE = "fees:revenue"
FX_POSITION = "fx:position"
SUSPENSE = "suspense"

_FIXED = {
    BANK_CLEARING: ("bank_clearing", "debit"),
    CARD_SCHEME_CLEARING: ("card_scheme_clearing", "credit"),
    CHARGEBACK_CLEARING: ("chargeback_clearing", "debit"),
    FEE_REVENUE: ("fee_revenue", "credit"),
    FX_POSITION: ("fx_position", "credit"),
    SUSPENSE: ("suspense", "credit"),
}
NO_OVERDRAFT_KINDS = frozenset({"customer_wallet", "customer_holds"})


def wallet(account_id: str) -> str:
    return f"customer:{account_id}:wallet"


def holds(account_id: str) -> str:
    return f"customer:{account_id}:holds"


def merchant(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def kind_of(code: str) -> str:
    if code in _FIXED:
        return _FIXED[code][0]
    if code.startswith("customer:") and code.endswith(":wallet"):
        return "customer_wallet"
    if code.startswith("customer:") and code.endswith(":holds"):
        return "customer_holds"
    if code.startswith("merchant:"):
        return "merchant"
    raise ValueError(f"{code!r} is not in the chart of accounts")


def normal_side(code: str) -> str:
    return _FIXED[code][1] if code in _FIXED else "credit"


def allows_overdraft(code: str) -> bool:
    return kind_of(code) not in NO_OVERDRAFT_KINDS


def available(code: str, raw_balance: int) -> int:
    """The balance as its owner reads it (positive = funds for credit-normal accounts)."""
    return -raw_balance if normal_side(code) == "credit" else raw_balance
