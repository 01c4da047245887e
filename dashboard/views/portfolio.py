"""Portfolio: approval rate, score distribution, clients by score band (points), override rates, clients per run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui

SCORE_BINS = 40

cfg = ui.settings()
st.title("Portfolio")
ui.require_serving(cfg)


def headline() -> float | None:
    """The key numbers over every client's latest decision; returns the current threshold."""
    summary = data.portfolio_summary(cfg)
    clients = int(summary["clients"])
    if clients == 0:
        st.info("No client has been scored yet.")
        st.stop()
    cols = st.columns(4)
    cols[0].metric("Clients scored", f"{clients:,}")
    cols[1].metric("Approval rate", ui.percent(summary["accepted"] / clients))
    cols[2].metric("Refused", f"{int(summary['refused']):,}")
    cols[3].metric("Average risk", ui.percent(summary["mean_probability"]))
    st.caption(f"Latest decision of each client; last scored {summary['last_scored_at']}.")
    runs = data.recent_runs(cfg, 1)
    return float(runs["threshold"].iloc[0]) if not runs.empty else None


def score_section(threshold: float | None) -> None:
    """Histogram of probabilities by decision."""
    st.subheader("Score distribution")
    hist = data.score_histogram(cfg, SCORE_BINS)
    ui.chart(charts.score_histogram(hist, threshold, 1 / SCORE_BINS), "scores")
    refused = hist.loc[hist["decision"] == "refuse", "clients"].sum()
    ui.takeaway(
        f"Clients right of the dashed line ({ui.percent(threshold or 0)}) are refused: "
        f"{int(refused):,} of {int(hist['clients'].sum()):,}."
    )


def bands_section() -> None:
    """Clients per score band with their decisions, predicted risk and (where known) observed defaults."""
    st.subheader("Clients by score band")
    bands = data.band_summary(cfg)
    if bands.empty:
        st.info("No score in points is published yet (a newer `credit-scoring score` run publishes them).")
        return
    ui.chart(charts.score_bands(bands), "bands")
    table = pd.DataFrame(
        {
            "Band": bands["score_band"],
            "Points": [f"{a:.0f} to {b:.0f}" for a, b in zip(bands["points_from"], bands["points_to"], strict=True)],
            "Clients": [f"{int(c):,}" for c in bands["clients"]],
            "Accepted": [ui.percent(a / c) for a, c in zip(bands["accepted"], bands["clients"], strict=True)],
            "Predicted risk": [ui.percent(p) for p in bands["mean_probability"]],
            "Observed defaults": [
                ui.percent(r) if n else "no outcome yet"
                for r, n in zip(bands["bad_rate"], bands["with_outcome"], strict=True)
            ],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    safest, riskiest = bands.iloc[0], bands.iloc[-1]
    ui.takeaway(
        f"Band {safest['score_band']} carries a predicted risk of {ui.percent(safest['mean_probability'])}, band "
        f"{riskiest['score_band']} {ui.percent(riskiest['mean_probability'])}: each band down doubles the odds of "
        "default."
    )


def reviews_section() -> None:
    """How often relationship managers reviewed and overrode the model, per decision and per reviewer."""
    st.subheader("Human review")
    summary = data.override_summary(cfg)
    if summary.empty or not summary["reviewed"].sum():
        st.info("No decision has been reviewed yet (reviews recorded today are counted after the next night).")
        return
    table = pd.DataFrame(
        {
            "Model decision": [ui.decision_text(d) for d in summary["decision"]],
            "Clients": [f"{int(c):,}" for c in summary["clients"]],
            "Reviewed": [f"{int(r):,}" for r in summary["reviewed"]],
            "Overridden": [f"{int(o):,}" for o in summary["overridden"]],
            "Override rate (of reviewed)": [
                ui.percent(o / r) if r else "none reviewed"
                for o, r in zip(summary["overridden"], summary["reviewed"], strict=True)
            ],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    reviewed, overridden = int(summary["reviewed"].sum()), int(summary["overridden"].sum())
    ui.takeaway(
        f"{ui.plural(reviewed, 'current decision')} reviewed, {overridden:,} overridden "
        f"({ui.percent(overridden / reviewed)} of those reviewed, {ui.percent(overridden / summary['clients'].sum())}"
        " of all clients)."
    )
    by_reviewer = data.overrides_by_reviewer(cfg)
    by_reviewer["override rate"] = [
        ui.percent(o / r) for o, r in zip(by_reviewer["overridden"], by_reviewer["reviewed"], strict=True)
    ]
    st.dataframe(by_reviewer, hide_index=True, width="stretch")


def runs_section() -> None:
    """Clients accepted and refused per scoring run."""
    st.subheader("Clients scored per run")
    counts = data.counts_per_run(cfg)
    if counts.empty:
        st.info("No successful scoring run yet.")
        return
    ui.chart(charts.runs_bars(counts), "runs")
    per_run = counts.groupby("run_id", sort=False)["clients"].sum()
    ui.takeaway(
        f"{ui.plural(len(per_run), 'successful run')}; the latest scored {ui.plural(int(per_run.iloc[-1]), 'client')}."
    )


with ui.page_guard():
    current_threshold = headline()
    score_section(current_threshold)
    bands_section()
    reviews_section()
    runs_section()
