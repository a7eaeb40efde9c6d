"""The command line's error edge: a failed command is one clear line on stderr and a non-zero
exit, never a traceback (``-v`` adds the traceback, for a bug report).

Domain code raises what it means — ``KeyError`` for an unknown id, ``ValueError`` for a bad
value, ``OSError`` for a file or a connection; the CLI turns each into its message:

>>> one_line(KeyError("no journal tx-9"))
'no journal tx-9'
>>> one_line(ValueError("an FX rate must be positive"))
'an FX rate must be positive'
>>> one_line(RuntimeError())
'RuntimeError'
>>> one_line(ZeroDivisionError("division by zero"))
'unexpected ZeroDivisionError: division by zero (run with -v for the traceback)'
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("flowlet")

#: errors whose message is the whole story: bad input, an unknown id, a file or a connection
EXPECTED = (LookupError, ValueError, OSError, RuntimeError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a ``KeyError``'s without the quotes ``str`` adds)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    if not isinstance(exc, EXPECTED):
        return f"unexpected {type(exc).__name__}: {text} (run with -v for the traceback)"
    return text


def run_command(func: Callable[[argparse.Namespace], int | None],
                args: argparse.Namespace) -> int:
    """Run a command; any exception becomes ``flowlet <command>: <message>`` and exit 1."""
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the edge: every error of every command ends here
        if getattr(args, "verbose", False):
            log.exception("%s failed", args.command)
        sys.stderr.write(f"flowlet {_command_name(args)}: {one_line(exc)}\n")
        return 1


def _command_name(args: argparse.Namespace) -> str:
    parts = [args.command]
    for attr in ("ledger_command", "lake_command", "screening_command", "rules_action"):
        if getattr(args, attr, None):
            parts.append(getattr(args, attr))
    return " ".join(parts)


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default (when it has one and the text does not already
    say it), like click's ``show_default=True``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and "default" not in text
                and action.option_strings):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: defaults in the help, usage errors on one line."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")
