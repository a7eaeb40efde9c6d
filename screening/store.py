"""``ListStore``: load a list file into the database; read the current list back.

A load replaces the whole list in one transaction, as a new list version: the stream picks it
up at its next batch (:class:`screening.source.ScreeningSource` watches the version).

>>> from pathlib import Path
>>> store = ListStore("sqlite://")
>>> store.current()
(0, [])
>>> report = store.load(SAMPLE_LIST)
>>> report.version, report.entries, report.by_kind
(1, 10, {'pep': 3, 'sanctions': 7})
>>> version, entries = store.current()
>>> version, entries[0].entry_id, entries[0].aliases[0]
(1, 'syn-p-0001', 'Elena Vasquez')
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, func, insert, select

from core import migrations
from core.db import make_engine
from screening.lists import ListEntry, read_list
from screening.schema import screening_entries, screening_lists

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: A small synthetic list shipped as test and demo data (no real persons).
SAMPLE_LIST = Path(__file__).resolve().parent / "samples" / "sanctions_sample.csv"


def migrate(engine: Engine, revision: str = "head") -> None:
    migrations.upgrade(engine, MIGRATIONS, revision)


@dataclass(frozen=True)
class LoadReport:
    version: int
    entries: int
    by_kind: dict[str, int]
    sha256: str


class ListStore:
    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        migrate(self.engine)

    def load(self, path: str | Path) -> LoadReport:
        """Replace the list with the file's entries; a bad file (``ListFileError``) loads
        nothing and leaves the current list in place."""
        entries = read_list(path)  # raises before anything is written
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        with self.engine.begin() as conn:
            version = (conn.execute(select(func.max(screening_lists.c.version))).scalar()
                       or 0) + 1
            conn.execute(delete(screening_entries))
            if entries:
                conn.execute(insert(screening_entries), [{
                    "entry_id": e.entry_id, "kind": e.kind, "schema": e.schema,
                    "name": e.name, "aliases": json.dumps(list(e.aliases)),
                    "birth_dates": json.dumps(list(e.birth_dates)),
                    "countries": json.dumps(list(e.countries)), "dataset": e.dataset,
                } for e in entries])
            conn.execute(insert(screening_lists).values(
                version=version, loaded_at=datetime.now(UTC), source=str(path),
                sha256=digest, entries=len(entries)))
        return LoadReport(version, len(entries), dict(sorted(Counter(
            e.kind for e in entries).items())), digest)

    def version(self) -> int:
        """The current list version (0: none loaded)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(screening_lists.c.version))).scalar() or 0

    def current(self) -> tuple[int, list[ListEntry]]:
        """The current version and its entries (ordered by id), read in one transaction."""
        with self.engine.begin() as conn:
            version = conn.execute(select(func.max(screening_lists.c.version))).scalar() or 0
            rows = conn.execute(select(screening_entries)
                                .order_by(screening_entries.c.entry_id)).all()
        return version, [ListEntry(r.entry_id, r.kind, r.schema, r.name,
                                   tuple(json.loads(r.aliases)),
                                   tuple(json.loads(r.birth_dates)),
                                   tuple(json.loads(r.countries)), r.dataset) for r in rows]
