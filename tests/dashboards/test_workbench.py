"""The workbench pages: login, the alert queue, the case page with its decision form, and the
users page — each through Streamlit's AppTest, with the role rules."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from cases import CaseStore, User
from core.settings import Settings
from dashboards import queries, workbench
from dashboards.workbench import QueueFilter
from simulator import Simulator
from streams.outbox.store import Outbox, outbox
from streams.testing import run_pipeline

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PASSWORDS = {"ana": "ana's long password", "lea": "lea's long password",
             "adam": "adam's long password"}


@pytest.fixture(scope="module")
def workbench_data(tmp_path_factory):
    """A lake and a case store filled by the pipeline's own alerts, and three users."""
    data_dir = tmp_path_factory.mktemp("workbench")
    now = datetime.now(UTC)
    txs = Simulator(seed=8, n_accounts=50, n_merchants=10).generate(
        800, now - timedelta(hours=2), now)
    out = run_pipeline([t.event for t in txs], data_dir)
    settings = Settings(data_dir=data_dir)
    store = CaseStore(settings.database_url)
    for name, role in (("ana", "analyst"), ("lea", "lead"), ("adam", "admin")):
        store.add_user(name, role, PASSWORDS[name])
    return settings, out


@pytest.fixture
def data(workbench_data, tmp_path):
    """A fresh copy per test: the pages write (assign, decide, users)."""
    import shutil

    settings, out = workbench_data
    shutil.copytree(settings.data_dir, tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data")
    return settings, CaseStore(settings.database_url), out


def app(settings: Settings, user: User | None = None, page: str | None = None) -> AppTest:
    """The app as a logged-in ``user`` would see it (None: logged out), on ``page``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    if user is not None:
        at.session_state["user"] = user
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


ANA, LEA, ADAM = User("ana", "analyst"), User("lea", "lead"), User("adam", "admin")


# -- login ------------------------------------------------------------------------------------
def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_every_page_is_behind_the_login(data):
    settings, store, _ = data
    at = app(settings)
    assert titles(at) == ["Flowlet — log in"]
    assert not at.dataframe and not at.metric
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/overview.py")
    # a page run on its own without a session user shows nothing either
    page = AppTest.from_file(str(Path(APP).parent / "app_pages" / "queue.py"))
    page.session_state["settings"] = settings
    page.run()
    assert [w.value for w in page.warning] == ["Please log in."] and not page.dataframe


def test_logging_in_through_the_form_opens_the_queue_and_is_audited(data):
    settings, store, _ = data
    at = log_in(app(settings), "ana", PASSWORDS["ana"])
    assert titles(at) == ["Alert queue"]
    assert at.session_state["user"] == ANA
    (entry,) = [e for e in store.audit_entries() if e["action"] == "login"]
    assert entry["actor"] == "ana" and '"dashboard"' in entry["after"]
    at.button(key="logout").click().run()
    assert titles(at) == ["Flowlet — log in"] and "user" not in at.session_state


def test_a_wrong_password_shows_an_error_and_is_audited(data):
    settings, store, _ = data
    at = log_in(app(settings), "ana", "not ana's password")
    assert titles(at) == ["Flowlet — log in"]
    assert "Wrong username or password" in at.error[0].value
    assert "user" not in at.session_state
    (entry,) = [e for e in store.audit_entries() if e["action"] == "login_failed"]
    assert entry["object_id"] == "ana" and '"dashboard"' in entry["after"]
    assert store.verify_audit()[1] is None


def test_a_disabled_user_cannot_log_in(data):
    settings, store, _ = data
    store.set_disabled("ana")
    at = log_in(app(settings), "ana", PASSWORDS["ana"])
    assert at.error and titles(at) == ["Flowlet — log in"]


# -- roles ------------------------------------------------------------------------------------
def test_an_analyst_never_gets_the_users_page(data):
    settings, _, _ = data
    at = app(settings, ANA)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/users.py")
    page = AppTest.from_file(str(Path(APP).parent / "app_pages" / "users.py"))
    page.session_state["settings"] = settings
    page.session_state["user"] = ANA
    page.run()
    assert "for the admin role" in page.error[0].value and not page.dataframe
    lead = app(settings, LEA)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        lead.switch_page("app_pages/users.py")
    assert titles(app(settings, ADAM, "app_pages/users.py")) == ["Users"]


# -- the queue --------------------------------------------------------------------------------
def test_the_queue_lists_open_alerts_by_priority_for_an_analyst(data):
    settings, store, _ = data
    at = app(settings, ANA)
    table = at.dataframe[0].value
    assert len(table) == len(store.alerts(limit=1000))
    assert list(table["priority"]) == sorted(table["priority"], reverse=True)
    assert table["highest amount"].str.fullmatch(r"-?\d+(\.\d+)? [A-Z]{3}").all()
    assert table["last seen"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").all()
    model = table[table["source"].str.startswith("model")]  # typology reasons are in words
    assert len(model) and model["main reason"].str.contains("the risk").all()
    assert not table["main reason"].str.contains(r"\w+_\w+:").any()  # no raw reason code


def test_queue_filters(data):
    settings, store, _ = data
    at = app(settings, ANA)
    everything = at.dataframe[0].value
    at.slider(key="q_score").set_value(0.8).run()
    high = at.dataframe[0].value
    assert 0 < len(high) < len(everything) and (high["score"] >= 0.8).all()
    at.slider(key="q_score").set_value(0.0).run()

    at.number_input(key="q_amount").set_value(500.0).run()
    big = at.dataframe[0].value if at.dataframe else everything.iloc[0:0]
    expected = workbench.queue(store, QueueFilter(min_amount=Decimal(500)))
    assert list(big["alert_id"]) == list(expected["alert_id"]) and len(big) < len(everything)
    at.number_input(key="q_amount").set_value(0.0).run()

    at.selectbox(key="q_age").set_value("the last hour").run()
    recent = at.dataframe[0].value
    assert 0 < len(recent) <= len(everything)
    at.selectbox(key="q_age").set_value("any time").run()

    at.multiselect(key="q_sources").set_value([]).run()
    assert not at.dataframe and "No alert matches" in at.info[0].value
    at.multiselect(key="q_sources").set_value(["model"]).run()
    assert len(at.dataframe[0].value) == everything["source"].str.startswith("model").sum()

    store.assign(everything.iloc[0]["case_id"], "ana", "ana")
    at.selectbox(key="q_assignee").set_value("me").run()
    assert set(at.dataframe[0].value["case_id"]) == {everything.iloc[0]["case_id"]}
    at.selectbox(key="q_assignee").set_value("unassigned").run()
    assert everything.iloc[0]["case_id"] not in set(at.dataframe[0].value["case_id"])
    at.selectbox(key="q_assignee").set_value("anyone").run()

    at.multiselect(key="q_states").set_value(["assigned"]).run()
    assert list(at.dataframe[0].value["status"].unique()) == ["assigned"]
    at.multiselect(key="q_states").set_value([]).run()
    assert not at.dataframe and "No alert matches" in at.info[0].value


def test_a_lead_assigns_in_bulk_an_analyst_only_to_themself(data):
    settings, store, _ = data
    at = app(settings, LEA)
    top = list(at.dataframe[0].value["case_id"][:3])
    assert set(at.selectbox(key="assign_to").options) == {"ana", "lea", "adam"}
    at.multiselect(key="assign_cases").set_value(top).run()
    at.selectbox(key="assign_to").set_value("ana").run()
    at.button(key="assign_button").click().run()
    assert not at.exception and "3 case(s) assigned to ana" in at.success[0].value
    assert {store.case(c)["assignee"] for c in top} == {"ana"}
    assert {store.case(c)["state"] for c in top} == {"assigned"}

    analyst = app(settings, ANA)
    assert analyst.selectbox(key="assign_to").options == ["ana"]
    free = [c for c in analyst.dataframe[0].value["case_id"] if c not in top][:2]
    analyst.multiselect(key="assign_cases").set_value(free).run()
    analyst.button(key="assign_button").click().run()
    assert {store.case(c)["assignee"] for c in free} == {"ana"}


def test_one_click_on_a_row_opens_its_case(data):
    settings, store, _ = data
    at = app(settings, ANA)
    top = at.dataframe[0].value.iloc[0]
    at.session_state["queue_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert titles(at) == [f"Case — account {top['account']}"]
    assert at.query_params["case"] == top["case_id"]


# -- the case ---------------------------------------------------------------------------------
def open_case(settings: Settings, user: User, case_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["settings"] = settings
    at.session_state["user"] = user
    at.session_state["case_id"] = case_id
    at.run()
    at.switch_page("app_pages/case.py").run()
    assert not at.exception, at.exception
    return at


def test_the_case_shows_evidence_history_and_notes_for_an_analyst(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    store.add_note(case["case_id"], "called the customer", "lea")
    at = open_case(settings, ANA, case["case_id"])
    assert titles(at) == [f"Case — account {case['account_id']}"]
    evidence = pd.concat([t.value for t in at.table  # the newest 10, then the others
                          if "why it alerted" in t.value.columns])
    assert len(evidence) == len(store.case(case["case_id"])["evidence"])
    model = evidence["pattern"] == ""  # the typology detectors' hits name their pattern
    assert evidence[model]["why it alerted"].str.contains("raised the risk").all()
    assert evidence["amount"].str.fullmatch(r"-?\d+(\.\d+)? [A-Z]{3}").all()
    subheaders = [s.value for s in at.subheader]
    assert subheaders[:3] == ["Why it alerted", "Alerts of this case",
                              "Recent transactions of the customer"]
    assert {"Balances in the ledger", "Latest transaction against the customer's usual",
            "Counterparty network"} <= set(subheaders)
    balances = next(t.value for t in at.table if "balance" in t.value.columns)
    assert balances["balance"].str.fullmatch(r"-?[\d,]+(\.\d+)? [A-Z]{3}").all()
    (network,) = at.get("graphviz_chart")  # every simulated customer pays merchants
    assert network.proto.spec.startswith("digraph") and case["account_id"] in network.proto.spec
    recent = at.dataframe[0].value
    assert 0 < len(recent) <= 50
    assert recent["time"].str.endswith(" UTC").all()
    assert "called the customer" in [t.value for t in at.text]
    # report_filed is a lead's
    report = "Report filed (suspicious activity)"
    assert "Confirmed fraud" in at.radio(key="decision_choice").options
    assert report not in at.radio(key="decision_choice").options
    assert report in open_case(settings, LEA, case["case_id"]).radio(
        key="decision_choice").options


def test_the_decision_form_decides_the_case_and_sends_its_labels(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    evidence = {e["transaction_id"] for e in store.case(case["case_id"])["evidence"]}
    at = open_case(settings, ANA, case["case_id"])
    at.radio(key="decision_choice").set_value("confirmed_fraud")
    at.text_area(key="decision_note").input("card reported stolen")
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    assert not at.exception, at.exception
    assert "Recorded: Confirmed fraud" in at.success[0].value
    decided = store.case(case["case_id"])
    assert decided["state"] == "decided" and decided["decision"] == "confirmed_fraud"
    assert [n["text"] for n in decided["notes"]] == ["card reported stolen"]
    assert {a["status"] for a in decided["alerts"]} == {"closed"}
    # the labels are in the API's outbox, for its relay to put on the stream
    box = Outbox(settings.api_database_url)
    with box.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.transaction_id, outbox.c.kafka_key,
                                   outbox.c.payload)).all()
    assert len(rows) == len(evidence)
    assert all(key == case["account_id"] for _, key, _ in rows)
    assert all(b'"is_fraud":true' in payload and b'"source":"analyst"' in payload
               for _, _, payload in rows)
    assert "Decided: Confirmed fraud" in at.info[-1].value
    assert not at.get("radio")  # no form on a decided case


def test_a_decision_without_choice_is_refused_and_changes_nothing(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    at = open_case(settings, ANA, case["case_id"])
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    assert "Choose a decision" in at.error[0].value
    assert store.case(case["case_id"])["state"] == case["state"]


def test_an_escalated_case_is_not_decided_by_an_analyst(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    store.decide(case["case_id"], "escalate", "ana")
    at = open_case(settings, ANA, case["case_id"])
    at.radio(key="decision_choice").set_value("not_fraud")
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    assert "decided by a lead" in at.error[0].value
    assert store.case(case["case_id"])["state"] == "escalated"


def test_notes_and_taking_a_case(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    at = open_case(settings, ANA, case["case_id"])
    at.button(key="take").click().run()
    assert store.case(case["case_id"])["assignee"] == "ana"
    at.text_area(key="note_text").input("asked for a statement")
    at.button(key="FormSubmitter:note-Add note").click().run()
    assert not at.exception, at.exception
    assert [n["text"] for n in store.case(case["case_id"])["notes"]] == [
        "asked for a statement"]


# -- users ------------------------------------------------------------------------------------
def test_an_admin_adds_a_user_whose_password_is_shown_once(data):
    settings, store, _ = data
    at = app(settings, ADAM, "app_pages/users.py")
    assert set(at.dataframe[0].value["user"]) == {"ana", "lea", "adam"}
    at.text_input(key="new_username").input("bea")
    at.selectbox(key="new_role").set_value("lead")
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    assert not at.exception, at.exception
    (password,) = [c.value for c in at.code]
    assert store.authenticate("bea", password, channel="dashboard") == User("bea", "lead")
    at.run()
    assert not at.code  # shown once
    assert "bea" in set(at.dataframe[0].value["user"])


def test_an_admin_disables_and_enables_a_user(data):
    settings, store, _ = data
    at = app(settings, ADAM, "app_pages/users.py")
    at.selectbox(key="toggle_user").set_value("ana").run()
    assert at.button(key="toggle_button").label == "Disable"
    at.button(key="toggle_button").click().run()
    assert {u.username: u.disabled for u in store.users()}["ana"] is True
    assert at.button(key="toggle_button").label == "Enable"
    at.button(key="toggle_button").click().run()
    assert {u.username: u.disabled for u in store.users()}["ana"] is False
    assert [e["action"] for e in store.audit_entries("ana")][:2] == ["user_enable",
                                                                      "user_disable"]


def test_adding_a_bad_user_names_the_problem(data):
    settings, store, _ = data
    at = app(settings, ADAM, "app_pages/users.py")
    at.text_input(key="new_username").input("ana")
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    assert "exists" in at.error[0].value and not at.code


# -- pure parts ---------------------------------------------------------------------------------
def test_recent_transactions_show_the_labels_of_the_lake(data):
    settings, store, _ = data
    case = store.cases(limit=1)[0]
    con = queries.open_lake(settings.lake_dir)
    recent = workbench.recent_transactions(con, case["account_id"], limit=10)
    assert len(recent) <= 10 and (recent["label"] == "").all()
    assert workbench.account_labels(con, case["account_id"]).empty
