"""``flowlet users add|list|disable|enable``, and the local admin ``flowlet up`` creates."""

from __future__ import annotations

import argparse
import logging
import sys

from cases import ROLES, CaseStore, UserError
from cases.users import new_password
from core.settings import Settings

log = logging.getLogger(__name__)

LOCAL_ADMIN = "admin"


def ensure_local_admin(settings: Settings) -> str | None:
    """Create user ``admin`` with a one-time password when the workbench has no user yet;
    returns that password (shown once, stored only as a hash), or None."""
    store = CaseStore(settings.database_url)
    if store.users():
        return None
    password = new_password()
    store.add_user(LOCAL_ADMIN, "admin", password, actor="flowlet-up")
    return password


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    store = CaseStore(settings.database_url)
    try:
        if args.action == "add":
            password = args.password or new_password()
            user = store.add_user(args.username, args.role, password)
            sys.stdout.write(f"added {user.username} ({user.role})"
                             + ("" if args.password else f"; one-time password: {password}")
                             + "\n")
        elif args.action in ("disable", "enable"):
            user = store.set_disabled(args.username, args.action == "disable")
            sys.stdout.write(f"{user.username}: {'disabled' if user.disabled else 'enabled'}\n")
        else:
            for user in store.users():
                sys.stdout.write(f"{user.username:<24} {user.role:<8} "
                                 f"{'disabled' if user.disabled else 'active'}\n")
    except UserError as exc:
        log.error("%s", exc)
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("users", help="workbench users: add, list, disable, enable")
    p.add_argument("action", choices=["add", "list", "disable", "enable"],
                   help="what to do")
    p.add_argument("username", nargs="?", help="for add, disable, enable")
    p.add_argument("--role", choices=ROLES, default="analyst",
                   help="add: analyst (queue, cases, decisions), lead (assigns, files "
                        "reports) or admin (users, rules, models); default %(default)s")
    p.add_argument("--password", help="add: the password (default: a one-time one, printed)")
    return p
