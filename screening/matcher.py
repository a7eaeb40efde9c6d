"""Fuzzy name matching against a list: every name and alias of every entry, normalised once
(:mod:`screening.names`), compared with rapidfuzz's normalised Indel similarity (0–100) of the
sorted tokens — spelling variants and transliterations score high, word order does not count.
A listed name of three words or more is also indexed without each one of its words, so a name
missing a middle name or patronymic still matches ("Ivan Petrov" against "Ivan Sergeyevich
Petrov"), while a single word never does ("Ivan" alone is no hit). The near candidates (sorted
-token similarity within ``PREFILTER`` points of the threshold) are also scored by token-set
similarity against the whole listed names (never their shortened forms, of which a longer name
would be a superset), so a transliteration that moves a word's first letter ("Khaddad") matches;
running the token-set scorer over the whole list instead would be ~7× slower.

>>> from screening.lists import ListEntry
>>> m = Matcher([ListEntry("e1", "sanctions", "Person", "Ivan Sergeyevich Petrov",
...                        ("Иван Сергеевич Петров",), (), ("ru",), "EU")], threshold=90)
>>> [(x.entry_id, x.score) for x in m.match("PETROV, Ivan Sergejevich")]
[('e1', 97.8)]
>>> [(x.entry_id, x.score) for x in m.match("Ivan Petrov")], m.match("Ivan")
([('e1', 100.0)], [])
>>> [(x.entry_id, x.listed_name) for x in m.match("Иван Сергеевич Петров")]
[('e1', 'Иван Сергеевич Петров')]
>>> m.match("Ivan Petrenko")
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from screening.lists import ListEntry
from screening.names import normalise, tokens


def _keys(name: str) -> list[str]:
    """The index keys of a listed name: its normal form and, from three words on, the forms
    without one of its words.

    >>> _keys("Ivan Sergeyevich Petrov")
    ['ivan petrov sergeyevich', 'petrov sergeyevich', 'ivan petrov', 'ivan sergeyevich']
    """
    words = tokens(name)
    if not words:
        return []
    keys = [" ".join(sorted(words))]
    if len(words) >= 3:
        keys += [" ".join(sorted(words[:i] + words[i + 1:])) for i in range(len(words))]
    return list(dict.fromkeys(keys))


#: Candidates for the token-set score: sorted-token similarity at most this far below the
#: threshold, the best ``CANDIDATES`` of them (bounds the Python work per name).
PREFILTER = 20.0
CANDIDATES = 50


@dataclass(frozen=True)
class Match:
    entry_id: str
    kind: str  # sanctions | pep
    listed_name: str  # the list's name or alias that matched
    score: float  # 0-100


class Matcher:
    """An immutable index of one list version; :meth:`match` is cached per name."""

    def __init__(self, entries: list[ListEntry], threshold: float, cache_size: int = 65_536
                 ) -> None:
        self.threshold = threshold
        self.entries = {e.entry_id: e for e in entries}
        self._choices: list[str] = []
        self._owners: list[tuple[str, str]] = []  # (entry id, listed name) per choice
        #: Per choice, the index of its whole name (itself, or the name it shortens).
        self._whole: list[int] = []
        for e in entries:
            for name in dict.fromkeys(e.names):
                whole = len(self._choices)
                for key in _keys(name):
                    self._choices.append(key)
                    self._owners.append((e.entry_id, name))
                    self._whole.append(whole)
        self.match = lru_cache(maxsize=cache_size)(self._match)  # type: ignore[method-assign]

    def __len__(self) -> int:
        return len(self.entries)

    def _match(self, name: str) -> list[Match]:
        """The entries matching ``name`` at the threshold or above, best first (one per
        entry: its best-matching name)."""
        query = normalise(name)
        if not query or not self._choices:
            return []
        several = " " in query
        scores: dict[int, float] = {}
        # Pass 1, rapidfuzz's C loop over the whole index: near candidates by sorted-token
        # similarity. Pass 2, on those few only: the token-set similarity, which forgives a
        # word sorting elsewhere ("Khaddad" after "Karim", "Haddad" before it).
        for _, score, i in process.extract(query, self._choices, scorer=fuzz.ratio,
                                           processor=None, limit=CANDIDATES,
                                           score_cutoff=max(0.0, self.threshold - PREFILTER)):
            if score >= self.threshold:
                scores[i] = max(score, scores.get(i, 0.0))
            whole = self._whole[i]
            if several and " " in self._choices[whole]:
                score = fuzz.token_set_ratio(query, self._choices[whole])
                if score >= self.threshold:
                    scores[whole] = max(score, scores.get(whole, 0.0))
        best: dict[str, Match] = {}
        for i, score in scores.items():
            entry_id, listed = self._owners[i]
            if entry_id not in best or score > best[entry_id].score:
                best[entry_id] = Match(entry_id, self.entries[entry_id].kind, listed,
                                       round(float(score), 1))
        return sorted(best.values(), key=lambda m: (-m.score, m.entry_id))
