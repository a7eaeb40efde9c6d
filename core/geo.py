"""Countries to IANA time zones, for "local time" features: one zone per ISO 3166-1 alpha-2 code.

A country is *known* (:func:`is_known_country`) when it has a zone here: every code of tzdata's
``iso3166.tab`` that ``zone.tab`` gives a zone — 247 of the 249, all but Bouvet Island (BV) and
Heard and McDonald Islands (HM), which are uninhabited and have none. The event contract
(``core.contract``), the offline checks (``features.offline.checks``,
``models.training.validate``) and the online engine all ask this one module, so an unknown code
is refused at the door rather than given a made-up local time.

Which zone: a country with one zone in ``zone.tab`` gets it. A country with several gets its
capital's zone (Canberra's is ``Australia/Sydney``): US → ``America/New_York``, CA →
``America/Toronto``, BR → ``America/Sao_Paulo``, RU → ``Europe/Moscow``, AR →
``America/Argentina/Buenos_Aires``, KZ → ``Asia/Almaty`` (Astana's), EC → ``America/Guayaquil``
(Quito's), PS → ``Asia/Hebron`` (the West Bank's: Ramallah, the larger population), FM →
``Pacific/Pohnpei`` (Palikir), …; the two without a capital (AQ, UM) get the first zone
``zone.tab`` lists. ``zone.tab``'s own first entry is not the rule: it follows geography, so it
would give CA ``America/St_Johns`` and RU ``Europe/Kaliningrad``.

Why a checked-in table rather than tzdata read at import: the choice of zone is part of every
trained model's features (``acct_local_night``, ``acct_local_weekend``), so it must not move
when the ``tzdata`` package is upgraded — a new zone in ``zone.tab`` or a reordering would
silently shift a country's local hours; the capital rule is a judgement tzdata does not record;
and the table needs no file I/O. ``tests/core/test_geo.py`` compares it with the installed
tzdata (:func:`tzdata_country_zones`), so an upgrade that adds, removes or splits a country fails
a test instead of changing features, and the test names the countries to update.

>>> timezone_of_country("DE"), timezone_of_country("US"), timezone_of_country("KE")
('Europe/Berlin', 'America/New_York', 'Africa/Nairobi')
>>> is_known_country("AR"), is_known_country("??"), is_known_country("BV")
(True, False, False)
>>> timezone_of_country("XX")
Traceback (most recent call last):
...
core.geo.UnknownCountry: 'XX' is not an ISO 3166-1 alpha-2 country code with a time zone (tzdata)
"""

from __future__ import annotations

from importlib.resources import files

