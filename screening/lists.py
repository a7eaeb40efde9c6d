"""Sanctions and PEP lists in OpenSanctions' "simple CSV" format (``targets.simple.csv``).

Columns: ``id, schema, name, aliases, birth_date, countries, addresses, identifiers, sanctions,
phones, emails, dataset, first_seen, last_seen, last_change``; several values in one cell are
separated by ``;``. An entry is a **sanctions** entry when its ``sanctions`` cell is filled or
none of its datasets is a PEP list, a **pep** entry otherwise.

A file is all or nothing: :func:`read_list` checks every row and, if any is bad, raises
:class:`ListFileError` naming each bad line and field, and nothing is loaded — a half-loaded
list would silently miss sanctioned parties.

>>> import io
>>> head = ",".join(COLUMNS) + "\\n"
>>> good = ("os-1,Person,Ivan Petrov,Iwan Petrow;Иван Петров,1970-03-01,ru,,,EU 2014/269,,,"
...         "EU FSF,,,\\n")
>>> [(e.entry_id, e.kind, e.aliases) for e in parse_list(io.StringIO(head + good))]
[('os-1', 'sanctions', ('Iwan Petrow', 'Иван Петров'))]
>>> try:
...     parse_list(io.StringIO(head + good + ",Person,,,1970-13-01,,,,,,,x,,,\\n"))
... except ListFileError as exc:
...     print(*exc.errors, sep="\\n")
line 3: id: empty
line 3: name: empty
line 3: birth_date: '1970-13-01' is not YYYY, YYYY-MM or YYYY-MM-DD
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from screening.names import normalise

COLUMNS = ("id", "schema", "name", "aliases", "birth_date", "countries", "addresses",
           "identifiers", "sanctions", "phones", "emails", "dataset", "first_seen",
           "last_seen", "last_change")
REQUIRED = ("id", "schema", "name")
SANCTIONS, PEP = "sanctions", "pep"
MAX_ERRORS = 50  # listed in the error; the count says how many more there were

_SCHEMA = re.compile(r"^[A-Z][A-Za-z]{1,40}$")
_PARTIAL_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class ListEntry:
    entry_id: str
    kind: str  # sanctions | pep
    schema: str  # Person, Company, Organization, Vessel, ...
    name: str
    aliases: tuple[str, ...]
    birth_dates: tuple[str, ...]
    countries: tuple[str, ...]
    dataset: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class ListFileError(ValueError):
    """A list file with bad rows: ``errors`` names each line and field."""

    def __init__(self, errors: list[str], total: int | None = None) -> None:
        total = len(errors) if total is None else total
        more = f"; and {total - len(errors)} more" if total > len(errors) else ""
        super().__init__("; ".join(errors) + more)
        self.errors = errors


def _split(cell: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (cell or "").split(";") if v.strip())


def _valid_partial_date(value: str) -> bool:
    if not _PARTIAL_DATE.match(value):
        return False
    parts = [int(p) for p in value.split("-")] + [1, 1]
    try:
        date(*parts[:3])
    except ValueError:
        return False
    return True


def _row_errors(row: dict[str | None, str | None]) -> list[str]:
    errors = []
    if None in row:
        errors.append(f"{len(COLUMNS)} columns expected, found more")
    if any(row.get(c) is None for c in COLUMNS):
        errors.append(f"{len(COLUMNS)} columns expected, found fewer")
        return errors
    errors += [f"{c}: empty" for c in REQUIRED if not (row[c] or "").strip()]
    schema = (row["schema"] or "").strip()
    if schema and not _SCHEMA.match(schema):
        errors.append(f"schema: {schema!r} is not a schema name like Person or Company")
    if (row["name"] or "").strip() and not normalise(row["name"] or ""):
        errors.append(f"name: {row['name']!r} has no letters or digits")
    errors += [f"birth_date: {d!r} is not YYYY, YYYY-MM or YYYY-MM-DD"
               for d in _split(row["birth_date"]) if not _valid_partial_date(d)]
    for column in ("first_seen", "last_seen", "last_change"):
        value = (row[column] or "").strip()
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                errors.append(f"{column}: {value!r} is not an ISO 8601 time")
    return errors


def _entry(row: dict[str | None, str | None]) -> ListEntry:
    datasets = (row["dataset"] or "").strip()
    is_pep = not _split(row["sanctions"]) and "pep" in datasets.lower()
    name = (row["name"] or "").strip()
    return ListEntry((row["id"] or "").strip(), PEP if is_pep else SANCTIONS,
                     (row["schema"] or "").strip(), name,
                     tuple(a for a in _split(row["aliases"]) if a != name),
                     _split(row["birth_date"]), _split(row["countries"]), datasets)


def parse_list(lines: Iterable[str] | TextIO) -> list[ListEntry]:
    """Every entry of a list file, or :class:`ListFileError` naming every bad line."""
    reader = csv.DictReader(lines, restkey=None)  # type: ignore[arg-type]
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ListFileError([f"line 1: header: missing column(s) {', '.join(missing)}"])
    entries: list[ListEntry] = []
    errors: list[str] = []
    total = 0
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        problems = _row_errors(row)
        entry_id = (row.get("id") or "").strip()
        if entry_id in seen:
            problems.append(f"id: {entry_id!r} repeats line {seen[entry_id]}")
        elif entry_id:
            seen[entry_id] = line
        total += len(problems)
        errors += [f"line {line}: {p}" for p in problems][:max(0, MAX_ERRORS - len(errors))]
        if not problems:
            entries.append(_entry(row))
    if errors:
        raise ListFileError(errors, total)
    return entries


def read_list(path: str | Path) -> list[ListEntry]:
    """:func:`parse_list` of a file (UTF-8, a byte-order mark allowed)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            return parse_list(handle)
        except UnicodeDecodeError as exc:
            raise ListFileError([f"{path}: not UTF-8 text ({exc.reason})"]) from exc
