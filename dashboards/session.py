"""What every page shares: the settings, the workbench store and the outbox (one per process),
and the logged-in user (one per browser session, in ``st.session_state``).

Logging in checks the password with :meth:`cases.CaseStore.authenticate` (channel
``dashboard``), which writes the success or the failure to the audit log. The session keeps the
:class:`cases.User`, never the password.
"""

from __future__ import annotations

import streamlit as st

from cases import CaseStore, User
from core.settings import Settings
from streams.outbox.store import Outbox

USER = "user"  # st.session_state key of the logged-in cases.User
CASE = "case_id"  # the case the Case page shows


def settings() -> Settings:
    return st.session_state["settings"]


@st.cache_resource(show_spinner=False)
def _store(url: str) -> CaseStore:
    return CaseStore(url)


@st.cache_resource(show_spinner=False)
def _outbox(url: str, resend_after_seconds: float) -> Outbox:
    return Outbox(url, resend_after_seconds)


def store() -> CaseStore:
    return _store(settings().database_url)


def outbox() -> Outbox:
    s = settings()
    return _outbox(s.api_database_url, s.outbox_resend_after_seconds)


def user() -> User | None:
    return st.session_state.get(USER)


def require(role: str = "analyst") -> User:
    """The logged-in user, who must have ``role`` at least; otherwise the page stops here."""
    who = user()
    if who is None:
        st.warning("Please log in.")
        st.stop()
    if not who.at_least(role):
        st.error(f"This page is for the {role} role and above; you are {who.role}.")
        st.stop()
    return who


def log_in(username: str, password: str) -> User | None:
    found = store().authenticate(username.strip(), password, channel="dashboard")
    if found is not None:
        st.session_state[USER] = found
    return found


def log_out() -> None:
    for key in list(st.session_state.keys()):
        if key != "settings":
            del st.session_state[key]


def open_case(case_id: str) -> None:
    """Go to the Case page showing ``case_id`` (its id also in the URL, so a reload keeps it)."""
    st.session_state[CASE] = case_id
    st.switch_page("app_pages/case.py", query_params={"case": case_id})
