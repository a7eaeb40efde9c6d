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

from sqlalchemy import Connection, Engine, func, insert, select, update

from cases import users
from cases.audit import append as audit
from core.db import make_engine
from rules import records
from rules.migrate import migrate
from rules.rule import CompiledRule, RuleError, RuleVersion, compile_rule
from rules.schema import (
    rule_backtests,
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

    def lists(self) -> dict[str, list[str]]:
        with self.engine.connect() as conn:
            return records.read_lists(conn)

    def list_specs(self) -> list[ListSpec]:
        with self.engine.connect() as conn:
            return records.list_specs(conn)

    def version(self, rule_id: str, version: int | None = None) -> RuleVersion:
        """A version (the latest when ``version`` is None); :class:`RuleError` when unknown."""
        with self.engine.connect() as conn:
            return records.read_version(conn, rule_id, version)

    def listing(self) -> list[dict[str, Any]]:
        """Each rule: its latest version, the active one, and whether each is backtested."""
        with self.engine.connect() as conn:
            tested = {(r.rule_id, r.version) for r in conn.execute(
                select(rule_backtests.c.rule_id, rule_backtests.c.version).distinct())}
            out = []
            for r in conn.execute(select(rules).order_by(rules.c.rule_id)):
                latest = records.read_version(conn, r.rule_id)
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
            lists = records.read_lists(conn)
            compiled, errors = [], []
            for row in conn.execute(
                    select(rule_versions).join(rules, (rules.c.rule_id == rule_versions.c.rule_id)
                                               & (rules.c.active_version
                                                  == rule_versions.c.version))
                    .order_by(rule_versions.c.rule_id)):
                try:
                    compiled.append(compile_rule(records.from_row(row, row.version), lists))
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
            known = records.read_lists(conn)
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
                if records.put_list(conn, lst, actor):
                    report.lists_changed.append(lst.name)
            for spec in specs:
                added = records.put_version(conn, spec, actor)
                number = added or records.read_version(conn, spec.rule_id).version
                (report.new_versions if added else report.unchanged).append(
                    f"{spec.rule_id} v{number}")
            if report.lists_changed:
                records.bump_revision(conn)
        return report

    def record_backtest(self, rule_id: str, version: int, window_from: datetime,
                        window_to: datetime, result: dict[str, Any], actor: str) -> int:
        with self.engine.begin() as conn:
            records.read_version(conn, rule_id, version)
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
            v = records.read_version(conn, rule_id, version)
            tested = conn.execute(select(func.count()).select_from(rule_backtests).where(
                rule_backtests.c.rule_id == rule_id,
                rule_backtests.c.version == v.version)).scalar_one()
            if not tested:
                raise RuleError(f"{rule_id} v{v.version} has no backtest: run `flowlet rules "
                                f"backtest {rule_id}` first")
            compile_rule(v, records.read_lists(conn))  # a list it names may have gone since
            before = conn.execute(select(rules.c.active_version)
                                  .where(rules.c.rule_id == rule_id)).scalar()
            conn.execute(update(rules).where(rules.c.rule_id == rule_id).values(
                active_version=v.version, updated_at=datetime.now(UTC)))
            audit(conn, actor, "rule_activate", "rule", rule_id, {"active_version": before},
                  {"active_version": v.version})
            records.bump_revision(conn)
            return RuleVersion(**{**asdict(v), "active": True})

    def deactivate(self, rule_id: str, actor: str) -> None:
        with self.engine.begin() as conn:
            _require_role(conn, actor, f"deactivate {rule_id}")
            before = records.read_version(conn, rule_id)  # raises for an unknown rule
            active = conn.execute(select(rules.c.active_version)
                                  .where(rules.c.rule_id == rule_id)).scalar()
            if active is None:
                raise RuleError(f"{before.rule_id} is not active")
            conn.execute(update(rules).where(rules.c.rule_id == rule_id).values(
                active_version=None, updated_at=datetime.now(UTC)))
            audit(conn, actor, "rule_deactivate", "rule", rule_id, {"active_version": active},
                  {"active_version": None})
            records.bump_revision(conn)


def _require_role(conn: Connection, actor: str, what: str) -> None:
    try:
        user = users.active(conn, actor)
    except users.UserError as exc:
        raise RuleError(f"{what}: {exc}") from None
    if not user.at_least(ACTIVATING_ROLE):
        raise RuleError(f"{what}: needs a lead or admin; {actor} is an {user.role}")
