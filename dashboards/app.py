"""Flowlet dashboards (Streamlit entry point): ``streamlit run dashboards/app.py``.

Settings come from the environment here, at the edge; pages get them from session state. Every
page is behind the login (a workbench user: ``flowlet users add``); the pages offered follow the
user's role (the Users page is an admin's).
"""

import streamlit as st

from core.settings import Settings
from dashboards import session

st.set_page_config(page_title="Flowlet", page_icon=":material/shield:", layout="wide")
if "settings" not in st.session_state:
    st.session_state["settings"] = Settings.from_env()

user = session.user()
if user is None:
    pages = st.navigation([st.Page("app_pages/login.py", title="Log in",
                                   icon=":material/login:", default=True)],
                          position="hidden")
else:
    workbench = [
        st.Page("app_pages/queue.py", title="Alert queue", icon=":material/inbox:",
                default=True),
        st.Page("app_pages/case.py", title="Case", icon=":material/folder_open:"),
    ]
    monitoring = [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:"),
        st.Page("app_pages/model_health.py", title="Model health", icon=":material/ecg_heart:"),
        st.Page("app_pages/decisions.py", title="Decisions", icon=":material/gavel:"),
        st.Page("app_pages/ledger_health.py", title="Ledger", icon=":material/account_balance:"),
        st.Page("app_pages/feature_catalogue.py", title="Features", icon=":material/functions:"),
    ]
    sections = {"Workbench": workbench, "Monitoring": monitoring}
    if user.at_least("lead"):
        sections["Rules"] = [st.Page("app_pages/rule_editor.py", title="Rules",
                                    icon=":material/rule:")]
    if user.at_least("admin"):
        sections["Administration"] = [
            st.Page("app_pages/users.py", title="Users", icon=":material/group:")]
    pages = st.navigation(sections)
    with st.sidebar:
        st.caption(f"Logged in as **{user.username}** ({user.role})")
        if st.button("Log out", icon=":material/logout:", key="logout"):
            session.log_out()
            st.rerun()
pages.run()
