"""Countries to IANA time zones, for "local time" features (one zone per country: its capital's).

>>> timezone_of_country("DE"), timezone_of_country("US"), timezone_of_country("??")
('Europe/Berlin', 'America/New_York', 'UTC')
"""

from __future__ import annotations

COUNTRY_TIMEZONES: dict[str, str] = {
    "AT": "Europe/Vienna", "AU": "Australia/Sydney", "BE": "Europe/Brussels",
    "BR": "America/Sao_Paulo", "CA": "America/Toronto", "CH": "Europe/Zurich",
    "CN": "Asia/Shanghai", "CZ": "Europe/Prague", "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen", "ES": "Europe/Madrid", "FI": "Europe/Helsinki",
    "FR": "Europe/Paris", "GB": "Europe/London", "GR": "Europe/Athens", "HU": "Europe/Budapest",
    "IE": "Europe/Dublin", "IN": "Asia/Kolkata", "IR": "Asia/Tehran", "IT": "Europe/Rome",
    "JP": "Asia/Tokyo", "KP": "Asia/Pyongyang", "MX": "America/Mexico_City",
    "NG": "Africa/Lagos", "NL": "Europe/Amsterdam", "NO": "Europe/Oslo", "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "RU": "Europe/Moscow",
    "SE": "Europe/Stockholm", "SG": "Asia/Singapore", "TR": "Europe/Istanbul",
    "UA": "Europe/Kyiv", "US": "America/New_York", "VN": "Asia/Ho_Chi_Minh",
    "ZA": "Africa/Johannesburg",
}


def timezone_of_country(country: str) -> str:
    return COUNTRY_TIMEZONES.get(country, "UTC")
