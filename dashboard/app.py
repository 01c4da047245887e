"""The relationship managers' dashboard: sign in, then one page per question (`credit-scoring dashboard`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import ui

# The pages, deliberately not in a folder named pages/: Streamlit would serve those by URL without this script
# (so without signing in) on the first visit after the server starts. (A comment, not a docstring: Streamlit's
# "magic" would print a bare string on every page.)
PAGES = Path(__file__).parent / "views"

st.set_page_config(page_title="Credit decisions", page_icon=":material/credit_score:", layout="wide")
cfg = ui.settings()
user = ui.signed_in_user(cfg)


def sign_in() -> None:
    """The only page before signing in."""
    ui.sign_in_form(cfg)


if user is None:
    # st.navigation with the sign-in page alone: no other page is reachable.
    st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:")], position="hidden").run()
    st.stop()

navigation = st.navigation(
    [
        st.Page(PAGES / "client.py", title="Client", icon=":material/person:", default=True),
        st.Page(PAGES / "population.py", title="Client vs population", icon=":material/groups:"),
        st.Page(PAGES / "portfolio.py", title="Portfolio", icon=":material/bar_chart:"),
        st.Page(PAGES / "model.py", title="Model", icon=":material/model_training:"),
        st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/monitor_heart:"),
        st.Page(PAGES / "performance.py", title="Backtesting", icon=":material/fact_check:"),
    ]
)
with st.sidebar:
    st.caption(f"Signed in as **{user}**")
    if st.button("Sign out"):
        ui.sign_out()
        st.rerun()
navigation.run()
