"""Client page: the decision, why it was taken, and who the client is."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from dashboard.labels import feature_label, format_value

cfg = ui.settings()
st.title("Client decision")
ui.require_serving(cfg)
label = ui.labeler(cfg)


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
    """Gauge, decision in words, model and date, the published reasons."""
    probability, threshold = float(row["probability"]), float(row["threshold"])
    left, right = st.columns([3, 2])
    ui.chart(charts.gauge(probability, threshold), "gauge", left)
    with right:
        ui.decision_badge(row["decision"])
        st.write("")
        side = "above" if probability >= threshold else "below"
        st.markdown(
            f"Client **{client_id}** has an estimated **{ui.percent(probability)}** risk of default, "
            f"{side} the refusal threshold of **{ui.percent(threshold)}**."
        )
        st.caption(f"Model version {row.get('model_version', '?')} · scored {row.get('scored_at', '?')}")
        raising, lowering = data.client_reasons(row)
        if raising or lowering:
            st.markdown(
                "**Main reasons**\n" + "\n".join([*(f"- ▲ {r}" for r in raising), *(f"- ▼ {r}" for r in lowering)])
            )


def show_explanation(client_id: int, row: dict) -> None:
    """The SHAP waterfall and the factors for and against, in plain words with the client's values."""
    explanation = data.client_explanation(cfg, client_id, row["run_id"])
    if explanation.empty:
        st.info("No explanation was stored for this client's latest score.")
        return
    probability = float(row["probability"])
    base = data.client_base_value(cfg, client_id, row["run_id"])
    if base is None:  # base value + contributions = log-odds of the probability (TreeSHAP is exact)
        base = charts.logit(probability) - float(explanation["contribution"].sum())
    st.subheader("Why: from the average applicant to this client")
    ui.chart(charts.waterfall(explanation, base, probability, label), "waterfall")
    raising = explanation[explanation["contribution"] > 0].head(5)
    lowering = explanation[explanation["contribution"] < 0].head(5)
    ui.takeaway(_summary(raising, lowering))
    left, right = st.columns(2)
    with left:
        st.markdown(f"<span style='color:{ui.VERMILLION}'>▲</span> **Raise the risk**", unsafe_allow_html=True)
        _factor_list(raising)
    with right:
        st.markdown(f"<span style='color:{ui.BLUE}'>▼</span> **Lower the risk**", unsafe_allow_html=True)
        _factor_list(lowering)


def _summary(raising: pd.DataFrame, lowering: pd.DataFrame) -> str:
    """One sentence naming the strongest factor each way."""
    parts = []
    if not raising.empty:
        parts.append(f"the risk is raised most by *{label(raising['feature'].iloc[0]).lower()}*")
    if not lowering.empty:
        parts.append(f"lowered most by *{label(lowering['feature'].iloc[0]).lower()}*")
    return (" and ".join(parts) + ".").capitalize() if parts else "No feature moved this client's score."


def _factor_list(factors: pd.DataFrame) -> None:
    """Bulleted factors: plain name, the client's value, and the size of the push."""
    if factors.empty:
        st.caption("None.")
        return
    st.markdown(
        "\n".join(
            f"- {label(r.feature)}: **{format_value(r.feature, r.value)}** ({r.contribution:+.2f} log-odds)"
            for r in factors.itertuples()
        )
    )


def show_profile(client_id: int) -> None:
    """The client's application facts."""
    st.subheader("Profile")
    profile = data.client_profile(cfg, client_id)
    if not profile:
        st.info("No profile published for this client.")
        return
    table = pd.DataFrame(
        {"Fact": [feature_label(k) for k in profile], "Value": [_profile_value(k, v) for k, v in profile.items()]}
    )
    st.dataframe(table, hide_index=True, width="stretch")
    if not data.has(cfg, data.PROFILE):
        st.caption("Only the numeric application fields are published for now (no features.client_profile).")


def _profile_value(column: str, value: Any) -> str:
    """Profile values in words (gender, yes/no flags)."""
    words = {
        "CODE_GENDER": {"F": "Woman", "M": "Man", "XNA": "Not given"},
        "FLAG_OWN_CAR": {"Y": "Yes", "N": "No"},
        "FLAG_OWN_REALTY": {"Y": "Yes", "N": "No"},
    }
    return words.get(column, {}).get(value, format_value(column, value))


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
            show_explanation(client, decision)
        show_profile(client)
