"""Users (admins only): who may log in, with which role; add a user (their one-time password is
shown once), disable or enable one. Every change is in the audit log."""

import json

import pandas as pd
import streamlit as st

from cases import ROLES, UserError
from cases.users import new_password
from dashboards import session, workbench

me = session.require("admin")
store = session.store()
st.title("Users")
st.caption("Roles, each including the one before: analyst (queue, cases, decisions), lead "
           "(assigns others' cases, files reports), admin (users).")

if shown := st.session_state.pop("new_password", None):
    name, password = shown
    st.success(f"User {name} added. Their one-time password, shown only this once:")
    st.code(password, language=None)

users = store.users()
st.dataframe(pd.DataFrame([{"user": u.username, "role": u.role,
                            "status": "disabled" if u.disabled else "active"} for u in users],
                          columns=["user", "role", "status"]),
             hide_index=True, width="stretch")

left, right = st.columns(2)
with left, st.form("add_user", clear_on_submit=True):
    st.subheader("Add a user")
    username = st.text_input("Username", key="new_username",
                             help="1–64 letters, digits, '.', '-' or '_'")
    role = st.selectbox("Role", ROLES, key="new_role")
    if st.form_submit_button("Add user", type="primary"):
        password = new_password()
        try:
            store.add_user(username.strip(), role, password, actor=me.username)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state["new_password"] = (username.strip(), password)
            st.rerun()

with right:
    st.subheader("Disable or enable")
    others = [u for u in users if u.username != me.username]
    if not others:
        st.caption("No other user yet.")
    else:
        status = {u.username: "disabled" if u.disabled else "active" for u in others}
        target = st.selectbox("User", list(status), key="toggle_user",
                              format_func=lambda n: f"{n} ({status[n]})")
        current = next(u for u in others if u.username == target)
        label = "Enable" if current.disabled else "Disable"
        if st.button(label, key="toggle_button"):
            store.set_disabled(target, not current.disabled, actor=me.username)
            st.rerun()

st.subheader("Recent logins and changes")
entries = [e for e in store.audit_entries(limit=200)
           if e["action"] in ("login", "login_failed", "user_add", "user_disable",
                              "user_enable")][:50]
st.dataframe(pd.DataFrame([{"time": workbench.when(e["at"]), "who": e["actor"],
                            "what": e["action"].replace("_", " "), "user": e["object_id"],
                            "details": ", ".join(f"{k}: {v}" for k, v in
                                                 json.loads(e["after"]).items())}
                           for e in entries],
                          columns=["time", "who", "what", "user", "details"]),
             hide_index=True, width="stretch")
