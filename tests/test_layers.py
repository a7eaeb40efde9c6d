"""The floors hold: ``lint-imports`` passes on the tree, and fails when a floor imports upward."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The tree's packages first on the path, ahead of the editable install's finder.
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())"],
        cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False)


def copy_tree(dest: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package,
                        ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.md"))
    return dest


def test_the_tree_keeps_its_floors() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "back_import"), [
    ("core/settings.py", "import ledger"),              # ground importing a domain package
    ("ledger/verify.py", "from streams import topics"),  # domain importing orchestration
    ("simulator/rows.py", "import features"),            # the simulator needs only the contract
    ("streams/topics.py", "import flowlet.cli"),          # anything importing the roof
])
def test_a_back_import_breaks_the_contract(tmp_path: Path, module: str, back_import: str) -> None:
    tree = copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{back_import}  # deliberate back-import\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and module.split("/")[0] in result.stdout
