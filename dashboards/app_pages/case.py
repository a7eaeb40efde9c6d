"""Case: one customer's alerts and their evidence, the customer's recent transactions from the
lake, the KYC profile and risk rating, ledger balances, the latest transaction's features
against the customer's usual, the counterparty network two hops out, past alerts and decisions,
notes, and the decision form.
A fraud / not-fraud decision labels every transaction of the evidence; the labels go through
the API's outbox to the stream (the delayed-label features and the lake take them from
there)."""

import streamlit as st

from core.contract import format_minor
from customers import CustomerBook
from dashboards import customer, queries, session, workbench
from dashboards.workbench import DECISION_WORDS, STATES

SCORES = {"score": st.column_config.NumberColumn("score", format="%.3f")}


@st.cache_resource(show_spinner=False)
def customer_book(url: str) -> CustomerBook:
    return CustomerBook(url)


me = session.require("analyst")
store = session.store()
settings = session.settings()

case_id = st.query_params.get("case") or st.session_state.get(session.CASE)
if not case_id:
    st.title("Case")
    mine = store.cases(assignee=me.username, limit=50)
    active = [c for c in mine if c["state"] != "decided"] or \
        [c for c in store.cases(limit=50) if c["state"] != "decided"]
    if not active:
        st.info("No case is open. Cases open from the alert queue.")
        st.stop()
    st.caption("Open a case from the alert queue, or pick one here.")
    chosen = st.selectbox("Case", [c["case_id"] for c in active], index=None,
                          format_func=lambda cid: next(
                              f"{c['account_id']} — {STATES[c['state']]}, priority "
                              f"{c['priority']}" for c in active if c["case_id"] == cid),
                          key="case_pick")
    if chosen:
        session.open_case(chosen)
    st.stop()

st.session_state[session.CASE] = case_id
if st.query_params.get("case") != case_id:
    st.query_params["case"] = case_id
case = store.case(case_id)
if case is None:
    st.error(f"There is no case {case_id}.")
    st.stop()
account = case["account_id"]

st.title(f"Case — account {account}")
c = st.columns(5)
c[0].metric("Status", STATES.get(case["state"], case["state"]))
c[1].metric("Assignee", case["assignee"] or "unassigned")
c[2].metric("Alerts", len(case["alerts"]))
c[3].metric("Alerting transactions", len(case["evidence"]))
c[4].metric("Open for", workbench.age(case["opened_at"], case["decided_at"]))
st.caption(f"Opened {workbench.when(case['opened_at'])} · last change "
           f"{workbench.when(case['updated_at'])}"
           + (f" · decided {workbench.when(case['decided_at'])}: "
              f"{DECISION_WORDS.get(case['decision'], case['decision'])}"
              if case["decided_at"] else "")
           + f" · case {case_id}")

is_open = case["state"] != "decided"
if is_open:
    b = st.columns([1, 1, 4])
    if case["assignee"] != me.username and b[0].button("Assign to me", key="take"):
        try:
            store.assign(case_id, me.username, me.username)
            st.rerun()
        except workbench.WorkflowError as exc:
            st.error(str(exc))
    if case["state"] != "in_review" and b[1].button("Start review", key="review"):
        try:
            store.start_review(case_id, me.username)
            st.rerun()
        except workbench.WorkflowError as exc:
            st.error(str(exc))
if message := st.session_state.pop("decision_message", None):
    st.success(message)

st.subheader("Why it alerted")
evidence = workbench.evidence_table(case["evidence"])
st.table(evidence.head(10), hide_index=True)
if len(evidence) > 10:
    with st.expander(f"The {len(evidence) - 10} earlier alerting transactions"):
        st.table(evidence.iloc[10:], hide_index=True)
st.subheader("Alerts of this case")
st.table(workbench.alerts_table(case["alerts"]), hide_index=True)  # a few rows, never cut

con = queries.open_lake(settings.lake_dir)
recent = workbench.recent_transactions(con, account)
labels = workbench.account_labels(con, account)
usual = customer.features_vs_usual(con, account, workbench.feature_descriptions())
network = customer.counterparty_network(con, account)
con.close()
st.subheader("Recent transactions of the customer")
if recent.empty:
    st.info("The lake holds no transaction of this account yet.")
else:
    st.caption(f"The latest {len(recent)} in the lake, newest first; times in UTC.")
    st.dataframe(recent, hide_index=True, width="stretch", column_config=SCORES)

st.subheader("Customer profile and risk")
kyc = customer_book(settings.database_url).view(account)
if kyc["profile"] is None:
    st.caption("No KYC profile has arrived for this account (`customer` events).")
