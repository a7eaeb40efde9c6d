"""Notebooks are committed without outputs or execution counts (`make strip` strips them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
STRIP = REPO / "scripts" / "strip_notebooks.py"


def test_committed_notebooks_have_no_outputs_nor_execution_counts() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True,
                             text=True, check=False).stdout.split()
    paths = [REPO / p for p in tracked] or NOTEBOOKS  # an export without .git: the folder
    assert paths
    for path in paths:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} cell {i} has outputs"
                assert cell["execution_count"] is None, f"{path.name} cell {i} has a count"
    check = subprocess.run([sys.executable, str(STRIP), "--check", *map(str, paths)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout


def test_strip_removes_outputs_and_check_refuses_an_unstripped_notebook(tmp_path: Path) -> None:
    notebook = json.loads(NOTEBOOKS[0].read_text())
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "4,000 rows\n"}]
    code["execution_count"] = 3
    code["metadata"]["execution"] = {"iopub.status.busy": "2026-12-07T15:00:00Z"}
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(notebook, indent=1))

    check = subprocess.run([sys.executable, str(STRIP), "--check", str(path)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 1 and "not stripped" in check.stdout
    subprocess.run([sys.executable, str(STRIP), str(path)], check=True, capture_output=True)
    cleaned = json.loads(path.read_text())
    cell = next(c for c in cleaned["cells"] if c["cell_type"] == "code")
    assert (cell["outputs"], cell["execution_count"]) == ([], None)
    assert "execution" not in cell["metadata"]
    assert [c["source"] for c in cleaned["cells"]] == [c["source"] for c in notebook["cells"]]
    again = subprocess.run([sys.executable, str(STRIP), "--check", str(path)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0
