"""API keys: scoped, rate-limited, stored as SHA-256 digests; creation and revocation audited.

A key reads ``flk_<id>_<secret>``: ``id`` (10 letters) is public — it names the key in lists,
logs and the audit trail — and ``secret`` is 32 random bytes. Only SHA-256 of the whole key is
stored (a slow password hash buys nothing against a 256-bit secret and would cost every
request); checking compares digests in constant time. The key is shown once, at creation.

Scopes: ``publish`` (POST transactions), ``label`` (POST labels), ``read`` (alerts, cases,
stats) and ``admin`` (everything). Every create and revoke is appended to ``api_key_audit``, a
hash chain like the workbench's audit log (:mod:`cases.audit`), in the same transaction.

>>> store = KeyStore("sqlite://")
>>> key, token = store.create("upstream-psp", ["publish"], actor="ops")
>>> store.verify(token) == key, key.allows("publish"), key.allows("read")
(True, True, False)
>>> store.verify(token[:-1] + "x") is None
True
>>> store.revoke(key.key_id, actor="ops").revoked
True
>>> store.verify(token) is None, store.verify_audit()
(True, (2, None))
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select, update

from cases.audit import append, chain_table, verify
from core.db import UTCDateTime, create_tables, make_engine

SCOPES = ("publish", "label", "read", "admin")
PREFIX = "flk"
_TOKEN = re.compile(rf"^{PREFIX}_([a-z]{{10}})_[A-Za-z0-9_\-]{{43}}$")

_meta = MetaData()
api_keys = Table(
    "api_keys", _meta,
    Column("key_id", String(10), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("scopes", String(64), nullable=False),  # space-separated
    Column("secret_sha256", String(64), nullable=False),
    Column("rate_per_second", Float, nullable=False),
    Column("burst", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(64)),
)
key_audit = chain_table("api_key_audit", _meta)


class KeyRequestError(ValueError):
    """A key request that cannot be done (bad scope or name, unknown key)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    rate_per_second: float
    burst: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def public(self) -> dict[str, object]:
        """What may be shown about the key (never its secret or digest)."""
        return {"key_id": self.key_id, "name": self.name, "scopes": list(self.scopes),
                "rate_per_second": self.rate_per_second, "burst": self.burst,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(row: object) -> ApiKey:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKey(m["key_id"], m["name"], tuple(m["scopes"].split()), m["rate_per_second"],
                  m["burst"], m["created_at"], m["created_by"], m["revoked_at"])


def parse_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes in canonical order; ``"publish,read"`` items are split.

    >>> parse_scopes(["read,publish"])
    ('publish', 'read')
    """
    wanted = {s.strip() for item in scopes for s in item.split(",") if s.strip()}
    unknown = wanted - set(SCOPES)
    if unknown or not wanted:
        raise KeyRequestError(f"scopes must be among {', '.join(SCOPES)}; got "
                        f"{', '.join(sorted(unknown)) or 'none'}")
    return tuple(s for s in SCOPES if s in wanted)


class KeyStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        create_tables(_meta, self.engine)

    def create(self, name: str, scopes: Iterable[str], actor: str,
               rate_per_second: float = 100.0, burst: int = 200) -> tuple[ApiKey, str]:
        """A new key and its token (the only time the token exists outside the caller)."""
        chosen = parse_scopes(scopes)
        if not name or len(name) > 64:
            raise KeyRequestError("name: 1–64 characters")
        if rate_per_second <= 0 or burst < 1:
            raise KeyRequestError("rate must be > 0 requests/s and burst >= 1")
        key_id = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, chosen, float(rate_per_second), int(burst),
                     datetime.now(UTC), actor)
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                key_id=key_id, name=name, scopes=" ".join(chosen), secret_sha256=_digest(token),
                rate_per_second=key.rate_per_second, burst=key.burst,
                created_at=key.created_at, created_by=actor))
            after = {k: v for k, v in key.public().items() if k != "revoked_at"}
            append(conn, actor, "create", "api_key", key_id, None, after, table=key_audit)
        return key, token

    def keys(self, include_revoked: bool = True) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query)]

    def revoke(self, key_id: str, actor: str) -> ApiKey:
        with self.engine.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
            if row is None:
                raise KeyRequestError(f"no key {key_id!r}")
            if row.revoked_at is not None:
                return _key(row)
            now = datetime.now(UTC)
            conn.execute(update(api_keys).where(api_keys.c.key_id == key_id)
                         .values(revoked_at=now, revoked_by=actor))
            append(conn, actor, "revoke", "api_key", key_id, {"revoked_at": None},
                   {"revoked_at": now.isoformat()}, table=key_audit)
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()
        return _key(row)

    def verify(self, token: str) -> ApiKey | None:
        """The active key ``token`` is, or None (malformed, unknown, wrong secret, revoked)."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == match[1])).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, _digest(token)):
            return None
        return None if row.revoked_at is not None else _key(row)

    def audit(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(key_audit).order_by(key_audit.c.seq))]

    def verify_audit(self) -> tuple[int, str | None]:
        with self.engine.connect() as conn:
            return verify(conn, table=key_audit)
