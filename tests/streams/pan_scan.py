"""Scanning a data folder for card numbers: every file's bytes (SQLite databases with their WAL
and journals, logs, Faust's files) and every value of every Parquet file (compressed pages hide
literal bytes, so those are read as tables)."""

from __future__ import annotations

from pathlib import Path


def _parquet_text(path: Path) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return "\n".join(str(column.to_pylist()) for column in table.columns).encode()


def pan_hits(data_dir: Path, needles: list[str]) -> dict[str, list[str]]:
    """``{file: [needles found]}`` for every file under ``data_dir`` holding one."""
    encoded = {n: n.encode() for n in needles}
    hits: dict[str, list[str]] = {}
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files, f"nothing to scan in {data_dir}"
    for path in files:
        blob = path.read_bytes()
        if path.suffix == ".parquet":
            blob += _parquet_text(path)
        found = [n for n, raw in encoded.items() if raw in blob]
        if found:
            hits[str(path.relative_to(data_dir))] = found
    return hits


def needles_for(forms: list[str]) -> list[str]:
    """What may not be found: each form as posted and its bare digits."""
    digits = ["".join(ch for ch in f if ch.isdigit()) for f in forms]
    return sorted(set(forms) | {d for d in digits if len(d) >= 13})
