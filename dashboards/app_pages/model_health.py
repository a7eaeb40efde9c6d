"""Model health: is each model version alerting as its validation promised, have its scores
drifted, and have the champion's input features moved away from its training data?

Live figures come from the lake's aggregates (the ``model_version``, ``minute`` and
``alert_source`` cubes); what each version promised comes from the tags training put on it
(:mod:`models.monitoring`); feature drift compares the lake's recent rows with the feature
reference training logged with the champion's run (:mod:`models.drift`)."""

import math

import altair as alt
import pandas as pd
import streamlit as st

from core.lake_aggregates import SCORE_BINS
from core.settings import Settings
from dashboards import queries, session
from dashboards.health import feature_drift_frame, health_table
from models.monitoring import ALERT_RATE_FACTOR, psi

session.require("analyst")
settings: Settings = st.session_state["settings"]
st.title("Model health")
st.caption("Each model version's live alert rate against the rate it had on validation data, "
           "and how far its live scores moved from the validation scores (population "
           "stability index: below 0.1 stable, 0.1–0.25 worth a look, above 0.25 a major "
           "shift). Times are event times in UTC.")


@st.cache_data(ttl=60, show_spinner=False)
def _references(tracking_uri: str, model_name: str) -> dict:
    from models.monitoring import read_references
    from models.registry import registry_client

    try:
        return read_references(registry_client(settings), model_name)
    except Exception:  # noqa: BLE001 - no registry yet: the page still shows live figures
        return {}


#: the lake's rows processed in the last day, at most this many (the latest)
DRIFT_DAYS, DRIFT_ROWS = 1.0, 20_000


@st.cache_data(ttl=60, show_spinner=False)
def _champion(tracking_uri: str, model_name: str, alias: str) -> str | None:
    from models.registry import registry_client, resolve_alias

    try:
        return resolve_alias(registry_client(settings), model_name, alias)
    except Exception:  # noqa: BLE001 - no registry yet
        return None


@st.cache_data(show_spinner=False)  # a version's reference never changes: read it once
def _feature_reference(tracking_uri: str, model_name: str, version: str):  # noqa: ANN202
    from models.drift import read_reference
    from models.registry import registry_client

    client = registry_client(settings)
    run_id = client.get_model_version(model_name, version).run_id
    return read_reference(client, run_id) if run_id else None


@st.cache_data(ttl=60, show_spinner=False)
def _live_features(lake_dir: str) -> pd.DataFrame | None:
    from models.training.recent import recent_lake_rows

    recent = recent_lake_rows(settings.lake_dir, DRIFT_DAYS, limit=DRIFT_ROWS)
    return None if recent is None else recent.X


def feature_drift() -> None:
    st.subheader("Feature drift: live rows against the champion's training data")
    version = _champion(settings.mlflow_tracking_uri, settings.model_name, settings.model_alias)
    if version is None:
        st.info("No champion model in the registry: nothing to compare live features with.")
        return
    reference = _feature_reference(settings.mlflow_tracking_uri, settings.model_name, version)
    if reference is None:
        st.info(f"{settings.model_name}/{version} was trained before feature references were "
                "recorded: retrain it to see its feature drift.")
        return
    live = _live_features(str(settings.lake_dir))
    if live is None:
        st.info(f"No transaction processed in the last {DRIFT_DAYS:g} day to compare.")
        return
    drift = feature_drift_frame(reference, live)
    shifted = drift[drift["shift"] != "stable"]
    major = drift[drift["shift"] == "major shift"]
    st.caption(
        f"{settings.model_name}/{version} was trained on {reference.rows:,} rows from "
        f"{reference.window_start[:16]} to {reference.window_end[:16]} UTC; live: the lake's "
        f"{len(live):,} latest rows processed in the last {DRIFT_DAYS:g} day. Population "
        "stability index per feature over the training deciles (missing values a bin of their "
        "own): below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a major shift.")
    if len(major):
        st.warning(f"{len(major)} of {len(drift)} features shifted a lot since training: "
                   + ", ".join(major["feature"].head(5)) + (" …" if len(major) > 5 else ""))
    elif len(shifted) == 0:
        st.success(f"All {len(drift)} features are stable against the training data.")
    st.dataframe(
        drift, hide_index=True, width="stretch",
        column_config={
            "psi": st.column_config.NumberColumn("PSI", format="%.3f"),
            "live_missing": st.column_config.NumberColumn("missing live", format="percent"),
            "reference_missing": st.column_config.NumberColumn("missing in training",
                                                               format="percent"),
        })


