"""The rule store on SQLite and PostgreSQL: versions, all-or-nothing imports with errors naming
the place, activation only by a lead/admin and only of a backtested version — a refusal writes
nothing — and every change in the verified audit chain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cases import CaseStore
from rules import RuleError, RuleStore, SpecError

T0, T1 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
FILE = """
lists:
  high_risk_countries: {values: [IR, KP]}
rules:
  - id: hr_big
    condition: amount_minor >= 500_000 and country in list("high_risk_countries")
    severity: high
"""


@pytest.fixture
def stores(db_url):
    cases = CaseStore(db_url)
    cases.add_user("lea", "lead", "a long enough password")
    cases.add_user("ana", "analyst", "a long enough password")
    return RuleStore(cases.engine), cases


def snapshot(store: RuleStore, cases: CaseStore):
    return (store.revision(), store.listing(), len(cases.audit_entries()))


def test_versions_drafts_and_an_audited_activation(stores):
    store, cases = stores
    report = store.import_text(FILE, "lea")
    assert report.new_versions == ["hr_big v1"] and report.lists_changed == [
        "high_risk_countries"]
    assert store.import_text(FILE, "lea").unchanged == ["hr_big v1"]  # same content: no v2
    store.import_text(FILE.replace("high\n", "critical\n"), "ana")
    v2 = store.version("hr_big")
    assert (v2.version, v2.severity, v2.status, v2.created_by) == (2, "critical", "draft", "ana")
    assert store.version("hr_big", 1).severity == "high"

    store.record_backtest("hr_big", 2, T0, T1, {"hits": 3}, "ana")
    before = store.revision()
    active = store.activate("hr_big", "lea")
    assert (active.version, active.status) == (2, "active")
    assert store.revision() == before + 1
    revision, rules, errors = store.active_rules()
    assert [r.model_version for r in rules] == ["hr_big/v2"] and not errors
    actions = [e["action"] for e in cases.audit_entries(limit=20)]
    assert {"rule_version_add", "rule_list_put", "rule_backtest", "rule_activate"} <= set(
        actions)
    assert cases.verify_audit()[1] is None
    # Exported and re-imported: nothing new.
    assert store.import_text(store.export_text(), "lea").new_versions == []
    store.deactivate("hr_big", "lea")
    assert store.active_rules()[1] == []


@pytest.mark.parametrize(("actor", "backtested", "says"), [
    ("lea", False, "hr_big v1 has no backtest"),
    ("ana", True, "needs a lead or admin; ana is an analyst"),
    ("nobody", True, "no user 'nobody'"),
])
def test_a_refused_activation_changes_nothing(stores, actor, backtested, says):
    store, cases = stores
    store.import_text(FILE, "lea")
    if backtested:
        store.record_backtest("hr_big", 1, T0, T1, {"hits": 0}, "lea")
    before = snapshot(store, cases)
    with pytest.raises(RuleError, match=says):
        store.activate("hr_big", actor)
    assert snapshot(store, cases) == before
    assert store.active_rules()[1] == []


def test_a_backtest_of_another_version_does_not_count(stores):
    store, _ = stores
    store.import_text(FILE, "lea")
    store.record_backtest("hr_big", 1, T0, T1, {"hits": 0}, "lea")
    store.import_text(FILE.replace("500_000", "400_000"), "lea")
    with pytest.raises(RuleError, match="hr_big v2 has no backtest"):
        store.activate("hr_big", "lea")
    assert store.activate("hr_big", "lea", version=1).version == 1


def test_a_bad_file_names_every_place_and_imports_nothing(stores):
    store, cases = stores
    bad = """
lists:
  watch: {values: [ok, "", 7]}
rules:
  - id: good
    condition: amount_minor > 1
  - id: Bad-Id
    condition: amount_minor > 1
    severity: huge
  - id: unknown_feature
    condition: |
      amount_minor > 1 and
        acct_cnt_1h > 2
"""
    before = snapshot(store, cases)
    with pytest.raises(SpecError) as err:
        store.import_text(bad, "lea")
    message = str(err.value)
    for place in ("lists.watch.values[1]", "lists.watch.values[2]", "rules[1].id",
                  "rules[1].severity: one of low, medium, high, critical, not 'huge'"):
        assert place in message
    assert snapshot(store, cases) == before
    # Once the shape is right, conditions are checked, each with its line and column.
    with pytest.raises(SpecError) as err:
        store.import_text(bad.replace("Bad-Id", "ok_id").replace("huge", "low")
                          .replace('"", 7', "x"), "lea")
    assert ("rules[2] (unknown_feature): condition line 2, column 3: unknown name "
            "'acct_cnt_1h'") in str(err.value)
    with pytest.raises(SpecError, match=r"rules\[0\] \(x\): condition line 1, column 17: "
                                        "unknown list 'nowhere'"):
        store.import_text('rules: [{id: x, condition: \'country in list("nowhere")\'}]', "lea")
    with pytest.raises(SpecError, match="line 3, column 1: not valid YAML"):
        store.import_text("rules:\n  - id: [unclosed\n", "lea")
    assert snapshot(store, cases) == before


def test_a_list_change_bumps_the_revision_the_workers_poll(stores):
    store, _ = stores
    store.import_text(FILE, "lea")
    revision = store.revision()
    store.import_text(FILE.replace("[IR, KP]", "[IR, KP, MM]"), "lea")
    assert store.revision() == revision + 1
    assert store.lists()["high_risk_countries"] == ["IR", "KP", "MM"]
