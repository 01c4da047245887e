"""Monitoring: the latest runs and their status, drift of the population, alerts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, ui
from warehouse.vocabulary import UnknownFeature, feature_label

STATUS_WORDS = {"succeeded": "✔ succeeded", "failed": "✖ failed", "running": "… running", "skipped": "– skipped"}
BAND_WORDS = {"stable": "stable", "watch": "⚠ watch", "act": "✖ act"}

cfg = ui.settings()
st.title("Monitoring")
ui.require_serving(cfg)


def status_table(df: pd.DataFrame, columns: list[str]) -> None:
    """A run table with its status in words and colour."""
    shown = df[[c for c in columns if c in df.columns]].copy()
    if "status" in shown:
        shown["status"] = shown["status"].map(lambda s: STATUS_WORDS.get(s, s))
        shown = shown.style.map(_status_colour, subset=["status"])
    st.dataframe(shown, hide_index=True, width="stretch")


def _status_colour(value: str) -> str:
    """Okabe-Ito colour for a status cell (the words carry the meaning too)."""
    if "failed" in value:
        return f"color: {ui.VERMILLION}; font-weight: bold"
    return f"color: {ui.BLUE}" if "succeeded" in value else ""


def _meaning(variable: str) -> str:
    """Plain name of a monitored variable (a feature, or the score)."""
    if variable == "score":
        return "Risk score (probability of default)"
    try:
        return feature_label(variable)
    except UnknownFeature:
        return variable


def runs_section() -> None:
    """Scoring runs and, when published, the nightly job runs."""
    st.subheader("Latest scoring runs")
    runs = data.recent_runs(cfg)
    status_table(
        runs, ["run_id", "status", "mode", "model_version", "started_at", "finished_at", "clients_scored", "error"]
    )
    failed = int((runs["status"] == "failed").sum()) if not runs.empty else 0
    ui.takeaway(
        f"Of the {ui.plural(len(runs), 'most recent run')}, {failed} failed."
        if failed
        else f"The {ui.plural(len(runs), 'most recent run')}: none failed."
    )
    jobs = data.optional_table(cfg, data.JOB_RUNS, "started_at DESC", 20)
    if not jobs.empty:
        st.subheader("Nightly jobs")
        status_table(
            jobs, ["run_id", "job", "night", "status", "started_at", "finished_at", "message", "batch_folder", "error"]
        )


def drift_section() -> None:
    """Drift summary of the latest monitoring run, its alerts and the full report."""
    st.subheader("Population drift")
    run_id = data.latest_drift_run(cfg)
    if run_id is None:
        st.info("No drift computation published yet (`credit-scoring drift` or the nightly run computes it).")
        return
    drift = data.drift_rows(cfg, data.DRIFT, run_id)
    psi = data.drift_rows(cfg, data.PSI, run_id)
    if not drift.empty:
        share = float(drift["drifted"].mean())
        ui.takeaway(
            f"{int(drift['drifted'].sum())} of {len(drift)} monitored features drifted "
            f"({ui.percent(share)}) in monitoring run {run_id}; "
            f"the alert level is {ui.percent(cfg.drift_share_threshold)}."
        )
        shown = drift.assign(drifted=drift["drifted"].map({True: "⚠ drifted", False: "no"}))
        shown.insert(0, "meaning", shown["feature"].map(_meaning))
        st.dataframe(shown.drop(columns=["run_id"], errors="ignore"), hide_index=True, width="stretch")
    if not psi.empty:
        st.markdown("**Population stability index** (< 0.1 stable, 0.1-0.25 watch, > 0.25 act)")
        shown = psi.assign(band=psi["band"].map(lambda b: BAND_WORDS.get(b, b))) if "band" in psi else psi
        if "variable" in shown:
            shown.insert(0, "meaning", shown["variable"].map(_meaning))
        st.dataframe(shown.drop(columns=["run_id"], errors="ignore"), hide_index=True, width="stretch")
    report = data.drift_report_path(cfg, run_id)
    if report is not None:
        st.download_button(
            "Open the full drift report (evidently HTML)", report.read_bytes(), file_name=report.name, mime="text/html"
        )
        st.caption(f"Report file: {report}")


def alerts_section() -> None:
    """Alerts raised by monitoring."""
    st.subheader("Alerts")
    alerts = data.optional_table(cfg, data.ALERTS, "run_id DESC", 50)
    if alerts.empty:
        st.success("No alert raised.", icon="✔")
        return
    st.warning(f"{len(alerts)} alert(s): the newest says: {alerts['message'].iloc[0]}", icon="⚠")
    st.dataframe(alerts, hide_index=True, width="stretch")


with ui.page_guard():
    runs_section()
    drift_section()
    alerts_section()
