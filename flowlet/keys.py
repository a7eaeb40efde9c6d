"""``flowlet keys create|list|revoke``, and the keys ``flowlet up`` makes for itself.

Keys live in the API's database (``FLOWLET_API_DATABASE_URL``; default ``<data>/api.db``);
the key itself is printed once, at creation, and stored only as a SHA-256 digest. Every create
and revoke is audited (``flowlet keys audit`` shows the chain and checks it).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from core.settings import Settings
from streams.keys import SCOPES, KeyRequestError, KeyStore

log = logging.getLogger(__name__)

#: The key ``flowlet up`` prints once for its user, and the one it hands its simulator.
LOCAL_KEY, SIMULATOR_KEY = "local", "flowlet-up-simulator"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def ensure_local_keys(settings: Settings) -> tuple[str | None, str]:
    """``(local key or None, simulator key)``: a ``local`` key (publish, label, read) when the
    API has none yet — shown once — and a fresh publish key for this run's simulator (the
    previous run's is revoked: its token was never stored)."""
    store = KeyStore(settings.api_database_url)
    try:
        active = store.keys(include_revoked=False)
        local = None
        if not any(k.name == LOCAL_KEY for k in active):
            _, local = store.create(LOCAL_KEY, ["publish", "label", "read"], actor="flowlet-up",
                                    rate_per_second=settings.api_key_rate_per_second,
                                    burst=settings.api_key_burst)
        for old in (k for k in active if k.name == SIMULATOR_KEY):
            store.revoke(old.key_id, actor="flowlet-up")
        _, simulator = store.create(SIMULATOR_KEY, ["publish"], actor="flowlet-up",
                                    rate_per_second=settings.api_key_rate_per_second,
                                    burst=settings.api_key_burst)
        return local, simulator
    finally:
        store.engine.dispose()


def tool_key(settings: Settings, name: str) -> str:
    """An unthrottled key (publish, label, read) for Flowlet's own tools (bench, chaos) against
    the API of ``settings``."""
    store = KeyStore(settings.api_database_url)
    try:
        return store.create(name, ["publish", "label", "read"], actor=f"flowlet-{name}",
                            rate_per_second=1e6, burst=1_000_000)[1]
    finally:
        store.engine.dispose()


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    store = KeyStore(settings.api_database_url)
    out = sys.stdout.write
    try:
        if args.action == "create":
            key, token = store.create(
                args.name, args.scope or [], actor=_actor(),
                rate_per_second=args.rate or settings.api_key_rate_per_second,
                burst=args.burst or settings.api_key_burst)
            out(f"created key {key.key_id} ({key.name}; {', '.join(key.scopes)}; "
                f"{key.rate_per_second:g} requests/s, burst {key.burst}). The key, shown only "
                f"now:\n{token}\n")
        elif args.action == "revoke":
            if not args.key_id:
                raise KeyRequestError("keys revoke needs a KEY_ID (see `flowlet keys list`)")
            key = store.revoke(args.key_id, actor=_actor())
            out(f"revoked {key.key_id} ({key.name})\n")
        elif args.action == "audit":
            for entry in store.audit():
                out(f"{entry['seq']:>5} {entry['at']:%Y-%m-%d %H:%M:%S} {entry['actor']:<20} "
                    f"{entry['action']:<7} {entry['object_id']}\n")
            checked, problem = store.verify_audit()
            out(f"{checked} entries; chain {'BROKEN: ' + problem if problem else 'intact'}\n")
            return 1 if problem else 0
        else:
            for key in store.keys(include_revoked=args.all):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                out(f"{key.key_id}  {key.name:<24} {','.join(key.scopes):<22} "
                    f"{key.rate_per_second:>8g}/s  {state}\n")
    except KeyRequestError as exc:
        log.error("%s", exc)
        return 2
    finally:
        store.engine.dispose()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="API keys: create (printed once), list, revoke, audit")
    p.add_argument("action", choices=["create", "list", "revoke", "audit"],
                   help="create a key (printed once), list keys, revoke one, or check the "
                        "audit chain of key changes")
    p.add_argument("key_id", nargs="?", help="revoke: the key's id (the 10 letters after flk_)")
    p.add_argument("--name", default="upstream",
                   help="create: who uses the key, e.g. the upstream system (default "
                        "%(default)s)")
    p.add_argument("--scope", action="append", choices=SCOPES, metavar="SCOPE",
                   help=f"create: one of {', '.join(SCOPES)}; repeat for several (admin "
                        "includes all)")
    p.add_argument("--rate", type=float,
                   help="create: requests per second (default FLOWLET_API_KEY_RATE_PER_SECOND, "
                        f"{Settings.api_key_rate_per_second:g})")
    p.add_argument("--burst", type=int,
                   help=f"create: requests at once (default {Settings.api_key_burst})")
    p.add_argument("--all", action="store_true", help="list: include revoked keys")
    return p
