"""A rule as data — id, condition, severity, action, description — and the YAML file of rules
and named lists that ``flowlet rules import/export`` read and write.

.. code-block:: yaml

    lists:
      high_risk_countries:
        description: FATF grey and black lists
        values: [IR, KP, MM]
    rules:
      - id: large_to_high_risk
        condition: amount_minor >= 500_000 and country in list("high_risk_countries")
        severity: high        # low | medium | high | critical
        action: alert         # alert | tag | raise_priority
        description: Large payments to high-risk jurisdictions

Every problem is reported with its place (``rules[1].severity``, ``lists.x.values[3]``, and
for a condition its line and column), all of them at once, and nothing is imported.

>>> spec = RuleSpec.from_mapping({"id": "big", "condition": "amount_minor > 1"}, "rules[0]")
>>> spec.severity, spec.action
('medium', 'alert')
>>> RuleSpec.from_mapping({"id": "Big!", "condition": "x"}, "rules[0]")
Traceback (most recent call last):
rules.spec.SpecError: rules[0].id: 1-27 lower-case letters, digits or '_', starting with a letter
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import yaml

SEVERITIES = ("low", "medium", "high", "critical")
ACTIONS = ("alert", "tag", "raise_priority")
#: The alert's score per severity (the workbench's priority is 100 x score).
SEVERITY_SCORES = {"low": 0.4, "medium": 0.6, "high": 0.8, "critical": 0.95}
#: ``rule:<id>`` must fit the alert store's 32-character ``source``.
RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,26}$")
LIST_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_LIST_VALUE = 256


class SpecError(ValueError):
    """Bad rule or list data; the message names each place (one per line)."""


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    condition: str
    severity: str = "medium"
    action: str = "alert"
    description: str = ""

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> RuleSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping with id, condition, severity, action")
        # version and status are what export writes: informative, never imported.
        unknown = set(data) - {"id", "condition", "severity", "action", "description",
                               "version", "status"}
        problems = [f"{where}.{k}: unknown key" for k in sorted(unknown, key=str)]
        rule_id = data.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            problems.append(f"{where}.id: 1-27 lower-case letters, digits or '_', starting "
                            "with a letter")
        condition = data.get("condition")
        if not isinstance(condition, str) or not condition.strip():
            problems.append(f"{where}.condition: required, a non-empty string")
        severity = data.get("severity", "medium")
        if severity not in SEVERITIES:
            problems.append(f"{where}.severity: one of {', '.join(SEVERITIES)}, not "
                            f"{severity!r}")
        action = data.get("action", "alert")
        if action not in ACTIONS:
            problems.append(f"{where}.action: one of {', '.join(ACTIONS)}, not {action!r}")
        description = data.get("description", "") or ""
        if not isinstance(description, str):
            problems.append(f"{where}.description: a string")
        if problems:
            raise SpecError("\n".join(problems))
        return cls(rule_id, condition.strip(), severity, action, description.strip())

    def content(self) -> dict[str, str]:
        """What makes a version: a change of any of these is a new version."""
        return {k: v for k, v in asdict(self).items() if k != "rule_id"}


@dataclass(frozen=True)
class ListSpec:
    name: str
    values: tuple[str, ...]
    description: str = ""


def parse_lists(data: Any) -> list[ListSpec]:
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise SpecError("lists: expected a mapping of list name to {description, values}")
    out, problems = [], []
    for name, body in data.items():
        where = f"lists.{name}"
        if not isinstance(name, str) or not LIST_NAME.match(name):
            problems.append(f"{where}: a list name is 1-64 lower-case letters, digits or '_'")
            continue
        values = body.get("values") if isinstance(body, Mapping) else body
        if not isinstance(values, list):
            problems.append(f"{where}.values: expected a list of strings")
            continue
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v.strip() or len(v) > MAX_LIST_VALUE:
                problems.append(f"{where}.values[{i}]: a non-empty string of at most "
                                f"{MAX_LIST_VALUE} characters, not {v!r}")
        description = body.get("description", "") if isinstance(body, Mapping) else ""
        out.append(ListSpec(name, tuple(sorted({str(v).strip() for v in values})),
                            str(description or "")))
    if problems:
        raise SpecError("\n".join(problems))
    return out


def parse_file(text: str) -> tuple[list[RuleSpec], list[ListSpec]]:
    """Rules and lists of a YAML document; :class:`SpecError` lists every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError(f"{where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, Mapping) or set(data) - {"rules", "lists"}:
        raise SpecError("the file must be a mapping with 'rules' and/or 'lists'")
    problems: list[str] = []
    lists: list[ListSpec] = []
    try:
        lists = parse_lists(data.get("lists"))
    except SpecError as exc:
        problems.append(str(exc))
    rules, seen = [], set()
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise SpecError("rules: expected a list of rules")
    for i, raw in enumerate(raw_rules):
        try:
            spec = RuleSpec.from_mapping(raw, f"rules[{i}]")
        except SpecError as exc:
            problems.append(str(exc))
            continue
        if spec.rule_id in seen:
            problems.append(f"rules[{i}].id: {spec.rule_id!r} appears twice in the file")
        seen.add(spec.rule_id)
        rules.append(spec)
    if problems:
        raise SpecError("\n".join(problems))
    return rules, lists


def dump_file(rules: list[dict[str, Any]], lists: list[ListSpec]) -> str:
    """YAML for ``rules`` (mappings with id, version, status, condition, ...) and ``lists``."""
    doc: dict[str, Any] = {}
    if lists:
        doc["lists"] = {lst.name: {"description": lst.description, "values": list(lst.values)}
                        for lst in lists}
    doc["rules"] = rules
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
