"""Alert queue: the open alerts, highest priority first, filtered; bulk assignment; a click on a
row opens its case."""

from decimal import Decimal

import streamlit as st

from dashboards import session, workbench
from dashboards.workbench import AGES, STATES, QueueFilter

me = session.require("analyst")
store = session.store()
st.title("Alert queue")
st.caption("One alert per account and source, gathering every further hit; highest priority "
           "first (the highest score, raised by repeated hits). Times in UTC. "
           "Click a row to open its case.")

people = [u for u in store.users() if not u.disabled]
with st.container(border=True):
    c = st.columns([1.6, 1, 1, 1.1, 1.1, 2.6])
    all_sources = workbench.sources(store)
    chosen_sources = c[0].multiselect("Source", all_sources, default=all_sources,
                                      key="q_sources",
                                      help="model: the fraud model; rules and AML scenarios "
                                           "add their own sources")
    min_score = c[1].slider("Score at least", 0.0, 1.0, 0.0, 0.05, key="q_score")
    min_amount = c[2].number_input("Amount at least", min_value=0.0, value=0.0, step=100.0,
                                   key="q_amount",
                                   help="In major units of the alert's currency (e.g. 250.00)")
    within = c[3].selectbox("Seen within", list(AGES), key="q_age")
    assignee_choices = ["anyone", "me", "unassigned"] + [u.username for u in people
                                                         if u.username != me.username]
    who = c[4].selectbox("Assignee", assignee_choices, key="q_assignee")
    states = c[5].multiselect("Status", list(STATES), default=list(workbench.ACTIVE),
                              format_func=STATES.get, key="q_states")

flt = QueueFilter(
    sources=tuple(chosen_sources) if len(chosen_sources) < len(all_sources) else (),
    min_score=float(min_score),
    min_amount=Decimal(str(min_amount)) if min_amount else None,
    within_hours=AGES[within],
    assignee={"anyone": None, "me": me.username, "unassigned": ""}.get(who, who),
    states=tuple(states))
table = workbench.queue(store, flt)
if (not chosen_sources and all_sources) or not states:  # nothing chosen: nothing matches
    table = table.iloc[0:0]

st.metric("Alerts shown", f"{len(table):,}", help="At most 500, highest priority first")
if table.empty:
    st.info("No alert matches these filters." if all_sources else
            "No alert yet: the stream stores every alert the model raises here.")
    st.stop()

picked = st.dataframe(
    table, hide_index=True, width="stretch", key="queue_table", on_select="rerun",
    selection_mode="single-row",
    column_order=[c for c in table.columns if c not in ("case_id", "alert_id")],
    column_config={
        "priority": st.column_config.ProgressColumn("priority", min_value=0, max_value=100,
                                                    format="%d", width="small"),
        "score": st.column_config.NumberColumn("score", format="%.3f", width="small"),
        "hits": st.column_config.NumberColumn("hits", width="small",
                                              help="Alerting transactions gathered"),
        "age": st.column_config.TextColumn("age", help="Since the first hit (the SLA clock)"),
        "main reason": st.column_config.TextColumn("main reason", width="large"),
    })
rows = picked.selection.rows if picked is not None else []
if rows:
    session.open_case(str(table.iloc[rows[0]]["case_id"]))

st.subheader("Assign")
cases_shown = list(dict.fromkeys(table["case_id"]))
accounts = dict(zip(table["case_id"], table["account"], strict=True))
priorities = table.groupby("case_id")["priority"].max().to_dict()
c = st.columns([3, 1.5, 1])
chosen = c[0].multiselect(
    "Cases", cases_shown, key="assign_cases",
    format_func=lambda cid: f"{accounts[cid]} — priority {priorities[cid]}",
    placeholder="Choose the cases to assign")
if me.at_least("lead"):
    targets = [u.username for u in people]
    helptext = "Leads and admins assign to anyone active"
else:
    targets = [me.username]
    helptext = "An analyst takes cases for themself; a lead assigns to others"
target = c[1].selectbox("To", targets, index=targets.index(me.username)
                        if me.username in targets else 0, key="assign_to", help=helptext)
if c[2].button("Assign", type="primary", disabled=not chosen, key="assign_button"):
    done, refused = 0, []
    for cid in chosen:
        try:
            store.assign(cid, target, me.username)
            done += 1
        except workbench.WorkflowError as exc:
            refused.append(f"{accounts[cid]}: {exc}")
    if done:
        st.session_state["assign_message"] = f"{done} case(s) assigned to {target}."
    for message in refused:
        st.error(message)
    if not refused:
        del st.session_state["assign_cases"]
        st.rerun()
if message := st.session_state.pop("assign_message", None):
    st.success(message)
