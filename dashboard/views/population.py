"""Client against the population: where the client stands among accepted and refused clients."""

from __future__ import annotations

import math

import streamlit as st

from dashboard import charts, data, ui
from dashboard.labels import axis_scale, format_value

TOP_CHARTS = 4

cfg = ui.settings()
st.title("Client compared with other clients")
ui.require_serving(cfg)
label = ui.labeler(cfg)


def position_text(feature: str, value: object, shares: dict[str, tuple[float, float]]) -> str:
    """'This client's age (41.2 years) is higher than 63% of accepted and 48% of refused clients, ...'"""
    name = label(feature).lower()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"This client has no record for {name}."
    flipped = axis_scale(feature)[0] < 0  # day counts are negative: a larger raw value is fewer days
    groups = [g for g in ("accept", "refuse") if g in shares]
    lower = [shares[g][1 if flipped else 0] for g in groups]
    higher = [shares[g][0 if flipped else 1] for g in groups]
    names = [ui.DECISION_WORDS[g].lower() for g in groups]
    return (
        f"This client's {name} ({format_value(feature, value)}) is higher than "
        + " and ".join(f"{ui.percent(s)} of {n}" for s, n in zip(lower, names, strict=True))
        + " clients, and lower than "
        + " and ".join(ui.percent(s) for s in higher)
        + "."
    )


def feature_chart(client_id: int | None, feature: str, key: str) -> None:
    """Distribution chart of one feature with the client's position and a one-line reading."""
    hist = data.feature_distribution(cfg, feature)
    if hist.empty:
        st.caption(f"No scored client has a value for {label(feature).lower()}.")
        return
    value = data.client_features(cfg, client_id, [feature]).get(feature) if client_id is not None else None
    ui.chart(charts.distribution(hist, feature, value, label), key)
    if client_id is None:
        ui.takeaway(f"How {label(feature).lower()} differs between accepted and refused clients.")
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        ui.takeaway(position_text(feature, value, {}))
    else:
        ui.takeaway(position_text(feature, value, data.feature_percentiles(cfg, feature, float(value))))


def key_features(client_id: int | None) -> list[str]:
    """The features that mattered most for this client, else for the model overall."""
    row = data.client_decision(cfg, client_id) if client_id is not None else None
    if client_id is not None and row is not None:
        return data.client_top_features(cfg, client_id, row["run_id"], TOP_CHARTS)
    return list(data.global_importance(cfg, data.champion_version(cfg), TOP_CHARTS)["feature"])


with ui.page_guard():
    client = ui.remembered_client()
    if client is None:
        st.info("No client chosen: pick one on the Client page to see where they stand. Below, the whole population.")
    elif not data.client_exists(cfg, client):
        st.warning(f"Client {client} is not in the published data.")
        client = None
    else:
        st.markdown(f"Client **{client}**: the features that weighed most on their score.")
    top = key_features(client)
    columns = st.columns(2)
    for i, feature in enumerate(top):
        with columns[i % 2]:
            st.subheader(label(feature))
            feature_chart(client, feature, f"top_{feature}")
    st.divider()
    st.subheader("Any feature")
    every = data.feature_names(cfg)
    chosen = st.selectbox(
        "Feature",
        every,
        index=every.index(top[0]) if top and top[0] in every else 0,
        format_func=lambda f: f"{label(f)} ({f})",
    )
    if chosen:
        feature_chart(client, chosen, "chosen")
