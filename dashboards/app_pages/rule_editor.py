"""Rules (leads and admins): the rules and their versions; author a draft, backtest a version
over the lake's history and see its figures, activate a backtested version, deactivate a rule.
Every change is in the audit log; running workers pick an activation up within seconds.

(Named rule_editor.py: a page runs as its own script, and rules.py would shadow the package.)"""

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from dashboards import session
from rules import RuleError, RuleSpec, RuleStore, SpecError, backtest, compile_rule
from rules.customers import customer_frame
from rules.spec import ACTIONS, SEVERITIES


@st.cache_resource(show_spinner=False)
def _rules(url: str) -> RuleStore:
    return RuleStore(url)


me = session.require("lead")
settings = session.settings()
store = _rules(settings.database_url)
st.title("Rules")
st.caption("A rule fires where its condition is true (syntax and names: rules/README.md). A new "
           "or changed rule is a draft version; a version goes live only after a backtest of "
           "that very version, activated by a lead or admin.")

listing = store.listing()
st.dataframe(pd.DataFrame(listing, columns=["rule_id", "latest_version", "active_version",
                                            "latest_backtested", "severity", "action",
                                            "condition", "description"]),
             hide_index=True, width="stretch")

st.subheader("Author a draft")
rule_id = st.text_input("Rule id", key="rule_id", help="1-27 of a-z, 0-9, _")
condition = st.text_area("Condition", key="rule_condition",
                         placeholder='amount_minor >= 500_000 and country in '
                                     'list("high_risk_countries")')
left, right = st.columns(2)
severity = left.selectbox("Severity", SEVERITIES, index=1, key="rule_severity")
action = right.selectbox("Action", ACTIONS, key="rule_action")
description = st.text_input("Description", key="rule_description")
if st.button("Save draft", key="save_draft", type="primary"):
    try:
        spec = RuleSpec.from_mapping({"id": rule_id.strip(), "condition": condition,
                                      "severity": severity, "action": action,
                                      "description": description}, "rule")
        report = store.import_specs([spec], [], me.username)
    except SpecError as exc:
        st.error(str(exc))
    else:
        st.success(", ".join(f"new draft {v}" for v in report.new_versions)
                   or "unchanged: the latest version has this content")

if listing:
    st.subheader("Backtest and activate")
    ids = [r["rule_id"] for r in listing]
    chosen = st.selectbox("Rule", ids, key="bt_rule")
    latest = next(r["latest_version"] for r in listing if r["rule_id"] == chosen)
    version = st.selectbox("Version", list(range(latest, 0, -1)), key="bt_version")
    today = datetime.now(UTC).date()
    start_day = st.date_input("From (UTC day)", today - timedelta(days=30), key="bt_from")
    end_day = st.date_input("To (UTC day, inclusive)", today, key="bt_to")
    if st.button("Run backtest", key="run_backtest"):
        v = store.version(chosen, version)
        start = datetime.combine(start_day, time(), UTC)
        end = datetime.combine(end_day, time(), UTC) + timedelta(days=1)
        with st.spinner("Reading the lake…"):
            result = backtest(settings.lake_dir, compile_rule(v, store.lists()), start, end,
                              others=store.active_rules()[1],
                              customers=customer_frame(store.engine))
        store.record_backtest(chosen, version, start, end, result.figures, me.username)
    tests = store.backtests(chosen, version)
    if tests:
        fig = tests[0]["result"]
        st.caption(f"Latest backtest of {chosen} v{version}: by {tests[0]['ran_by']}, "
                   f"{fig['window']['from'][:10]} to {fig['window']['to'][:10]} (exclusive)")
        c = st.columns(5)
        c[0].metric("Transactions", f"{fig['transactions']:,}")
        c[1].metric("Alerts", f"{fig['alerts']:,}")
        c[2].metric("Accounts", f"{fig['distinct_accounts']:,}")
        pct = lambda x: "—" if x is None else f"{x:.1%}"  # noqa: E731
        c[3].metric("Precision", pct(fig["precision"]))
        c[4].metric("Recall", pct(fig["recall"]))
        st.caption(f"Also alerted by the model: {fig['overlap']['model']:,}; by active rules: "
                   + (", ".join(f"{k} {v}" for k, v in fig["overlap"]["rules"].items())
                      or "none"))
        if fig["per_day"]:
            st.bar_chart(pd.DataFrame(fig["per_day"]).set_index("day")["alerts"])
        st.dataframe(pd.DataFrame(fig["examples"]), hide_index=True, width="stretch")
    else:
        st.info(f"{chosen} v{version} has no backtest yet: it cannot be activated.")
    if st.button(f"Activate {chosen} v{version}", key="activate", disabled=not tests):
        try:
            store.activate(chosen, me.username, version)
        except RuleError as exc:
            st.error(str(exc))
        else:
            st.success(f"{chosen} v{version} is active")
    if next(r["active_version"] for r in listing if r["rule_id"] == chosen) is not None and \
            st.button(f"Deactivate {chosen}", key="deactivate"):
        try:
            store.deactivate(chosen, me.username)
        except RuleError as exc:
            st.error(str(exc))
        else:
            st.success(f"{chosen} is no longer active")
