"""Shared page pieces: settings, sign-in, the colour-blind-safe palette, decisions in words, error guard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import streamlit as st

from dashboard import auth, data
from warehouse.settings import Settings

# Okabe-Ito: distinguishable with every common colour-vision deficiency; never used without words.
BLUE, VERMILLION, ORANGE, SKY, GREY = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#999999"
DECISION_COLOURS = {"accept": BLUE, "refuse": VERMILLION}
DECISION_WORDS = {"accept": "Accepted", "refuse": "Refused"}
DECISION_ICONS = {"accept": "✔", "refuse": "✖"}
USER_KEY = "signed_in_user"
STAMP_KEY = "signed_in_account"
"""The stamp of the account the session signed in with (auth.account_stamp): a changed password ends it."""
SEEN_KEY = "last_seen"
"""When the session last ran a page (time.monotonic): past the idle timeout, it is signed out."""
NOTICE_KEY = "sign_in_notice"
CLIENT_KEY = "client_id"
CHART_CONFIG = {"displayModeBar": False}
"""Plotly options for every chart: no zoom/pan toolbar over the picture."""


def settings() -> Settings:
    """The project settings (config file and CREDIT_SCORING_* environment)."""
    return Settings.load()


def signed_in_user(cfg: Settings) -> str | None:
    """The manager signed in to this browser session, if any: a session idle for too long, or whose account
    was removed or got a new password since, is signed out here (at its next page run)."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        return None
    now, seen = time.monotonic(), st.session_state.get(SEEN_KEY)
    try:
        stamp = auth.account_stamp(cfg, user)
    except auth.UserError:
        stamp = None
    if stamp is None or st.session_state.setdefault(STAMP_KEY, stamp) != stamp:
        sign_out("Your account was removed or its password changed: sign in again.")
        return None
    if seen is not None and now - seen > cfg.dashboard_idle_timeout_s:
        idle = cfg.dashboard_idle_timeout_s
        took = f"{idle // 60} minutes" if idle >= 120 else f"{idle} seconds"
        sign_out(f"You were signed out after {took} without activity: sign in again.")
        return None
    st.session_state[SEEN_KEY] = now
    return user


def sign_out(notice: str | None = None) -> None:
    """End the session's sign-in (and everything it remembered); the notice shows on the sign-in page."""
    st.session_state.clear()
    if notice:
        st.session_state[NOTICE_KEY] = notice


def sign_in_form(cfg: Settings) -> None:
    """The sign-in form; on success records the user and reruns into the app."""
    st.title("Credit decisions: sign in")
    if NOTICE_KEY in st.session_state:
        st.info(st.session_state[NOTICE_KEY])
    try:
        users = auth.load_users(cfg.dashboard_users_file)
    except auth.UserError as error:
        st.error(f"The dashboard accounts file cannot be read: {error}")
        return
    if not users:
        st.info(
            f"No dashboard account exists yet ({cfg.dashboard_users_file}). "
            "Create one with `credit-scoring dashboard-user add NAME`."
        )
        return
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        result = auth.authenticate(cfg, name, password, client=st.context.ip_address or "unknown")
        if result.ok:
            st.session_state.clear()
            st.session_state.update({USER_KEY: name.strip(), STAMP_KEY: result.stamp, SEEN_KEY: time.monotonic()})
            st.rerun()
        if result.wait_s:
            st.error(f"Too many failed attempts: wait {result.wait_s:.0f} s before trying again.")
        else:
            st.error("Wrong user name or password.")


def decision_text(decision: str | None) -> str:
    """'✔ Accepted' / '✖ Refused' / 'Not scored yet'."""
    if decision not in DECISION_WORDS:
        return "Not scored yet"
    return f"{DECISION_ICONS[decision]} {DECISION_WORDS[decision]}"


def decision_badge(decision: str | None) -> None:
    """The decision in large words on its colour (white text on Okabe-Ito blue or vermillion)."""
    colour = DECISION_COLOURS.get(decision or "", GREY)
    st.markdown(
        f"<div style='background:{colour};color:white;padding:0.6rem 1rem;border-radius:0.5rem;"
        f"font-size:1.6rem;font-weight:700;text-align:center'>{decision_text(decision)}</div>",
        unsafe_allow_html=True,
    )


def takeaway(text: str) -> None:
    """The one-line reading of a chart, right under it."""
    st.markdown(f"**In short:** {text}")


def chart(figure: object, key: str, where: object = st) -> None:
    """Show a plotly figure (in `where`: the page, a column...) without the zoom/pan toolbar."""
    where.plotly_chart(figure, key=key, config=CHART_CONFIG)  # type: ignore[attr-defined]


def plural(count: int, word: str) -> str:
    """'1 run', '3 runs'."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percent(x: float) -> str:
    """0.1234 -> '12.3%'."""
    return f"{100 * x:.1f}%"


def points(x: float) -> str:
    """512.3 -> '512 points'."""
    return f"{x:.0f} points"


@contextmanager
def page_guard() -> Iterator[None]:
    """Turn 'nothing published yet' and missing tables into a helpful message instead of a traceback."""
    try:
        yield
    except data.ServingUnavailable as error:
        st.info(str(error))
    except duckdb.CatalogException as error:
        st.warning(
            "The serving database does not hold what this page needs yet "
            f"(a newer `credit-scoring score` run publishes it): {str(error).splitlines()[0]}"
        )


def require_serving(cfg: Settings) -> None:
    """Stop the page with a helpful message when no serving database is published."""
    try:
        data.serving(cfg)
    except data.ServingUnavailable as error:
        st.info(str(error))
        st.stop()


def remembered_client() -> int | None:
    """The client chosen on the Client page (shared by the other pages)."""
    return st.session_state.get(CLIENT_KEY)
