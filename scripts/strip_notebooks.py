"""Strip notebooks for committing: no outputs, no execution counts, no per-cell run metadata.

    python scripts/strip_notebooks.py notebooks/*.ipynb          # strip in place (make strip)
    python scripts/strip_notebooks.py --check notebooks/*.ipynb  # exit 1 naming unstripped ones

Outputs are never committed: they hold temporary paths, timings and images that change on every
run, and the test command executes every notebook anyway (tests/notebooks). No dependency
beyond the standard library, so it runs as a pre-commit hook in any environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Cell metadata a run writes (timings, scroll and collapse state), never worth a diff.
RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def stripped(notebook: dict) -> dict:
    """``notebook`` (the parsed JSON) without outputs, execution counts or run metadata."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return notebook


def text_of(notebook: dict) -> str:
    """The file text Jupyter itself writes (1-space indent, trailing newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not stripped")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths:
        original = path.read_text(encoding="utf-8")
        clean = text_of(stripped(json.loads(original)))
        if clean != original:
            dirty.append(path)
            if not args.check:
                path.write_text(clean, encoding="utf-8")
    verb = "not stripped (run make strip)" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if dirty and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
