"""ISO 4217 currencies Flowlet accepts, with their minor-unit exponent.

>>> MINOR_UNITS["EUR"], MINOR_UNITS["JPY"], MINOR_UNITS["KWD"]
(2, 0, 3)
>>> format_minor(123456, "EUR")
'1234.56 EUR'
>>> format_minor(0, "XXX")  # "no currency": alerts on a customer profile carry no amount
'0 XXX'
"""

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        "AED ARS AUD BDT BGN BRL CAD CHF CNY COP CZK DKK EGP EUR GBP GHS HKD HUF IDR ILS INR "
        "KES MAD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RUB SAR SEK SGD THB TRY TWD UAH "
        "USD ZAR".split(),
        2,
    ),
    **dict.fromkeys("JPY KRW CLP ISK UGX VND XAF XOF".split(), 0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
}


def format_minor(amount_minor: int, currency: str) -> str:
    """Human form of an integer minor-unit amount (for display only, never for arithmetic);
    a code outside the accepted ones (``XXX``) is shown in whole units."""
    exp = MINOR_UNITS.get(currency, 0)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d} {currency}" if exp else f"{sign}{whole} {currency}"