@st.fragment(run_every=f"{max(5.0, settings.lake_refresh_seconds)}s")
def live() -> None:
    con = queries.open_lake(settings.lake_dir)
    versions = queries.model_versions(con)
    if versions.empty:
        st.info("The lake is empty: no transaction has been scored yet.")
        con.close()
        return
    bins = queries.score_bins_by_version(con)
    hourly = queries.alert_rate_by_hour(con)
    by_source = queries.alerts_by_source(con)
    con.close()
    refs = _references(settings.mlflow_tracking_uri, settings.model_name)
    table = health_table(versions, bins, refs)

    over = table[table["status"].str.startswith("alerting")]
    for row in over.itertuples():
        st.warning(f"{row.model_version} alerts {row.live_alert_rate:.2%} of transactions, "
                   f"more than {ALERT_RATE_FACTOR:g}× the {row.validation_alert_rate:.2%} it "
                   "alerted on validation data.")
    st.subheader("Model versions")
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={
            "live_alert_rate": st.column_config.NumberColumn("live alert rate", format="percent"),
            "validation_alert_rate": st.column_config.NumberColumn("validation alert rate",
                                                                   format="percent"),
            "alert_budget": st.column_config.NumberColumn("alert budget", format="percent"),
            "score_psi": st.column_config.NumberColumn("score drift (PSI)", format="%.3f"),
            "last_used": st.column_config.DatetimeColumn("last used (UTC)",
                                                         format="YYYY-MM-DD HH:mm:ss"),
        })

    if not by_source.empty:
        st.subheader("Alerts per source")
        by_source["alert_rate"] = by_source["alerts"] / max(int(table["transactions"].sum()), 1)
        st.dataframe(by_source, hide_index=True, width="stretch", column_config={
            "alert_rate": st.column_config.NumberColumn("share of transactions",
                                                        format="percent"),
            "last_alert": st.column_config.DatetimeColumn("last alert (UTC)",
                                                          format="YYYY-MM-DD HH:mm:ss")})

    st.subheader("Alert rate per hour (UTC)")
    st.altair_chart(
        alt.Chart(hourly).mark_line(point=True).encode(
            x=alt.X("hour:T", title="hour (UTC)", axis=alt.Axis(format="%d %b %H:%M")),
            y=alt.Y("alert_rate:Q", title="alert rate", axis=alt.Axis(format="%")),
            tooltip=[alt.Tooltip("hour:T", format="%Y-%m-%d %H:%M UTC"), "transactions:Q",
                     "alerts:Q", alt.Tooltip("alert_rate:Q", format=".2%")]),
        width="stretch")

    st.subheader("Live scores against validation")
    version = st.selectbox("Model version", list(table["model_version"]))
    live_counts = bins[bins["model_version"] == version].set_index("score_bin")["transactions"]
    live_shares = [float(live_counts.get(b, 0)) for b in range(SCORE_BINS)]
    total = sum(live_shares) or 1.0
    frame = pd.DataFrame({"score from": [b / SCORE_BINS for b in range(SCORE_BINS)],
                          "live": [x / total for x in live_shares]})
    ref = refs.get(version)
    if ref is not None:
        frame["validation"] = list(ref.score_shares)
        st.caption(f"PSI {psi(ref.score_shares, live_shares):.3f}")
    else:
        st.caption("This version was registered without a validation reference.")
    long = frame.melt("score from", var_name="scores", value_name="share")
    st.altair_chart(
        alt.Chart(long).mark_bar(opacity=0.6).encode(
            x=alt.X("score from:O", title="score bin (lower edge)"),
            xOffset="scores:N",
            y=alt.Y("share:Q", axis=alt.Axis(format="%")),
            color="scores:N"),
        width="stretch")
    if any(math.isnan(x) for x in table["score_psi"]):
        st.caption("Versions without a PSI have no validation reference (trained before it "
                   "was recorded).")


live()
feature_drift()
