"""``flowlet rules``: import, list, backtest, activate, export — and clear errors (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import yaml

from cases import CaseStore
from core.settings import Settings
from flowlet.cli import main
from simulator import Simulator
from streams.testing import run_pipeline

RULES = """
rules:
  - id: big
    condition: amount_minor >= 20_000
    severity: low
"""


def test_import_backtest_activate_export(tmp_path, capsys, caplog):
    now = datetime.now(UTC)
    txs = Simulator(seed=1, n_accounts=10, n_merchants=3).generate(
        150, now - timedelta(days=2), now - timedelta(days=1))
    run_pipeline([t.event for t in txs], tmp_path)
    CaseStore(Settings(data_dir=tmp_path).database_url).add_user(
        "lea", "lead", "a long enough password")
    (tmp_path / "r.yaml").write_text(RULES)
    rules = lambda *a: main(["--data-dir", str(tmp_path), "rules", *a])  # noqa: E731

    assert rules("import", str(tmp_path / "r.yaml")) == 0
    assert "new draft big v1" in capsys.readouterr().out
    assert rules("activate", "big", "--by", "lea") == 2
    assert "big v1 has no backtest" in caplog.text
    assert rules("backtest", "big", "--from", (now - timedelta(days=3)).date().isoformat(),
                 "--by", "lea") == 0
    figures = json.loads(capsys.readouterr().out)
    expected = sum(t.event.amount_minor >= 20_000 for t in txs)
    assert figures["transactions"] == len(txs) and figures["alerts"] == expected > 0
    assert rules("activate", "big", "--by", "lea") == 0
    assert rules("list") == 0
    assert "active v1" in capsys.readouterr().out
    assert rules("export", str(tmp_path / "out.yaml")) == 0
    (exported,) = yaml.safe_load((tmp_path / "out.yaml").read_text())["rules"]
    assert (exported["id"], exported["version"], exported["status"]) == ("big", 1, "active")

    (tmp_path / "bad.yaml").write_text(RULES.replace("20_000", "20_000 and f_acct_count_1h"))
    assert rules("import", str(tmp_path / "bad.yaml")) == 2
    assert "rules[0] (big): condition line 1, column 28: unknown name 'f_acct_count_1h'" \
        in caplog.text
