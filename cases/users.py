"""Workbench users: a role each, passwords hashed with Argon2id, never stored in clear.

Roles, each including the one before: ``analyst`` (the queue, cases, decisions), ``lead``
(assigning others' cases, filing reports), ``admin`` (users, rules, model promotion).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select, update

from cases.schema import users

ROLES = ("analyst", "lead", "admin")
_hasher = PasswordHasher()
#: Verifying an unknown user's password costs as much as a known one's (no timing oracle).
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class UserError(ValueError):
    """A user request that cannot be done (unknown or disabled user, bad role, duplicate)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    disabled: bool = False

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def new_password() -> str:
    """A one-time password to hand over (the user should change it)."""
    return secrets.token_urlsafe(15)


def add(conn: Connection, username: str, role: str, password: str) -> User:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not username or len(username) > 64 or not username.replace("-", "").replace(
            "_", "").replace(".", "").isalnum():
        raise UserError("username: 1–64 letters, digits, '.', '-' or '_'")
    if len(password) < 12:
        raise UserError("password: at least 12 characters")
    if conn.execute(select(users.c.username).where(users.c.username == username)).first():
        raise UserError(f"user {username!r} exists")
    conn.execute(users.insert().values(username=username, role=role,
                                       password_hash=_hasher.hash(password), disabled=False,
                                       created_at=datetime.now(UTC)))
    return User(username, role)


def get(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(users.c.username, users.c.role, users.c.disabled)
                       .where(users.c.username == username)).first()
    return User(row.username, row.role, bool(row.disabled)) if row else None


def active(conn: Connection, username: str) -> User:
    """The user, who must exist and not be disabled (else :class:`UserError`)."""
    user = get(conn, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    if user.disabled:
        raise UserError(f"user {username!r} is disabled")
    return user


def listing(conn: Connection) -> list[User]:
    return [User(r.username, r.role, bool(r.disabled)) for r in conn.execute(
        select(users.c.username, users.c.role, users.c.disabled).order_by(users.c.username))]


def set_disabled(conn: Connection, username: str, disabled: bool = True) -> User:
    user = get(conn, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    conn.execute(update(users).where(users.c.username == username).values(disabled=disabled))
    return User(user.username, user.role, disabled)


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The user when the password matches and the user is enabled, else None."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return User(row.username, row.role, False)