COUNTRY_TIMEZONES: dict[str, str] = {
    "AD": "Europe/Andorra", "AE": "Asia/Dubai", "AF": "Asia/Kabul", "AG": "America/Antigua",
    "AI": "America/Anguilla", "AL": "Europe/Tirane", "AM": "Asia/Yerevan", "AO": "Africa/Luanda",
    "AQ": "Antarctica/McMurdo", "AR": "America/Argentina/Buenos_Aires", "AS": "Pacific/Pago_Pago",
    "AT": "Europe/Vienna", "AU": "Australia/Sydney", "AW": "America/Aruba",
    "AX": "Europe/Mariehamn", "AZ": "Asia/Baku", "BA": "Europe/Sarajevo",
    "BB": "America/Barbados", "BD": "Asia/Dhaka", "BE": "Europe/Brussels",
    "BF": "Africa/Ouagadougou", "BG": "Europe/Sofia", "BH": "Asia/Bahrain",
    "BI": "Africa/Bujumbura", "BJ": "Africa/Porto-Novo", "BL": "America/St_Barthelemy",
    "BM": "Atlantic/Bermuda", "BN": "Asia/Brunei", "BO": "America/La_Paz",
    "BQ": "America/Kralendijk", "BR": "America/Sao_Paulo", "BS": "America/Nassau",
    "BT": "Asia/Thimphu", "BW": "Africa/Gaborone", "BY": "Europe/Minsk", "BZ": "America/Belize",
    "CA": "America/Toronto", "CC": "Indian/Cocos", "CD": "Africa/Kinshasa", "CF": "Africa/Bangui",
    "CG": "Africa/Brazzaville", "CH": "Europe/Zurich", "CI": "Africa/Abidjan",
    "CK": "Pacific/Rarotonga", "CL": "America/Santiago", "CM": "Africa/Douala",
    "CN": "Asia/Shanghai", "CO": "America/Bogota", "CR": "America/Costa_Rica",
    "CU": "America/Havana", "CV": "Atlantic/Cape_Verde", "CW": "America/Curacao",
    "CX": "Indian/Christmas", "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin",
    "DJ": "Africa/Djibouti", "DK": "Europe/Copenhagen", "DM": "America/Dominica",
    "DO": "America/Santo_Domingo", "DZ": "Africa/Algiers", "EC": "America/Guayaquil",
    "EE": "Europe/Tallinn", "EG": "Africa/Cairo", "EH": "Africa/El_Aaiun", "ER": "Africa/Asmara",
    "ES": "Europe/Madrid", "ET": "Africa/Addis_Ababa", "FI": "Europe/Helsinki",
    "FJ": "Pacific/Fiji", "FK": "Atlantic/Stanley", "FM": "Pacific/Pohnpei",
    "FO": "Atlantic/Faroe", "FR": "Europe/Paris", "GA": "Africa/Libreville",
    "GB": "Europe/London", "GD": "America/Grenada", "GE": "Asia/Tbilisi", "GF": "America/Cayenne",
    "GG": "Europe/Guernsey", "GH": "Africa/Accra", "GI": "Europe/Gibraltar", "GL": "America/Nuuk",
    "GM": "Africa/Banjul", "GN": "Africa/Conakry", "GP": "America/Guadeloupe",
    "GQ": "Africa/Malabo", "GR": "Europe/Athens", "GS": "Atlantic/South_Georgia",
    "GT": "America/Guatemala", "GU": "Pacific/Guam", "GW": "Africa/Bissau",
    "GY": "America/Guyana", "HK": "Asia/Hong_Kong", "HN": "America/Tegucigalpa",
    "HR": "Europe/Zagreb", "HT": "America/Port-au-Prince", "HU": "Europe/Budapest",
    "ID": "Asia/Jakarta", "IE": "Europe/Dublin", "IL": "Asia/Jerusalem",
    "IM": "Europe/Isle_of_Man", "IN": "Asia/Kolkata", "IO": "Indian/Chagos", "IQ": "Asia/Baghdad",
    "IR": "Asia/Tehran", "IS": "Atlantic/Reykjavik", "IT": "Europe/Rome", "JE": "Europe/Jersey",
    "JM": "America/Jamaica", "JO": "Asia/Amman", "JP": "Asia/Tokyo", "KE": "Africa/Nairobi",
    "KG": "Asia/Bishkek", "KH": "Asia/Phnom_Penh", "KI": "Pacific/Tarawa", "KM": "Indian/Comoro",
    "KN": "America/St_Kitts", "KP": "Asia/Pyongyang", "KR": "Asia/Seoul", "KW": "Asia/Kuwait",
    "KY": "America/Cayman", "KZ": "Asia/Almaty", "LA": "Asia/Vientiane", "LB": "Asia/Beirut",
    "LC": "America/St_Lucia", "LI": "Europe/Vaduz", "LK": "Asia/Colombo", "LR": "Africa/Monrovia",
    "LS": "Africa/Maseru", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "LV": "Europe/Riga",
    "LY": "Africa/Tripoli", "MA": "Africa/Casablanca", "MC": "Europe/Monaco",
    "MD": "Europe/Chisinau", "ME": "Europe/Podgorica", "MF": "America/Marigot",
    "MG": "Indian/Antananarivo", "MH": "Pacific/Majuro", "MK": "Europe/Skopje",
    "ML": "Africa/Bamako", "MM": "Asia/Yangon", "MN": "Asia/Ulaanbaatar", "MO": "Asia/Macau",
    "MP": "Pacific/Saipan", "MQ": "America/Martinique", "MR": "Africa/Nouakchott",
    "MS": "America/Montserrat", "MT": "Europe/Malta", "MU": "Indian/Mauritius",
    "MV": "Indian/Maldives", "MW": "Africa/Blantyre", "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur", "MZ": "Africa/Maputo", "NA": "Africa/Windhoek",
    "NC": "Pacific/Noumea", "NE": "Africa/Niamey", "NF": "Pacific/Norfolk", "NG": "Africa/Lagos",
    "NI": "America/Managua", "NL": "Europe/Amsterdam", "NO": "Europe/Oslo",
    "NP": "Asia/Kathmandu", "NR": "Pacific/Nauru", "NU": "Pacific/Niue", "NZ": "Pacific/Auckland",
    "OM": "Asia/Muscat", "PA": "America/Panama", "PE": "America/Lima", "PF": "Pacific/Tahiti",
    "PG": "Pacific/Port_Moresby", "PH": "Asia/Manila", "PK": "Asia/Karachi",
    "PL": "Europe/Warsaw", "PM": "America/Miquelon", "PN": "Pacific/Pitcairn",
    "PR": "America/Puerto_Rico", "PS": "Asia/Hebron", "PT": "Europe/Lisbon",
    "PW": "Pacific/Palau", "PY": "America/Asuncion", "QA": "Asia/Qatar", "RE": "Indian/Reunion",
    "RO": "Europe/Bucharest", "RS": "Europe/Belgrade", "RU": "Europe/Moscow",
    "RW": "Africa/Kigali", "SA": "Asia/Riyadh", "SB": "Pacific/Guadalcanal", "SC": "Indian/Mahe",
    "SD": "Africa/Khartoum", "SE": "Europe/Stockholm", "SG": "Asia/Singapore",
    "SH": "Atlantic/St_Helena", "SI": "Europe/Ljubljana", "SJ": "Arctic/Longyearbyen",
    "SK": "Europe/Bratislava", "SL": "Africa/Freetown", "SM": "Europe/San_Marino",
    "SN": "Africa/Dakar", "SO": "Africa/Mogadishu", "SR": "America/Paramaribo",
    "SS": "Africa/Juba", "ST": "Africa/Sao_Tome", "SV": "America/El_Salvador",
    "SX": "America/Lower_Princes", "SY": "Asia/Damascus", "SZ": "Africa/Mbabane",
    "TC": "America/Grand_Turk", "TD": "Africa/Ndjamena", "TF": "Indian/Kerguelen",
    "TG": "Africa/Lome", "TH": "Asia/Bangkok", "TJ": "Asia/Dushanbe", "TK": "Pacific/Fakaofo",
    "TL": "Asia/Dili", "TM": "Asia/Ashgabat", "TN": "Africa/Tunis", "TO": "Pacific/Tongatapu",
    "TR": "Europe/Istanbul", "TT": "America/Port_of_Spain", "TV": "Pacific/Funafuti",
    "TW": "Asia/Taipei", "TZ": "Africa/Dar_es_Salaam", "UA": "Europe/Kyiv",
    "UG": "Africa/Kampala", "UM": "Pacific/Midway", "US": "America/New_York",
    "UY": "America/Montevideo", "UZ": "Asia/Tashkent", "VA": "Europe/Vatican",
    "VC": "America/St_Vincent", "VE": "America/Caracas", "VG": "America/Tortola",
    "VI": "America/St_Thomas", "VN": "Asia/Ho_Chi_Minh", "VU": "Pacific/Efate",
    "WF": "Pacific/Wallis", "WS": "Pacific/Apia", "YE": "Asia/Aden", "YT": "Indian/Mayotte",
    "ZA": "Africa/Johannesburg", "ZM": "Africa/Lusaka", "ZW": "Africa/Harare",
}
#: The countries Flowlet accepts: the contract, the frame checks (``is_in`` over this set) and
#: the online engine all decide "known" by it.
KNOWN_COUNTRIES = frozenset(COUNTRY_TIMEZONES)
#: What an unknown code is not, in every error about one.
KNOWN_COUNTRY_RULE = "an ISO 3166-1 alpha-2 country code with a time zone (tzdata)"


