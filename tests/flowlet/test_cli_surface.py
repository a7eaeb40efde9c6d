"""The command line's surface: every option documented with its default; errors are one line
and a non-zero exit; logs only what the user asked for."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from flowlet.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: str = "flowlet"
              ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help_and_shows_its_default():
    commands = dict(_commands(build_parser()))
    assert {"flowlet up", "flowlet dashboard", "flowlet ledger reverse",
            "flowlet simulate", "flowlet train"} <= set(commands)
    missing, hidden_default = [], []
    for path, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip():
                missing.append(f"{path} {name}")
            if (action.option_strings and action.default not in (None, False)
                    and "default" not in parser._get_formatter()._expand_help(action)):
                hidden_default.append(f"{path} {name}")
        assert "%(default)" not in text
    assert not missing, f"options without help: {missing}"
    assert not hidden_default, f"options whose help hides the default: {hidden_default}"


def test_dashboard_takes_a_port():
    args = build_parser().parse_args(["dashboard", "--port", "9999"])
    assert args.port == 9999


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # a usage error, from argparse
        return int(exit_.code or 0)


@pytest.mark.parametrize(("argv", "says"), [
    (["ledger", "reverse", "no-such-id", "--reason", "x"], "no journal no-such-id"),
    (["ledger", "rate", "EUR", "USD", "-3"], "must be positive"),
    (["ledger", "rate", "EUR", "USD", "abc"], "not a decimal number: 'abc'"),
    (["ledger", "rate", "EUR", "USD", "1.1", "--as-of", "2026-01-01"], "UTC offset"),
    (["simulate", "--count", "3", "--accounts", "50", "--api-url", "http://127.0.0.1:9"],
     "127.0.0.1:9"),
])
def test_a_failed_command_is_one_line_and_a_non_zero_exit(tmp_path, capsys, argv, says):
    code = _run(["--data-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and says in err, err


def test_a_rejected_reversal_exits_non_zero(tmp_path, capsys):
    from sqlalchemy import text

    from tests.flowlet.test_cli import _filled

    ledger = _filled(tmp_path)
    with ledger.engine.connect() as conn:
        rejected = conn.execute(text("SELECT transaction_id FROM ledger_journals "
                                     "WHERE status = 'rejected' LIMIT 1")).scalar()
    if rejected is None:  # none in this history: reversing a reversal is refused the same way
        with ledger.engine.connect() as conn:  # a payment's reversal refunds: cannot overdraw
            posted = conn.execute(text(
                "SELECT transaction_id FROM ledger_journals WHERE status = 'posted' "
                "AND event_type = 'merchant_payment' LIMIT 1")).scalar_one()
        assert _run(["--data-dir", str(tmp_path), "ledger", "reverse", posted,
                     "--reason", "t"]) == 0
        rejected = f"reversal:{posted}"
    capsys.readouterr()
    assert _run(["--data-dir", str(tmp_path), "ledger", "reverse", rejected,
                 "--reason", "t"]) == 1
    assert "rejected" in capsys.readouterr().out


def test_migration_logs_only_with_verbose(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO):
        assert main(["--data-dir", str(tmp_path / "a"), "ledger", "verify",
                     "--no-cross-check"]) == 0
    assert not [r for r in caplog.records if r.name.startswith("alembic")]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["-v", "--data-dir", str(tmp_path / "b"), "ledger", "verify",
                     "--no-cross-check"]) == 0
    assert [r for r in caplog.records if r.name.startswith("alembic")]


@pytest.mark.slow  # trains a small model
def test_train_if_missing_tells_each_step(tmp_path, caplog, capsys):
    """Off a terminal (a log, a container) the steps are log lines, not 25 s of silence."""
    import logging

    with caplog.at_level(logging.INFO):
        assert main(["--data-dir", str(tmp_path), "train", "--if-missing", "--days", "21",
                     "--customers", "250"]) == 0
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training: ")]
    assert steps[0] == "training: simulating 21 days × 250 customers", steps
    assert len(steps) >= 4, steps
    caplog.clear()
    with caplog.at_level(logging.INFO):  # a champion exists: nothing to train, nothing told
        assert main(["--data-dir", str(tmp_path), "train", "--if-missing"]) == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("training: ")]
