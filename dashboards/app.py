"""Flowlet dashboards (Streamlit entry point): ``streamlit run dashboards/app.py``.

Settings come from the environment here, at the edge; pages get them from session state.
"""

import streamlit as st

from core.settings import Settings

st.set_page_config(page_title="Flowlet", page_icon=":material/shield:", layout="wide")
if "settings" not in st.session_state:
    st.session_state["settings"] = Settings.from_env()

pages = st.navigation([
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:",
            default=True),
    st.Page("app_pages/model_health.py", title="Model health", icon=":material/ecg_heart:"),
    st.Page("app_pages/features.py", title="Features", icon=":material/functions:"),
])
pages.run()