class UnknownCountry(ValueError):
    """A country code with no time zone here: not ISO 3166-1 alpha-2, or BV/HM."""

    def __init__(self, country: object) -> None:
        super().__init__(f"{country!r} is not {KNOWN_COUNTRY_RULE}")


def is_known_country(country: object) -> bool:
    return isinstance(country, str) and country in KNOWN_COUNTRIES


def timezone_of_country(country: str) -> str:
    """The IANA zone of ``country``; :class:`UnknownCountry` (a ``ValueError``) if it has none."""
    try:
        return COUNTRY_TIMEZONES[country]
    except KeyError:
        raise UnknownCountry(country) from None


def tzdata_country_zones() -> dict[str, tuple[str, ...]]:
    """Every zone the installed ``tzdata`` package lists per country (``zone.tab``, in its
    order), for the test that keeps :data:`COUNTRY_TIMEZONES` equal to it."""
    zones: dict[str, list[str]] = {}
    text = files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_comment = line.split("\t")
            zones.setdefault(country, []).append(zone)
    return {country: tuple(z) for country, z in zones.items()}


def tzdata_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code → name, from tzdata's ``iso3166.tab``."""
    text = files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text(encoding="utf-8")
    return dict(line.split("\t", 1) for line in text.splitlines()
                if line and not line.startswith("#"))

