"""Ledger: is the book sound? The trial balance per currency, the journal's size, transactions
the ledger rejected by reason, and a full verify (hash chains, balanced journals, derived
balances) on demand for a lead."""

import altair as alt
import streamlit as st

from dashboards import ledger_health, queries, session

me = session.require("analyst")
settings = session.settings()
engine = session.store().engine
st.title("Ledger")

st.subheader("Trial balance")
st.caption("Every currency's accounts must sum to zero: money is only ever moved between "
           "accounts (double entry). From the balances every posting keeps.")
trial = ledger_health.trial_balance(engine)
if trial.empty:
    st.info("Nothing has been posted yet.")
else:
    if (trial["balanced"] == "yes").all():
        st.success(f"Balanced in all {len(trial)} currencies.")
    else:
        st.error("Out of balance: " + ", ".join(trial.loc[trial["balanced"] != "yes",
                                                          "currency"]))
    st.table(trial, hide_index=True)

con = queries.open_lake(settings.lake_dir)
k = queries.kpis(con)
rejected = ledger_health.rejections_by_reason(con)
con.close()
c = st.columns(3)
c[0].metric("Transactions processed", f"{k['transactions']:,}")
c[1].metric("Rejected by the ledger", f"{k['ledger_rejected']:,}")
c[2].metric("Rejected share", f"{k['ledger_rejected'] / max(k['transactions'], 1):.2%}")

st.subheader("Rejections by reason")
if rejected.empty:
    st.caption("The ledger has rejected no transaction.")
else:
    st.altair_chart(alt.Chart(rejected).mark_bar().encode(
        x=alt.X("transactions:Q", title="transactions rejected"),
        y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=0)),
        tooltip=["reason", "transactions", "latest"]), width="stretch")
    st.dataframe(rejected, hide_index=True, width="stretch")

st.subheader("Verify the books")
st.caption("Recomputes the trial balance from every entry, checks every journal balances, "
           "every shard's hash chain from its genesis, and the derived balances — as "
           "`flowlet ledger verify` does. Takes seconds on large books.")
if me.at_least("lead"):
    if st.button("Verify now", key="verify"):
        with st.spinner("Verifying every journal…"):
            st.session_state["ledger_verify"] = ledger_health.run_verify(engine)
    last = st.session_state.get("ledger_verify")
    if last is not None:
        when = f"{last.at:%Y-%m-%d %H:%M:%S} UTC, {last.seconds:.1f} s"
        if last.report.ok:
            st.success(f"Consistent: {last.report.journals:,} journals "
                       f"({last.report.rejected:,} rejected), {last.report.entries:,} entries, "
                       f"{len(last.report.heads)} chain(s) — verified {when}.")
        else:
            st.error(f"{len(last.report.problems)} problem(s) found — verified {when}.")
        st.code(last.report.render(), language=None)
else:
    st.caption("A lead or an admin can run it here; anyone can run `flowlet ledger verify`.")
