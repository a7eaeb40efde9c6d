from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from flowlet.cli import main
from flowlet.settings import Settings
from ledger import Ledger
from ledger.schema import entries
from models.simulator import Simulator
from streams.testing import run_pipeline


def test_ledger_verify_exit_codes(tmp_path, capsys):
    now = datetime.now(UTC)
    txs = Simulator(seed=1, n_accounts=10, n_merchants=3).generate(100, now - timedelta(hours=1),
                                                                   now)
    run_pipeline([t.event for t in txs], tmp_path)
    assert main(["--data-dir", str(tmp_path), "ledger", "verify"]) == 0
    assert "OK: ledger is consistent" in capsys.readouterr().out
    ledger = Ledger.from_url(Settings(data_dir=tmp_path).database_url)
    with ledger.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.entry_id == 1).values(amount_minor=1))
    assert main(["--data-dir", str(tmp_path), "ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "unbalanced" in out


def test_settings_round_trip_through_the_environment(tmp_path):
    s = Settings(data_dir=tmp_path, partitions=7, producer_idempotence=True,
                 alert_threshold=0.25)
    assert Settings.from_env(s.to_env()) == s
