"""``RuleStore``: rules, their versions, backtests and named lists in the database; every change
audited in the workbench's hash-chained log, one transaction per call.

>>> from cases import CaseStore
>>> store = RuleStore("sqlite://")
>>> _ = CaseStore(store.engine).add_user("lea", "lead", "a long enough password")
>>> report = store.import_text('rules: [{id: big, condition: "amount_minor > 100"}]', "lea")
>>> report.new_versions, store.version("big").status
(['big v1'], 'draft')
>>> store.activate("big", "lea")
Traceback (most recent call last):
rules.rule.RuleError: big v1 has no backtest: run `flowlet rules backtest big` first
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from cases import users
from cases.audit import append as audit
from core.db import make_engine
from rules.migrate import migrate
from rules.rule import CompiledRule, RuleError, RuleVersion, compile_rule
from rules.schema import (
    rule_backtests,
    rule_list_items,
    rule_lists,
    rule_versions,
    rules,
    rules_revision,
)
from rules.spec import ListSpec, RuleSpec, SpecError, dump_file, parse_file

#: The least role that may activate or deactivate a rule (``cases.users.ROLES``).
ACTIVATING_ROLE = "lead"


@dataclass
class ImportReport:
    new_versions: list[str] = field(default_factory=list)  # "id vN"
    unchanged: list[str] = field(default_factory=list)
    lists_changed: list[str] = field(default_factory=list)


class RuleStore:
    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        migrate(self.engine)

    # -- reading -----------------------------------------------------------------------------
    def revision(self) -> int:
        """Bumped by every change to what the stream evaluates (workers poll it)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(rules_revision.c.revision)).scalar_one())

    def lists(self, conn: Connection | None = None) -> dict[str, list[str]]:
        if conn is None:
            with self.engine.connect() as c:
                return self.lists(c)
        out: dict[str, list[str]] = {n: [] for n in conn.execute(
            select(rule_lists.c.name).order_by(rule_lists.c.name)).scalars()}
        for name, value in conn.execute(select(rule_list_items).order_by(
                rule_list_items.c.name, rule_list_items.c.value)):
            out.setdefault(name, []).append(value)
        return out

    def list_specs(self) -> list[ListSpec]:
        with self.engine.connect() as conn:
            values = self.lists(conn)
            return [ListSpec(r.name, tuple(values.get(r.name, ())), r.description)
                    for r in conn.execute(select(rule_lists).order_by(rule_lists.c.name))]

    def version(self, rule_id: str, version: int | None = None,
                conn: Connection | None = None) -> RuleVersion:
        """A version (the latest when ``version`` is None); :class:`RuleError` when unknown."""
        if conn is None:
            with self.engine.connect() as c:
                return self.version(rule_id, version, c)
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
        return _version(row, active[0])

    def listing(self) -> list[dict[str, Any]]:
        """Each rule: its latest version, the active one, and whether each is backtested."""
        with self.engine.connect() as conn:
            tested = {(r.rule_id, r.version) for r in conn.execute(
                select(rule_backtests.c.rule_id, rule_backtests.c.version).distinct())}
            out = []
            for r in conn.execute(select(rules).order_by(rules.c.rule_id)):
                latest = self.version(r.rule_id, None, conn)
                out.append({"rule_id": r.rule_id, "latest_version": latest.version,
                            "active_version": r.active_version, "severity": latest.severity,
                            "action": latest.action, "condition": latest.condition,
                            "latest_backtested": (r.rule_id, latest.version) in tested,
                            "description": latest.description})
            return out

    def active_rules(self) -> tuple[int, list[CompiledRule], list[str]]:
        """``(revision, compiled active rules, errors)`` read in one transaction. A rule that no
        longer compiles (a list it names was removed) is left out, with its error."""
        with self.engine.connect() as conn:
            revision = int(conn.execute(select(rules_revision.c.revision)).scalar_one())
            lists = self.lists(conn)
            compiled, errors = [], []
            for row in conn.execute(
                    select(rule_versions).join(rules, (rules.c.rule_id == rule_versions.c.rule_id)
                                               & (rules.c.active_version
                                                  == rule_versions.c.version))
                    .order_by(rule_versions.c.rule_id)):
                try:
                    compiled.append(compile_rule(_version(row, row.version), lists))
                except RuleError as exc:
                    errors.append(str(exc))
            return revision, compiled, errors

    def backtests(self, rule_id: str, version: int | None = None) -> list[dict[str, Any]]:
        query = select(rule_backtests).where(rule_backtests.c.rule_id == rule_id)
        if version is not None:
            query = query.where(rule_backtests.c.version == version)
        with self.engine.connect() as conn:
            return [{**r._mapping, "result": json.loads(r.result)} for r in conn.execute(
                query.order_by(rule_backtests.c.backtest_id.desc()))]

    def export_text(self) -> str:
        """YAML of every rule's latest version and every list (``flowlet rules export``)."""
        specs = []
        for r in self.listing():
            v = self.version(r["rule_id"])
            specs.append({"id": v.rule_id, "version": v.version, "status": v.status,
                          **v.spec.content()})
        return dump_file(specs, self.list_specs())

    # -- changes -----------------------------------------------------------------------------
    def import_text(self, text: str, actor: str) -> ImportReport:
        """Import a YAML file of rules and lists: all or nothing. A rule whose content differs
        from its latest version gets a new (draft) version; a list is replaced."""
        specs, lists = parse_file(text)
        return self.import_specs(specs, lists, actor)

    def import_specs(self, specs: Sequence[RuleSpec], lists: Sequence[ListSpec],
                     actor: str) -> ImportReport:
        report = ImportReport()
        with self.engine.begin() as conn:
            known = self.lists(conn)
            known.update({lst.name: list(lst.values) for lst in lists})
            problems = []
            for i, spec in enumerate(specs):
                try:
                    compile_rule(RuleVersion(spec.rule_id, 0, spec.condition, spec.severity,
                                             spec.action, spec.description, actor, None), known)
                except RuleError as exc:
                    problems.append(f"rules[{i}] ({spec.rule_id}): condition "
                                    f"{exc.__cause__}")
            if problems:
                raise SpecError("\n".join(problems))
            for lst in lists:
                if self._put_list(conn, lst, actor):
                    report.lists_changed.append(lst.name)
            for spec in specs:
                added = self._put_rule(conn, spec, actor)
                (report.new_versions if added else report.unchanged).append(
                    f"{spec.rule_id} v{added or self.version(spec.rule_id, None, conn).version}")
            if report.lists_changed:
                _bump(conn)
        return report

    def _put_list(self, conn: Connection, lst: ListSpec, actor: str) -> bool:
        now = datetime.now(UTC)
        row = conn.execute(select(rule_lists).where(rule_lists.c.name == lst.name)).first()
        before = sorted(conn.execute(select(rule_list_items.c.value)
                                     .where(rule_list_items.c.name == lst.name)).scalars())
        if row is not None and before == sorted(lst.values) and row.description == \
                lst.description:
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
              None if row is None else {"values": before}, {"values": list(lst.values),
                                                            "description": lst.description})
        return True

    def _put_rule(self, conn: Connection, spec: RuleSpec, actor: str) -> int | None:
        """Store ``spec`` as a new version unless it equals the latest; the new number."""
        now = datetime.now(UTC)
        exists = conn.execute(select(rules.c.rule_id).where(rules.c.rule_id == spec.rule_id))
        latest = None
        if exists.first() is None:
            conn.execute(insert(rules).values(rule_id=spec.rule_id, active_version=None,
                                              updated_at=now))
        else:
            latest = self.version(spec.rule_id, None, conn)
            if latest.spec == spec:
                return None
        number = (latest.version if latest else 0) + 1
        conn.execute(insert(rule_versions).values(
            rule_id=spec.rule_id, version=number, created_by=actor, created_at=now,
            **spec.content()))
        conn.execute(update(rules).where(rules.c.rule_id == spec.rule_id).values(updated_at=now))
        audit(conn, actor, "rule_version_add", "rule", f"{spec.rule_id}/v{number}",
              latest.spec.content() if latest else None, spec.content())
        return number

    def record_backtest(self, rule_id: str, version: int, window_from: datetime,
                        window_to: datetime, result: dict[str, Any], actor: str) -> int:
        with self.engine.begin() as conn:
            self.version(rule_id, version, conn)
            backtest_id = conn.execute(insert(rule_backtests).values(
                rule_id=rule_id, version=version, window_from=window_from, window_to=window_to,
                ran_by=actor, ran_at=datetime.now(UTC),
                result=json.dumps(result, default=str)).returning(
                rule_backtests.c.backtest_id)).scalar_one()
            audit(conn, actor, "rule_backtest", "rule", f"{rule_id}/v{version}", None,
                  {"backtest_id": backtest_id, "from": window_from, "to": window_to,
                   "hits": result.get("hits"), "precision": result.get("precision"),
                   "recall": result.get("recall")})
            return int(backtest_id)

    def activate(self, rule_id: str, actor: str, version: int | None = None) -> RuleVersion:
        """Make ``version`` (default: the latest) the active one. Needs a lead or admin and a
        stored backtest of that very version; checked before anything is written."""
        with self.engine.begin() as conn:
            _require_role(conn, actor, f"activate {rule_id}")
            v = self.version(rule_id, version, conn)
            tested = conn.execute(select(func.count()).select_from(rule_backtests).where(
                rule_backtests.c.rule_id == rule_id,
                rule_backtests.c.version == v.version)).scalar_one()
            if not tested:
                raise RuleError(f"{rule_id} v{v.version} has no backtest: run `flowlet rules "
                                f"backtest {rule_id}` first")
            compile_rule(v, self.lists(conn))  # a list it names may have gone since
            before = conn.execute(select(rules.c.active_version)
                                  .where(rules.c.rule_id == rule_id)).scalar()
            conn.execute(update(rules).where(rules.c.rule_id == rule_id).values(
                active_version=v.version, updated_at=datetime.now(UTC)))
            audit(conn, actor, "rule_activate", "rule", rule_id, {"active_version": before},
                  {"active_version": v.version})
            _bump(conn)
            return RuleVersion(**{**asdict(v), "active": True})

    def deactivate(self, rule_id: str, actor: str) -> None:
        with self.engine.begin() as conn:
            _require_role(conn, actor, f"deactivate {rule_id}")
            before = self.version(rule_id, None, conn)  # raises for an unknown rule
            active = conn.execute(select(rules.c.active_version)
                                  .where(rules.c.rule_id == rule_id)).scalar()
            if active is None:
                raise RuleError(f"{before.rule_id} is not active")
            conn.execute(update(rules).where(rules.c.rule_id == rule_id).values(
                active_version=None, updated_at=datetime.now(UTC)))
            audit(conn, actor, "rule_deactivate", "rule", rule_id, {"active_version": active},
                  {"active_version": None})
            _bump(conn)


def _require_role(conn: Connection, actor: str, what: str) -> None:
    try:
        user = users.active(conn, actor)
    except users.UserError as exc:
        raise RuleError(f"{what}: {exc}") from None
    if not user.at_least(ACTIVATING_ROLE):
        raise RuleError(f"{what}: needs a lead or admin; {actor} is an {user.role}")


def _bump(conn: Connection) -> None:
    conn.execute(update(rules_revision).where(rules_revision.c.id == 1)
                 .values(revision=rules_revision.c.revision + 1))


def _version(row: Any, active_version: int | None) -> RuleVersion:
    return RuleVersion(row.rule_id, row.version, row.condition, row.severity, row.action,
                       row.description, row.created_by, row.created_at,
                       active=row.version == active_version)
