"""Names made comparable: transliterated to ASCII, lower case, punctuation gone, honorifics
and legal-form words dropped, tokens sorted (so word order does not count).

>>> normalise("Владимир Владимирович ПУТИН")
'putin vladimir vladimirovich'
>>> normalise("  Müller-Lüdenscheidt, Hans ")
'hans ludenscheidt muller'
>>> normalise("Mr. José  O'Neill")
'jose oneill'
>>> normalise("ACME Trading Ltd.")
'acme trading'
>>> normalise("!!!")
''
"""

from __future__ import annotations

import re

from anyascii import anyascii

#: Words that say nothing about who a party is: titles and legal forms.
STOP_WORDS = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "sheikh", "hon",
    "ltd", "llc", "inc", "plc", "gmbh", "ag", "sa", "sarl", "bv", "nv", "co", "corp",
    "company", "limited", "ooo", "oao", "zao", "pjsc", "jsc", "ojsc",
})

_APOSTROPHES = re.compile(r"['`\u2019]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokens(name: str) -> list[str]:
    """The name's words after transliteration, without punctuation or stop words.

    >>> tokens("Ali Hassan al-Majid")
    ['ali', 'hassan', 'al', 'majid']
    """
    text = _APOSTROPHES.sub("", anyascii(name).lower())
    return [t for t in _NON_ALNUM.sub(" ", text).split() if t not in STOP_WORDS]


def normalise(name: str) -> str:
    """The comparable form of a name: its tokens sorted and joined by one space."""
    return " ".join(sorted(tokens(name)))
