"""Reading and writing rule versions and named lists inside the caller's transaction, each
change audited (``cases.audit``). :class:`rules.store.RuleStore` is the facade over these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from cases.audit import append as audit
from rules.rule import RuleError, RuleVersion
from rules.schema import rule_list_items, rule_lists, rule_versions, rules, rules_revision
from rules.spec import ListSpec, RuleSpec


def from_row(row: Any, active_version: int | None) -> RuleVersion:
    return RuleVersion(row.rule_id, row.version, row.condition, row.severity, row.action,
                       row.description, row.created_by, row.created_at,
                       active=row.version == active_version)


def read_version(conn: Connection, rule_id: str, version: int | None = None) -> RuleVersion:
    """A version (the latest when ``version`` is None); :class:`RuleError` when unknown."""
    active = conn.execute(select(rules.c.active_version)
                          .where(rules.c.rule_id == rule_id)).first()
    if active is None:
        raise RuleError(f"no rule {rule_id!r}")
    query = select(rule_versions).where(rule_versions.c.rule_id == rule_id)
    query = (query.where(rule_versions.c.version == version) if version is not None
             else query.order_by(rule_versions.c.version.desc()).limit(1))
    row = conn.execute(query).first()
    if row is None:
        raise RuleError(f"rule {rule_id!r} has no version {version}")
    return from_row(row, active[0])


def put_version(conn: Connection, spec: RuleSpec, actor: str) -> int | None:
    """Store ``spec`` as a new version unless it equals the latest; the new number."""
    now = datetime.now(UTC)
    latest = None
    if conn.execute(select(rules.c.rule_id).where(rules.c.rule_id == spec.rule_id)).first():
        latest = read_version(conn, spec.rule_id)
        if latest.spec == spec:
            return None
    else:
        conn.execute(insert(rules).values(rule_id=spec.rule_id, active_version=None,
                                          updated_at=now))
    number = (latest.version if latest else 0) + 1
    conn.execute(insert(rule_versions).values(
        rule_id=spec.rule_id, version=number, created_by=actor, created_at=now,
        **spec.content()))
    conn.execute(update(rules).where(rules.c.rule_id == spec.rule_id).values(updated_at=now))
    audit(conn, actor, "rule_version_add", "rule", f"{spec.rule_id}/v{number}",
          latest.spec.content() if latest else None, spec.content())
    return number


def read_lists(conn: Connection) -> dict[str, list[str]]:
    """Every named list's values (sorted)."""
    out: dict[str, list[str]] = {n: [] for n in conn.execute(
        select(rule_lists.c.name).order_by(rule_lists.c.name)).scalars()}
    for name, value in conn.execute(select(rule_list_items).order_by(
            rule_list_items.c.name, rule_list_items.c.value)):
        out.setdefault(name, []).append(value)
    return out


def list_specs(conn: Connection) -> list[ListSpec]:
    values = read_lists(conn)
    return [ListSpec(r.name, tuple(values.get(r.name, ())), r.description)
            for r in conn.execute(select(rule_lists).order_by(rule_lists.c.name))]


def put_list(conn: Connection, lst: ListSpec, actor: str) -> bool:
    """Replace a list's values and description; False when they were already so."""
    now = datetime.now(UTC)
    row = conn.execute(select(rule_lists).where(rule_lists.c.name == lst.name)).first()
    before = sorted(conn.execute(select(rule_list_items.c.value)
                                 .where(rule_list_items.c.name == lst.name)).scalars())
    if row is not None and before == sorted(lst.values) and row.description == lst.description:
        return False
    if row is None:
        conn.execute(insert(rule_lists).values(name=lst.name, description=lst.description,
                                               updated_at=now))
    else:
        conn.execute(update(rule_lists).where(rule_lists.c.name == lst.name).values(
            description=lst.description, updated_at=now))
    conn.execute(delete(rule_list_items).where(rule_list_items.c.name == lst.name))
    if lst.values:
        conn.execute(insert(rule_list_items), [{"name": lst.name, "value": v}
                                               for v in lst.values])
    audit(conn, actor, "rule_list_put", "rule_list", lst.name,
          None if row is None else {"values": before},
          {"values": list(lst.values), "description": lst.description})
    return True


def bump_revision(conn: Connection) -> None:
    """Tell the workers what they evaluate changed (they poll ``rules_revision``)."""
    conn.execute(update(rules_revision).where(rules_revision.c.id == 1)
                 .values(revision=rules_revision.c.revision + 1))
