"""The country → zone table equals what the installed tzdata says, and keeps the old picks."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from core.geo import (
    COUNTRY_TIMEZONES,
    UnknownCountry,
    is_known_country,
    timezone_of_country,
    tzdata_countries,
    tzdata_country_zones,
)

#: The table before it covered every country (the capitals' zones): features computed and
#: models trained with it must not change.
FIRST_37 = {
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


def test_every_iso_code_with_a_zone_in_tzdata_has_one_of_its_zones():
    listed = tzdata_country_zones()
    iso = tzdata_countries()
    assert len(iso) == 249 and set(listed) <= set(iso)
    missing = sorted(set(listed) - set(COUNTRY_TIMEZONES))
    extra = sorted(set(COUNTRY_TIMEZONES) - set(listed))
    assert (missing, extra) == ([], []), "update core.geo.COUNTRY_TIMEZONES"
    wrong = {c: (z, listed[c]) for c, z in COUNTRY_TIMEZONES.items() if z not in listed[c]}
    assert wrong == {}, "a zone tzdata no longer lists for its country"
    single = {c: (COUNTRY_TIMEZONES[c], z[0]) for c, z in listed.items()
              if len(z) == 1 and COUNTRY_TIMEZONES[c] != z[0]}
    assert single == {}
    assert sorted(set(iso) - set(COUNTRY_TIMEZONES)) == ["BV", "HM"]  # uninhabited, no zone


def test_every_zone_is_valid_for_zoneinfo_and_for_polars():
    """Online local time uses ``zoneinfo``, offline uses polars (its own compiled tz database):
    both must know every zone, or the two paths could not agree."""
    t = datetime(2026, 7, 4, 23, 30, tzinfo=UTC)
    zones = sorted(set(COUNTRY_TIMEZONES.values()))
    online = [t.astimezone(ZoneInfo(z)).replace(tzinfo=None) for z in zones]
    series = pl.Series([t])
    offline = [series.dt.convert_time_zone(z).dt.replace_time_zone(None)[0] for z in zones]
    assert online == offline


def test_the_first_37_picks_are_kept():
    assert {c: COUNTRY_TIMEZONES[c] for c in FIRST_37} == FIRST_37


@pytest.mark.parametrize(("country", "zone"), [
    ("KE", "Africa/Nairobi"), ("AR", "America/Argentina/Buenos_Aires"),
    ("KZ", "Asia/Almaty"), ("ID", "Asia/Jakarta"), ("AX", "Europe/Mariehamn"),
    ("AQ", "Antarctica/McMurdo"),
])
def test_countries_outside_the_old_table_get_their_capitals_zone(country, zone):
    assert timezone_of_country(country) == zone and is_known_country(country)


@pytest.mark.parametrize("country", ["??", "XX", "BV", "de", "DEU", "", None, 49])
def test_an_unknown_country_is_an_error_not_utc(country):
    assert not is_known_country(country)
    with pytest.raises(UnknownCountry, match="ISO 3166-1 alpha-2"):
        timezone_of_country(country)


def test_every_country_the_simulator_and_the_risk_lists_use_is_known():
    from customers import risk
    from simulator import geography as world

    used = {*world.HOME_COUNTRIES, *world.TRAVEL_COUNTRIES, *world.HIGH_RISK_COUNTRIES,
            *world.CURRENCY_OF_COUNTRY, *risk.HIGH_RISK_COUNTRIES, *risk.MEDIUM_RISK_COUNTRIES}
    assert sorted(c for c in used if not is_known_country(c)) == []
