"""Overview: volume, amounts, score distribution, model versions, alert sources, the accounts and
merchants with the most alerts, and the latest high-risk transactions.

Everything but the latest alerts comes from the lake's aggregates (dashboards/queries.py), so a
refresh costs the same at ten thousand rows and at ten million."""

from datetime import UTC, datetime

import altair as alt
import streamlit as st

from core.contract import format_minor
from core.db import make_engine
from core.settings import Settings
from dashboards import queries, session
from streams.outbox.store import backlog

session.require("analyst")
settings: Settings = st.session_state["settings"]
st.title("Flowlet — overview")


@st.cache_resource
def _outbox_db(url: str):  # noqa: ANN202 - a SQLAlchemy engine, shared by sessions
    return make_engine(url)


@st.fragment(run_every=f"{max(1.0, settings.lake_refresh_seconds)}s")
def live() -> None:
    con = queries.open_lake(settings.lake_dir)
    k = queries.kpis(con)
    c = st.columns(6)
    c[0].metric("Transactions", f"{k['transactions']:,}")
    c[1].metric("Alerts", f"{k['alerts']:,}")
    c[2].metric("Alert rate", f"{k['alert_rate']:.2%}")
    c[3].metric("Mean score", f"{k['mean_score']:.3f}")
    c[5].metric("Rejected by ledger", f"{k['ledger_rejected']:,}",
                help="Recorded with a reason, e.g. insufficient funds; never silently dropped")
    c[4].metric("Median event→lake lag", f"{k['median_lag_seconds']:.1f} s",
                help="Within ±26 %: lags are kept in tenth-of-a-decade buckets")
    waiting, oldest = backlog(_outbox_db(settings.api_database_url))
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    b = st.columns(2)
    b[0].metric("Accepted, not yet processed", f"{waiting:,}",
                help="Events the API stored and answered that the worker has not finished; "
                     "above FLOWLET_API_MAX_BACKLOG the API answers 429")
    b[1].metric("Oldest unprocessed", f"{age:.0f} s")
    if k["transactions"] == 0:
        st.info("The lake is empty: no transaction has been processed yet.")
        return

    left, right = st.columns(2)
    volume = queries.volume_by_minute(con)
    left.subheader("Volume per minute (last hour of event time)")
    left.altair_chart(
        alt.Chart(volume).mark_area(opacity=0.6).encode(
            x=alt.X("minute:T", title=None), y=alt.Y("transactions:Q")),
        width="stretch")
    hist = queries.score_histogram(con)
    right.subheader("Score distribution")
    right.altair_chart(
        alt.Chart(hist).mark_bar().encode(
            x=alt.X("score_bin:Q", bin=alt.Bin(step=0.05), title="score"),
            y=alt.Y("transactions:Q", scale=alt.Scale(type="symlog"))),
        width="stretch")

    amounts = queries.amount_by_currency(con)
    amounts["amount"] = [format_minor(int(a), c)
                         for a, c in zip(amounts["amount_minor"], amounts["currency"],
                                         strict=True)]
    st.subheader("Amount by currency")
    st.dataframe(amounts, hide_index=True, width="stretch")

    left, right = st.columns(2)
    left.subheader("Model versions")
    left.dataframe(queries.model_versions(con), hide_index=True, width="stretch")
    right.subheader("Alerts by source")
    right.dataframe(queries.alerts_by_source(con), hide_index=True, width="stretch")

    left, right = st.columns(2)
    left.subheader("Accounts with the most alerts")
    left.dataframe(queries.top_accounts(con), hide_index=True, width="stretch")
    right.subheader("Merchants with the most alerts")
    right.dataframe(queries.top_merchants(con), hide_index=True, width="stretch")

    st.subheader("Latest high-risk transactions")
    st.dataframe(queries.latest_high_risk(con), hide_index=True, width="stretch")
    con.close()


live()