else:
    p, risk = kyc["profile"], kyc["risk"]
    k = st.columns(4)
    k[0].metric("Name", p["name"])
    k[1].metric("Type, country", f"{p['customer_type']}, {p['country']}")
    k[2].metric("PEP", "yes" if p["pep"] else "no")
    k[3].metric("Risk", f"{risk['band']} ({risk['score']})" if risk else "not rated")
    income = (format_minor(p["income_minor"], p["income_currency"]) if p["income_minor"]
              else "none declared")
    work = p["occupation"] or p["business"] or "occupation not given"
    reasons = ", ".join(risk["reasons"]) or "none" if risk else "not rated yet"
    st.caption(f"Declared income {income} · {work} · onboarded {p['onboarded_on']} · profile "
               f"version {p['version']} · risk reasons: {reasons}")

left, right = st.columns([2, 3])
with left:
    st.subheader("Balances in the ledger")
    balances = customer.ledger_balances(store.engine, account)
    if balances.empty:
        st.caption("The ledger holds no balance for this account.")
    else:
        st.table(balances, hide_index=True)
with right:
    st.subheader("Latest transaction against the customer's usual")
    if usual.empty:
        st.caption("Too few transactions in the lake to say what is usual.")
    else:
        st.caption("Its features against their median over the customer's other "
                   "transactions of the 30 days before; \"unusual by\" counts the usual "
                   "spreads between them.")
        st.dataframe(usual, hide_index=True, width="stretch", column_config={
            "unusual by": st.column_config.NumberColumn("unusual by", format="%.1f")})

st.subheader("Counterparty network")
if network.edges.empty:
    st.caption("No transfer or payment to another party in the lake.")
else:
    st.caption("Who paid whom, two hops out from this account (blue), the busiest "
               f"{customer.EDGES_PER_NODE} counterparties of each; red: an account with an "
               "alert. Edges: number of transactions and total amount.")
    st.graphviz_chart(network.dot())
    with st.expander("The network as a table"):
        st.table(network.edges, hide_index=True)

st.subheader("Past alerts and decisions")
past = [a for a in store.alerts(status=None, account_id=account, limit=100)
        if a["case_id"] != case_id]
if past:
    st.table(workbench.alerts_table(past), hide_index=True)
else:
    st.caption("No earlier alert on this account.")
if not labels.empty:
    st.caption(f"Labels in the lake for this account: {int(labels['is_fraud'].sum())} fraud, "
               f"{int((~labels['is_fraud'].astype(bool)).sum())} not fraud.")

st.subheader("Notes")
for n in case["notes"]:
    st.markdown(f"**{n['author']}** · {workbench.when(n['at'])}")
    st.text(n["text"])
if not case["notes"]:
    st.caption("No note yet.")
with st.form("note", clear_on_submit=True):
    text = st.text_area("Add a note", key="note_text", max_chars=4000)
    if st.form_submit_button("Add note"):
        try:
            store.add_note(case_id, text, me.username)
            st.rerun()
        except workbench.WorkflowError as exc:
            st.error(str(exc))

st.subheader("Decision")
if not is_open:
    st.info(f"Decided: {DECISION_WORDS.get(case['decision'], case['decision'])} on "
            f"{workbench.when(case['decided_at'])}. A new alert on this account opens a new "
            "case.")
    st.stop()
choices = [d for d in DECISION_WORDS if d != "report_filed" or me.at_least("lead")]
with st.form("decision"):
    decision = st.radio("Decision", choices, format_func=DECISION_WORDS.get, index=None,
                        key="decision_choice",
                        help="Confirmed fraud and not fraud close the case and label every "
                             "transaction of the evidence; the labels feed the merchant "
                             "fraud-rate features and the next training run.")
    note = st.text_area("Note", key="decision_note", max_chars=4000,
                        placeholder="What you checked and why you decided so")
    submitted = st.form_submit_button("Record decision", type="primary")
if submitted:
    if decision is None:
        st.error("Choose a decision.")
    else:
        try:
            done = workbench.decide(store, session.outbox(), case_id, decision, me.username,
                                    note)
        except workbench.WorkflowError as exc:
            st.error(str(exc))
        else:
            sent = sum(r["status"] == "accepted" for r in done.published)
            st.session_state["decision_message"] = (
                f"Recorded: {DECISION_WORDS[decision]}."
                + (f" {len(done.labels)} label(s) queued for the stream ({sent} new)."
                   if done.labels else ""))
            st.rerun()
