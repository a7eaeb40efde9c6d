"""The feature registry as Markdown: ``flowlet features`` writes it into features/README.md.

>>> markdown().splitlines()[2].startswith("| amount_log10 | transaction | event |")
True
"""

from __future__ import annotations

from pathlib import Path

from features.definitions import registry

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- registry:begin -->", "<!-- registry:end -->"
COLUMNS = ("name", "entity", "family", "aggregation", "window", "include_current",
           "description")


def markdown() -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in registry():
        cells = ["" if row[c] is None else str(row[c]).replace("|", "\\|") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_readme(text: str) -> str:
    """``text`` with the table between the registry markers replaced by the current one."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown()}\n{END}{tail}"


def write_readme() -> Path:
    README.write_text(render_readme(README.read_text()))
    return README
