"""Every notebook runs top to bottom, shows figures and no NaN metric; notebook 1 leaves a
live data folder byte-identical.

Each notebook executes once here (notebooks/ is not a pytest path, so nbmake does not run them
a second time); about 40–60 s each on the 2-core development VM.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

#: A NaN shown as a value: the token alone, as pandas, polars, numpy and f-strings print it —
#: not the feature catalogue's prose "(NaN if none)".
NAN_VALUE = re.compile(r"(?<![\w(.-])(nan|NaN)(?![\w])")


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in its folder; a failing cell raises (CellExecutionError)."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[tuple[int, dict]]:
    return [(i, out) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", [])]


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for _, out in outputs(notebook))


def texts(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """Every text a reader sees: streams and the plain-text form of displayed values."""
    found = []
    for i, out in outputs(notebook):
        if out.get("output_type") == "stream":
            found.append((i, out["text"]))
        elif "text/plain" in out.get("data", {}):
            found.append((i, out["data"]["text/plain"]))
    return found


def nan_values(notebook: nbformat.NotebookNode) -> list[str]:
    """Lines showing a NaN value, with their cell index."""
    return [f"cell {i}: {line.strip()}" for i, text in texts(notebook)
            for line in text.splitlines() if NAN_VALUE.search(line)]


def test_the_checks_can_fail() -> None:
    """The NaN pattern catches printed NaN values and spares the catalogue's prose."""
    for shown in ("test AP nan", "ensemble   0.4498   NaN", "AP nan,", "score=nan"):
        assert NAN_VALUE.search(shown), shown
    for prose in ("(NaN if none)", "nanoseconds", "Financial", "banana"):
        assert not NAN_VALUE.search(prose), prose


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_explore_the_lake.ipynb",
                                           "02_train_and_compare.ipynb",
                                           "03_why_this_score.ipynb",
                                           "04_backtest_a_rule.ipynb"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_figures_and_no_nan(path: Path, kernel_env: pytest.MonkeyPatch
                                               ) -> None:
    notebook = execute(path)
    assert figures(notebook) >= 2, f"{path.name} rendered {figures(notebook)} figures"
    assert nan_values(notebook) == [], f"{path.name} shows NaN values"
    shown = "\n".join(text for _, text in texts(notebook))
    assert "Traceback" not in shown


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: its SHA-256 (files) or 'dir'."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.mark.integration
@pytest.mark.slow
def test_explore_leaves_a_live_data_folder_byte_identical(tmp_path: Path,
                                                          kernel_env: pytest.MonkeyPatch
                                                          ) -> None:
    """DATA_DIR set to a stack's folder (lake, ledger, labels): notebook 1 reads it, writes
    nothing — no file changed, added or removed."""
    from simulator import simulate_history
    from streams.testing import run_pipeline

    data = tmp_path / "data"
    history = simulate_history(4, seed=5, end=datetime(2026, 3, 1, tzinfo=UTC), customers=60,
                               merchants=12)
    run_pipeline(history.transaction_events() + history.label_events(), data)
    before = _snapshot(data)
    assert any(name.startswith("lake/transactions/") for name in before)
    kernel_env.setenv("DATA_DIR", str(data))
    notebook = execute(REPO / "notebooks" / "01_explore_the_lake.ipynb")
    assert any(f"reading the lake at {data / 'lake'} (read-only)" in text
               for _, text in texts(notebook))
    assert _snapshot(data) == before
