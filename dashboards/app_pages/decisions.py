"""Decisions: what analysts' verdicts say about the alerts — precision per source and model
version, decisions per day, time to decision. From the workbench's store (cases/metrics.py)."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import session

session.require("analyst")
st.title("Decisions")
st.caption("A decided alert counts as confirmed when its case was decided confirmed fraud or "
           "report filed, as cleared when decided not fraud; precision = confirmed ÷ "
           "(confirmed + cleared). Days are UTC.")

figures = session.store().decision_figures()
ttd = figures["time_to_decision"]
c = st.columns(3)
c[0].metric("Cases decided", f"{ttd['cases']:,}")
c[1].metric("Median time to decision",
            "—" if ttd["median_hours"] is None else f"{ttd['median_hours']:.1f} h")
c[2].metric("90 % decided within",
            "—" if ttd["p90_hours"] is None else f"{ttd['p90_hours']:.1f} h")
if not ttd["cases"]:
    st.info("No case has been decided yet.")
else:
    st.subheader("Precision of decided alerts, per source and model version")
    st.dataframe(
        pd.DataFrame(figures["precision"]), hide_index=True, width="stretch",
        column_config={"precision": st.column_config.NumberColumn("precision",
                                                                  format="percent"),
                       "source_version": st.column_config.TextColumn("version")})
    st.subheader("Decisions per day (UTC)")
    per_day = pd.DataFrame(figures["per_day"])
    st.altair_chart(
        alt.Chart(per_day).mark_bar().encode(
            x=alt.X("day:O", title="day (UTC)"), y=alt.Y("cases:Q", title="cases decided"),
            color=alt.Color("decision:N"), tooltip=["day", "decision", "cases"]),
        width="stretch")
