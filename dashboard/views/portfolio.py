"""Portfolio: approval rate, score distribution, bad rate by score band, clients per run."""

from __future__ import annotations

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


def bad_rate_section() -> None:
    """Observed default rate per score band, where the outcome is known."""
    st.subheader("Defaults by score band")
    bands = data.bad_rate_by_band(cfg)
    if bands.empty:
        st.info(
            "No scored client has a known outcome yet (only training clients have one), "
            "so the default rate per score band cannot be shown."
        )
        return
    ui.chart(charts.bad_rate(bands), "bad_rate")
    low, high = bands["bad_rate"].iloc[0], bands["bad_rate"].iloc[-1]
    ratio = f"{high / low:.1f} times as often as" if low > 0 else "more often than"
    ui.takeaway(
        f"Clients in the riskiest band defaulted {ui.percent(high)} of the time, {ratio} the "
        f"safest band ({ui.percent(low)}): the score ranks clients by risk."
    )


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
    left, right = st.columns(2)
    with left:
        bad_rate_section()
    with right:
        runs_section()
