"""Client against the population: where the client stands, on the figures of the reasons that weighed most."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from warehouse.vocabulary import format_figure

TOP_CHARTS = 4

cfg = ui.settings()
st.title("Client compared with other clients")
ui.require_serving(cfg)


def charted_codes() -> pd.DataFrame:
    """The reason codes that have a key feature to chart (code, title, key_feature, key_unit), catalogue order."""
    codes = data.reason_codes(cfg)
    if codes.empty:
        return codes
    present = set(data.feature_names(cfg))
    return codes[codes["key_feature"].isin(present)].reset_index(drop=True)


def position_text(title: str, unit: str, value: object, shares: dict[str, tuple[float, float]]) -> str:
    """'For amount asked relative to income, this client (15%) is higher than 63% of accepted and ...'"""
    name = title[0].lower() + title[1:]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"This client has no record for {name}."
    flipped = unit == "duration"  # day counts are negative: a larger raw value is a shorter time
    groups = [g for g in ("accept", "refuse") if g in shares]
    lower = [shares[g][1 if flipped else 0] for g in groups]
    higher = [shares[g][0 if flipped else 1] for g in groups]
    names = [ui.DECISION_WORDS[g].lower() for g in groups]
    return (
        f"On {name}, this client ({format_figure(float(value), unit)}) is higher than "  # type: ignore[arg-type]
        + " and ".join(f"{ui.percent(s)} of {n}" for s, n in zip(lower, names, strict=True))
        + " clients, and lower than "
        + " and ".join(ui.percent(s) for s in higher)
        + "."
    )


def code_chart(client_id: int | None, code: pd.Series, key: str) -> None:
    """Distribution of a code's key feature with the client's position and a one-line reading."""
    feature, unit, title = code["key_feature"], code["key_unit"], code["title"]
    hist = data.feature_distribution(cfg, feature)
    if hist.empty:
        st.caption(f"No scored client has a value for {title.lower()}.")
        return
    value = data.client_features(cfg, client_id, [feature]).get(feature) if client_id is not None else None
    ui.chart(charts.distribution(hist, title, unit, value), key)
    if client_id is None:
        ui.takeaway(f"How {title.lower()} differs between accepted and refused clients.")
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        ui.takeaway(position_text(title, unit, value, {}))
    else:
        ui.takeaway(position_text(title, unit, value, data.feature_percentiles(cfg, feature, float(value))))


def key_codes(client_id: int | None, charted: pd.DataFrame) -> list[str]:
    """The charted codes that mattered most for this client, else for the model overall."""
    row = data.client_decision(cfg, client_id) if client_id is not None else None
    if client_id is not None and row is not None:
        order = data.client_top_codes(cfg, client_id, row["run_id"])
    else:
        order = list(data.code_importance(cfg, data.champion_version(cfg)).get("code", []))
    return [c for c in order if c in set(charted["code"])][:TOP_CHARTS]


with ui.page_guard():
    client = ui.remembered_client()
    if client is None:
        st.info("No client chosen: pick one on the Client page to see where they stand. Below, the whole population.")
    elif not data.client_exists(cfg, client):
        st.warning(f"Client {client} is not in the published data.")
        client = None
    else:
        st.markdown(f"Client **{client}**: the reasons that weighed most on their score.")
    charted = charted_codes()
    if charted.empty:
        st.info("No reason-code catalogue is published yet (a newer `credit-scoring score` run publishes it).")
        st.stop()
    by_code = charted.set_index("code")
    top = key_codes(client, charted)
    columns = st.columns(2)
    for i, code in enumerate(top):
        with columns[i % 2]:
            st.subheader(by_code.loc[code, "title"])
            code_chart(client, by_code.loc[code].rename(code), f"top_{code}")
    st.divider()
    st.subheader("Any reason")
    codes = list(charted["code"])
    chosen = st.selectbox(
        "Reason",
        codes,
        index=codes.index(top[0]) if top else 0,
        format_func=lambda c: f"{by_code.loc[c, 'title']} ({by_code.loc[c, 'theme'].lower()})",
    )
    if chosen:
        code_chart(client, by_code.loc[chosen].rename(chosen), "chosen")
