"""The cash-reporting threshold and the structuring band just under it.

Regulators require reports for transactions at or above a threshold (10,000 in major units of
the currency here); structuring splits amounts to stay just below it. The simulator plays that
typology and the features count it, so both read the band from here.

>>> structuring_band(2), structuring_band(0)
((900000, 1000000), (9000, 10000))
"""

#: Reporting threshold in major units of the event's currency.
REPORTING_THRESHOLD_MAJOR = 10_000
#: The structuring band is [fraction × threshold, threshold).
STRUCTURING_FRACTION = 0.9


def structuring_band(currency_exponent: int) -> tuple[int, int]:
    """[low, high) in minor units of the band just under the reporting threshold."""
    high = REPORTING_THRESHOLD_MAJOR * 10**currency_exponent
    return int(high * STRUCTURING_FRACTION), high
