"""Client page: the decision, its principal reasons, what would change it, the notice, the human review, and who
the client is."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from notices.letters import to_html, to_pdf
from scoring.reviews import ReviewError, record_review, stored_reviews
from warehouse.vocabulary import REVIEW_ACTIONS, format_figure, review_reasons

# Application column -> (what the manager reads, unit of the value; None: the value in words).
PROFILE = {
    "CODE_GENDER": ("Gender", None),
    "DAYS_BIRTH": ("Age", "age"),
    "NAME_FAMILY_STATUS": ("Family status", None),
    "CNT_CHILDREN": ("Children", "count"),
    "CNT_FAM_MEMBERS": ("Household members", "count"),
    "NAME_EDUCATION_TYPE": ("Education", None),
    "NAME_INCOME_TYPE": ("Type of income", None),
    "OCCUPATION_TYPE": ("Occupation", None),
    "ORGANIZATION_TYPE": ("Type of employer", None),
    "DAYS_EMPLOYED": ("In the current job for", "duration"),
    "AMT_INCOME_TOTAL": ("Yearly income", "money"),
    "NAME_HOUSING_TYPE": ("Housing", None),
    "FLAG_OWN_CAR": ("Owns a car", None),
    "FLAG_OWN_REALTY": ("Owns a home", None),
    "NAME_CONTRACT_TYPE": ("Type of loan", None),
    "AMT_CREDIT": ("Credit asked for", "money"),
    "AMT_ANNUITY": ("Instalment", "money"),
    "AMT_GOODS_PRICE": ("Price of the goods", "money"),
}
WORDS = {
    "CODE_GENDER": {"F": "Woman", "M": "Man", "XNA": "Not given"},
    "FLAG_OWN_CAR": {"Y": "Yes", "N": "No"},
    "FLAG_OWN_REALTY": {"Y": "Yes", "N": "No"},
}

SAVED_KEY = "review_saved"  # the confirmation of the review just saved, shown once after the page reruns with it

REVIEW_KEYS = ("review_action", "review_reason", "review_comment")

cfg = ui.settings()
st.title("Client decision")
ui.require_serving(cfg)


def choose_client() -> int | None:
    """Search by id, then pick among the matches; the choice is shared with the other pages."""
    left, right = st.columns([1, 2])
    text = left.text_input("Search by client id", placeholder="e.g. 100002", key="client_search")
    if text.strip() and not text.strip().isdigit():
        st.warning(f"A client id is a number; {text.strip()!r} is not one.")
        return None
    found = data.find_clients(cfg, text)
    if found.empty:
        st.warning(
            f"No client has an id starting with {text.strip()!r}."
            if text.strip()
            else "The serving database holds no client yet."
        )
        return None
    ids = [int(i) for i in found["client_id"]]
    decisions = dict(zip(ids, found["decision"], strict=True))
    remembered = ui.remembered_client()
    index = ids.index(remembered) if remembered in ids else 0
    chosen = right.selectbox(
        f"Client ({len(ids)} shown)", ids, index=index, format_func=lambda i: f"{i} · {ui.decision_text(decisions[i])}"
    )
    st.session_state[ui.CLIENT_KEY] = chosen
    return chosen


def show_decision(client_id: int, row: dict) -> None:
    """Gauge, decision in words, score in points and band, model and date."""
    probability, threshold = float(row["probability"]), float(row["threshold"])
    left, right = st.columns([3, 2])
    ui.chart(charts.gauge(probability, threshold), "gauge", left)
    with right:
        ui.decision_badge(row["decision"])
        st.write("")
        if row.get("points") is not None:
            st.metric(
                "Credit score", ui.points(float(row["points"])), help="Higher is safer; 50 points double the odds"
            )
            st.markdown(f"Score band **{row.get('score_band', '?')}**")
        side = "above" if probability >= threshold else "below"
        st.markdown(
            f"Client **{client_id}** has an estimated **{ui.percent(probability)}** risk of default, "
            f"{side} the refusal threshold of **{ui.percent(threshold)}**."
        )
        st.caption(f"Model version {row.get('model_version', '?')} · scored {row.get('scored_at', '?')}")


def show_reasons(client_id: int, row: dict) -> None:
    """The principal reasons, in the client's words and the manager's, and what would change a refusal."""
    reasons = data.client_reasons(cfg, client_id, row["run_id"])
    refused = row["decision"] == "refuse"
    st.subheader("Principal reasons" + (" for the refusal" if refused else " for the acceptance"))
    if reasons.empty:
        st.info("No principal reasons were stored for this client's latest score.")
    else:
        arrow = "▲" if refused else "▼"
        lines = [
            f"{r.rank}. {arrow} **{r.sentence}.**  \n"
            f"<span style='color:#555'>{r.manager_sentence} · {abs(r.points):.0f} points "
            f"{'against' if r.points < 0 else 'for'} the client</span>"
            for r in reasons.itertuples()
        ]
        st.markdown("\n\n".join(lines), unsafe_allow_html=True)
    if refused:
        alternative = data.client_alternative(cfg, client_id, row["run_id"])
        st.subheader("What would change the decision")
        if alternative is None:
            st.info("No alternative amount was searched for this refusal (the amounts asked for are not known).")
        elif pd.notna(alternative.get("largest_accepted_credit")):
            st.success(alternative["sentence"])
        else:
            st.warning(alternative["sentence"])
        show_notice(client_id)


def show_notice(client_id: int) -> None:
    """Download buttons for the refusal notice (PDF and HTML)."""
    notice = data.client_notice(cfg, client_id)
    if notice is None:
        return
    st.markdown(
        "**Refusal notice** for the client: the decision, these reasons and the right to a human review and to "
        "contest the decision."
    )
    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Notice (PDF)", to_pdf(notice), f"{notice.file_stem}.pdf", "application/pdf", key="notice_pdf")
    right.download_button("Notice (HTML)", to_html(notice), f"{notice.file_stem}.html", "text/html", key="notice_html")


def show_review(client_id: int, row: dict) -> None:
    """The human reviews of this score and the form to record one, as the signed-in manager."""
    st.subheader("Human review")
    if SAVED_KEY in st.session_state:
        st.success(st.session_state.pop(SAVED_KEY))
    run_id, decision = int(row["run_id"]), str(row["decision"])
    reviews = [r for r in stored_reviews(cfg, client=client_id) if r.run_id == run_id]
    if reviews:
        last = reviews[-1]
        verb = "overrode the model: the decision is now" if last.action == "override" else "confirmed the decision:"
        st.markdown(
            f"**{last.reviewer}** {verb} **{ui.decision_text(last.final_decision)}** "
            f"({review_reasons()[last.reason_code].label.lower()}) on {last.reviewed_at:%Y-%m-%d %H:%M} UTC."
        )
        history = pd.DataFrame(
            {
                "When (UTC)": [f"{r.reviewed_at:%Y-%m-%d %H:%M:%S}" for r in reviews],
                "Reviewer": [r.reviewer for r in reviews],
                "Review": [r.action for r in reviews],
                "Decision": [ui.decision_text(r.final_decision) for r in reviews],
                "Reason": [review_reasons()[r.reason_code].label for r in reviews],
                "Comment": [r.comment for r in reviews],
            }
        )
        st.dataframe(history, hide_index=True, width="stretch")
    else:
        st.caption("Nobody has reviewed this score yet.")
    user = st.session_state.get(ui.USER_KEY)
    with st.form(f"review_{client_id}_{run_id}"):  # kept as typed when refused, so nothing is lost
        action = st.radio(
            "Your review",
            REVIEW_ACTIONS,
            horizontal=True,
            key="review_action",
            format_func=lambda a: (
                f"{a.capitalize()} the model's decision ({ui.decision_text(decision)})"
                if a == "confirm"
                else f"Override it ({ui.decision_text('accept' if decision == 'refuse' else 'refuse')})"
            ),
        )
        reasons = review_reasons()
        code = st.selectbox(
            "Reason",
            list(reasons),
            key="review_reason",
            format_func=lambda c: f"{reasons[c].label} ({reasons[c].action})",
        )
        comment = st.text_area("Comment (needed for an override or 'other')", max_chars=2000, key="review_comment")
        submitted = st.form_submit_button(f"Record the review as {user}")
    if submitted and user:
        try:
            saved = record_review(
                cfg,
                client=client_id,
                run_id=run_id,
                model_decision=decision,
                action=action,
                reason_code=code,
                comment=comment,
                reviewer=user,
            )
        except ReviewError as error:
            st.error(f"Not saved: {error}")
        else:
            for key in REVIEW_KEYS:  # a fresh form for the next review
                st.session_state.pop(key, None)
            st.session_state[SAVED_KEY] = (
                f"Review {saved.review_id} saved: {ui.decision_text(saved.final_decision)}. "
                "The portfolio figures count it after the next night."
            )
            st.rerun()


def show_explanation(client_id: int, row: dict) -> None:
    """The waterfall from the average applicant to the client, one bar per reason code."""
    codes = data.client_code_contributions(cfg, client_id, row["run_id"])
    if codes.empty:
        st.info("No explanation was stored for this client's latest score.")
        return
    probability = float(row["probability"])
    base = data.client_base_value(cfg, client_id, row["run_id"])
    if base is None:  # base value + contributions = log-odds of the probability (TreeSHAP is exact)
        base = charts.logit(probability) - float(codes["contribution"].sum())
    st.subheader("How the risk adds up, from the average applicant to this client")
    ui.chart(charts.waterfall(codes, base, probability), "waterfall")
    up, down = codes[codes["contribution"] > 0], codes[codes["contribution"] < 0]
    parts = []
    if not up.empty:
        parts.append(f"the risk is raised most by *{up['title'].iloc[0].lower()}*")
    if not down.empty:
        parts.append(f"lowered most by *{down['title'].iloc[0].lower()}*")
    ui.takeaway((" and ".join(parts) + ".").capitalize() if parts else "Nothing moved this client's score.")


def show_profile(client_id: int) -> None:
    """The client's application facts."""
    st.subheader("Profile")
    profile = data.client_profile(cfg, client_id, tuple(PROFILE))
    if not profile:
        st.info("No profile published for this client.")
        return
    table = pd.DataFrame(
        {
            "Fact": [PROFILE[k][0] for k in profile],
            "Value": [profile_value(k, v) for k, v in profile.items()],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    if not data.has(cfg, data.PROFILE):
        st.caption("Only the numeric application fields are published for now (no features.client_profile).")


def profile_value(column: str, value: Any) -> str:
    """A profile value in words: categories as written, amounts with separators, days as years and months."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "not given"
    if column in WORDS:
        return WORDS[column].get(value, str(value))
    unit = PROFILE[column][1]
    if unit == "age":
        return format_figure(-float(value) / 365.25, "years")
    if unit is None or isinstance(value, str):
        return str(value)
    return format_figure(float(value), unit)


with ui.page_guard():
    client = choose_client()
    if client is not None:
        decision = data.client_decision(cfg, client)
        if decision is None:
            st.info(
                f"Client {client} has no score yet: the application is waiting for the next nightly run, "
                "or the client was never scored by the current model."
            )
        else:
            show_decision(client, decision)
            show_reasons(client, decision)
            show_review(client, decision)
            show_explanation(client, decision)
        show_profile(client)
