"""Fuzzy name matching against a list: every name and alias of every entry, normalised once
(:mod:`screening.names`), compared with rapidfuzz's normalised Indel similarity (0–100) of the
sorted tokens — spelling variants and transliterations score high, word order does not count.
A name of several words also scores its token-set similarity against listed names of several
words, so a name missing a middle name or patronymic still matches ("Ivan Petrov" against
"Ivan Sergeyevich Petrov"); single words never match that way ("Ivan" alone is no hit).

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
from screening.names import normalise


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
        for e in entries:
            for name in dict.fromkeys(e.names):
                key = normalise(name)
                if key:
                    self._choices.append(key)
                    self._owners.append((e.entry_id, name))
        self.match = lru_cache(maxsize=cache_size)(self._match)  # type: ignore[method-assign]

    def __len__(self) -> int:
        return len(self.entries)

    def _match(self, name: str) -> list[Match]:
        """The entries matching ``name`` at the threshold or above, best first (one per
        entry: its best-matching name)."""
        query = normalise(name)
        if not query or not self._choices:
            return []
        scores = {i: score for _, score, i in process.extract(
            query, self._choices, scorer=fuzz.ratio, processor=None,
            score_cutoff=self.threshold, limit=None)}
        if " " in query:  # several words: a listed name may carry more (a middle name)
            for _, score, i in process.extract(
                    query, self._choices, scorer=fuzz.token_set_ratio, processor=None,
                    score_cutoff=self.threshold, limit=None):
                if " " in self._choices[i] and score > scores.get(i, 0.0):
                    scores[i] = score
        best: dict[str, Match] = {}
        for i, score in scores.items():
            entry_id, listed = self._owners[i]
            if entry_id not in best or score > best[entry_id].score:
                best[entry_id] = Match(entry_id, self.entries[entry_id].kind, listed,
                                       round(float(score), 1))
        return sorted(best.values(), key=lambda m: (-m.score, m.entry_id))
