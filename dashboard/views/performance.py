"""Backtesting: how the champion's decisions turned out once outcomes arrived, per cohort and score band."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, ui
from monitoring.performance import ALL_BANDS, takeaways

cfg = ui.settings()
st.title("Backtesting")
ui.require_serving(cfg)

COHORT_COLUMNS = {
    "cohort": "cohort",
    "model_version": "model",
    "clients": "clients scored",
    "outcomes": "outcomes known",
    "observed_default_rate": "observed default rate",
    "predicted_default_rate": "predicted default rate",
    "gini": "realised Gini",
    "expected_gini": "Gini at training",
    "ks": "KS",
    "hosmer_lemeshow_p": "Hosmer-Lemeshow p",
    "score_psi": "score PSI vs previous cohort",
}
BAND_COLUMNS = {
    "score_band": "score band",
    "clients": "clients scored",
    "outcomes": "outcomes known",
    "observed_default_rate": "observed default rate",
    "predicted_default_rate": "predicted default rate",
    "jeffreys_low": "Jeffreys low",
    "jeffreys_high": "Jeffreys high",
    "binomial_p": "binomial p",
    "calibration": "calibration",
}


def cohorts_section(table: pd.DataFrame) -> None:
    """One row per cohort: discrimination, calibration overall, stability; one takeaway line each."""
    st.subheader("Cohorts")
    whole = table[table["score_band"] == ALL_BANDS]
    st.dataframe(whole[list(COHORT_COLUMNS)].rename(columns=COHORT_COLUMNS), hide_index=True, width="stretch")
    for line in takeaways(table):
        ui.takeaway(line)


def bands_section(table: pd.DataFrame) -> None:
    """The calibration of each score band of a chosen cohort."""
    st.subheader("Calibration per score band")
    cohorts = sorted(table["cohort"].unique(), reverse=True)
    cohort = st.selectbox("Cohort", cohorts)
    bands = table[(table["cohort"] == cohort) & (table["score_band"] != ALL_BANDS)].copy()
    bands["calibration"] = bands["calibration"].map(lambda v: "✖ fails" if v == "fails" else v)
    st.dataframe(bands[list(BAND_COLUMNS)].rename(columns=BAND_COLUMNS), hide_index=True, width="stretch")
    failing = int((table[table["cohort"] == cohort]["calibration"] == "fails").sum())
    ui.takeaway(
        f"In {cohort}, {ui.plural(failing, 'score band')} reject the predicted default rate "
        f"(binomial test at {cfg.calibration_alpha})."
        if failing
        else f"In {cohort}, every band's defaults are consistent with the predicted rate."
    )


def alerts_section() -> None:
    """The backtesting alerts of the latest nightly runs."""
    alerts = data.optional_table(cfg, data.ALERTS, "run_id DESC", 50)
    alerts = alerts[alerts["kind"].str.startswith("performance")] if not alerts.empty else alerts
    if alerts.empty:
        st.success("No backtesting alert raised.", icon="✔")
        return
    st.warning(f"Backtesting alert (run {alerts['run_id'].iloc[0]}): {alerts['message'].iloc[0]}", icon="⚠")


with ui.page_guard():
    performance = data.latest_performance(cfg)
    if performance.empty:
        st.info(
            "No cohort has enough observed outcomes yet (performance_min_outcomes): the nightly run backtests the "
            "decisions once outcomes.csv files bring them."
        )
    else:
        alerts_section()
        cohorts_section(performance)
        bands_section(performance)
