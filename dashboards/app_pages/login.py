"""Log in: a workbench user's name and password (checked and audited by the case store)."""

import streamlit as st

from dashboards import session

st.title("Flowlet — log in")
st.caption("The analyst workbench and the monitoring pages. Ask an admin for an account "
           "(`flowlet users add NAME --role analyst`).")
with st.form("login"):
    username = st.text_input("Username", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", type="primary")
if submitted:
    if session.log_in(username, password) is None:
        st.error("Wrong username or password, or the account is disabled.")
    else:
        st.rerun()
