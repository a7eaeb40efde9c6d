"""The documentation links only files in the repository, and the README's examples work."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _markdown_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.md", "**/*.md"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [ROOT / line for line in sorted(set(out.split()))]


def _broken_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code is not a link
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same file
        file = (path.parent / target.split("#", 1)[0]).resolve()
        if not file.is_relative_to(ROOT) or not file.exists():
            broken.append(target)
    return broken


def test_every_relative_link_in_every_markdown_file_resolves_inside_the_repository():
    files = _markdown_files()
    assert ROOT / "README.md" in files
    broken = {str(p.relative_to(ROOT)): b for p in files if (b := _broken_links(p))}
    assert not broken, broken


def test_the_link_check_catches_a_link_outside_the_repository(tmp_path):
    doc = ROOT / "docs" / "_probe_link_check.md"
    doc.write_text("[brief](../../shared/BRIEF.md) [ok](../README.md) [web](https://x.org)")
    try:
        assert _broken_links(doc) == ["../../shared/BRIEF.md"]
    finally:
        doc.unlink()


def _readme_curl_bodies() -> list[dict]:
    readme = (ROOT / "README.md").read_text()
    # a curl to /v1/transactions, its headers perhaps on continuation lines, then its body
    bodies = re.findall(r"curl [^\n]*/v1/transactions(?:[^\n]*\\\n)*[^\n]*-d '(\{.*?\})'",
                        readme, re.S)
    return [json.loads(b) for b in bodies]


def test_the_readme_curl_examples_are_posted_by_the_ledger(tmp_path):
    """As written, in order: the account is funded first, so every example posts."""
    from sqlalchemy import text

    from core.contract import TransactionEvent
    from core.settings import Settings
    from ledger import Ledger
    from streams.testing import run_pipeline

    bodies = _readme_curl_bodies()
    assert len(bodies) >= 2 and bodies[0]["event_type"] == "top_up"
    run_pipeline([TransactionEvent.model_validate(b) for b in bodies], tmp_path)
    ledger = Ledger.from_url(Settings(data_dir=tmp_path).database_url)
    with ledger.engine.connect() as conn:
        status = dict(conn.execute(text(
            "SELECT transaction_id, status FROM ledger_journals")).all())
    assert status == {b["transaction_id"]: "posted" for b in bodies}
