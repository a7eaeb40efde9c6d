from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from core.settings import Settings
from flowlet.cli import main
from ledger import Ledger
from ledger.schema import entries
from simulator import Simulator
from streams.testing import run_pipeline


def _filled(tmp_path):
    now = datetime.now(UTC)
    txs = Simulator(seed=1, n_accounts=10, n_merchants=3).generate(
        100, now - timedelta(hours=1), now)
    run_pipeline([t.event for t in txs], tmp_path)
    return Ledger.from_url(Settings(data_dir=tmp_path).database_url)


def test_ledger_verify_passes_then_names_a_tampered_row(tmp_path, capsys):
    ledger = _filled(tmp_path)
    assert main(["--data-dir", str(tmp_path), "ledger", "verify"]) == 0
    assert "OK: ledger is consistent" in capsys.readouterr().out
    with ledger.engine.begin() as conn:  # an attacker with DDL rights
        conn.execute(text("DROP TRIGGER ledger_entries_no_update"))
        seq, tid = conn.execute(text(
            "SELECT e.journal_seq, j.transaction_id FROM ledger_entries e JOIN ledger_journals j "
            "ON j.seq = e.journal_seq ORDER BY e.journal_seq, e.leg LIMIT 1 OFFSET 2")).one()
        conn.execute(update(entries).where(entries.c.journal_seq == seq)
                     .values(amount_minor=entries.c.amount_minor * 3))
    assert main(["--data-dir", str(tmp_path), "ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"({tid}): hash mismatch" in out


def test_ledger_verify_cross_checks_the_lake(tmp_path, capsys):
    _filled(tmp_path)
    with Ledger.from_url(Settings(data_dir=tmp_path).database_url).engine.begin() as conn:
        conn.execute(text("INSERT INTO lake_index VALUES ('ghost', 'f', '2026-01-01')"))
    assert main(["--data-dir", str(tmp_path), "ledger", "verify", "--settle", "0.5"]) == 1
    assert "accepted transaction ghost has no journal" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path), "ledger", "verify", "--no-cross-check"]) == 0


def test_ledger_rate_and_reverse_commands(tmp_path, capsys):
    ledger = _filled(tmp_path)
    assert main(["--data-dir", str(tmp_path), "ledger", "rate", "EUR", "USD", "1.0832",
                 "--as-of", "2026-01-01T00:00:00+00:00"]) == 0
    assert str(ledger.rate("EUR", "USD", datetime.now(UTC))) == "1.0832"
    with ledger.engine.connect() as conn:  # reversing a payment refunds: it cannot overdraw
        posted = conn.execute(text(
            "SELECT transaction_id FROM ledger_journals WHERE status = 'posted' "
            "AND event_type = 'merchant_payment' LIMIT 1")).scalar_one()
    assert main(["--data-dir", str(tmp_path), "ledger", "reverse", posted,
                 "--reason", "test"]) == 0
    assert f"reversal:{posted}: posted" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path), "ledger", "verify"]) == 0


def test_settings_round_trip_through_the_environment(tmp_path):
    s = Settings(data_dir=tmp_path, partitions=7, producer_idempotence=True,
                 alert_threshold=0.25)
    assert Settings.from_env(s.to_env()) == s


def test_ledger_verify_waits_for_what_is_in_flight(tmp_path, capsys):
    """An accepted event posted while verify settles is in flight, not missing."""
    import threading

    from streams.outbox.store import Outbox

    ledger = _filled(tmp_path)
    settings = Settings(data_dir=tmp_path)
    now = datetime.now(UTC)
    late = Simulator(seed=2, n_accounts=3, n_merchants=2).generate(
        1, now - timedelta(minutes=1), now)[0].event
    Outbox(settings.api_database_url).accept(
        [(late.transaction_id, late.account_id, late.model_dump_json().encode(), "0" * 64)])
    poster = threading.Timer(1.0, lambda: ledger.post_batch([late]))
    poster.start()
    try:
        assert main(["--data-dir", str(tmp_path), "ledger", "verify", "--settle", "30"]) == 0
    finally:
        poster.join()
    assert "OK: ledger is consistent" in capsys.readouterr().out


def test_users_add_list_disable(tmp_path, capsys):
    from cases import CaseStore

    args = ["--data-dir", str(tmp_path)]
    assert main([*args, "users", "add", "ana", "--role", "lead"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("added ana (lead); one-time password: ")
    password = out.rsplit(" ", 1)[1].strip()
    store = CaseStore(Settings(data_dir=tmp_path).database_url)
    assert store.authenticate("ana", password, channel="api").role == "lead"
    assert main([*args, "users", "add", "ana"]) == 2  # exists
    assert main([*args, "users", "disable", "ana"]) == 0
    assert main([*args, "users", "list"]) == 0
    assert "disabled" in capsys.readouterr().out.splitlines()[-1]
    assert store.authenticate("ana", password, channel="api") is None
    assert main([*args, "users", "disable", "ghost"]) == 2


def test_keys_create_list_revoke_audit(tmp_path, capsys):
    from streams.keys import KeyStore

    args = ["--data-dir", str(tmp_path)]
    assert main([*args, "keys", "create", "--name", "psp", "--scope", "publish",
                 "--scope", "read", "--rate", "5"]) == 0
    out = capsys.readouterr().out
    token = out.splitlines()[-1]
    store = KeyStore(Settings(data_dir=tmp_path).api_database_url)
    key = store.verify(token)
    assert key is not None and key.scopes == ("publish", "read") and key.rate_per_second == 5
    assert f"created key {key.key_id} (psp; publish, read; 5 requests/s" in out
    assert main([*args, "keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key.key_id in listed and "active" in listed and token not in listed
    assert main([*args, "keys", "revoke", key.key_id]) == 0
    assert capsys.readouterr().out == f"revoked {key.key_id} (psp)\n"
    assert store.verify(token) is None
    assert main([*args, "keys", "revoke", "nosuchkeyx"]) == 2
    assert main([*args, "keys", "list"]) == 0 and key.key_id not in capsys.readouterr().out
    assert main([*args, "keys", "audit"]) == 0
    audit = capsys.readouterr().out
    assert "create" in audit and "revoke" in audit and "2 entries; chain intact" in audit
    with pytest.raises(SystemExit):  # an unknown scope is refused by the parser
        main([*args, "keys", "create", "--scope", "everything"])
