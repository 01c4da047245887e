"""Plotly figures of the dashboard, all in the colour-blind-safe palette of dashboard.ui."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.ui import BLUE, DECISION_COLOURS, DECISION_WORDS, GREY, ORANGE, SKY, VERMILLION
from warehouse.vocabulary import format_figure

LAYOUT: dict[str, Any] = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "font": {"size": 14},
    "template": "plotly_white",
}


def sigmoid(x: float) -> float:
    """Log-odds to probability."""
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    """Probability to log-odds (clipped away from 0 and 1)."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def _decision_style(decision: str) -> dict:
    """Name, colour and hatching of a decision's bars (hatching: readable without colour too)."""
    return {
        "name": DECISION_WORDS.get(decision, decision),
        "marker_color": DECISION_COLOURS.get(decision, GREY),
        "marker_pattern_shape": "/" if decision == "refuse" else "",
    }


def gauge(probability: float, threshold: float) -> go.Figure:
    """The probability of default on a 0-100% dial, threshold marked, safe zone blue and risky zone orange."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=100 * probability,
            number={"suffix": "%", "valueformat": ".1f"},
            title={
                "text": f"Estimated risk of default<br><sup>refusal threshold {100 * threshold:.1f}% (black line)</sup>"
            },
            gauge={
                "axis": {"range": [0, 100], "ticksuffix": "%"},
                "bar": {"color": "#222222", "thickness": 0.3},
                "steps": [
                    {"range": [0, 100 * threshold], "color": SKY},
                    {"range": [100 * threshold, 100], "color": ORANGE},
                ],
                "threshold": {"line": {"color": "black", "width": 5}, "thickness": 0.9, "value": 100 * threshold},
            },
        )
    )
    return fig.update_layout(**{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 90}}, height=340)


def waterfall(codes: pd.DataFrame, base_value: float, probability: float, top: int = 8) -> go.Figure:
    """From the average applicant's risk to this client's, one bar per reason code (probability points).

    `codes` holds the client's contributions summed per reason code (title, contribution in log-odds), largest
    first; they add up in log-odds, so each bar is the change in probability when that code's contribution is
    added to the ones above it, and the bars end exactly at the client's probability.
    """
    head = codes.head(top)
    rest = logit(probability) - base_value - float(head["contribution"].sum())
    names = list(head["title"])
    steps = list(head["contribution"])
    if len(codes) > top or abs(rest) > 1e-9:
        names.append("Everything else")
        steps.append(rest)
    cumulative, deltas = base_value, []
    for step in steps:
        deltas.append(100 * (sigmoid(cumulative + step) - sigmoid(cumulative)))
        cumulative += step
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(deltas), "total"],
            y=["Average applicant", *names, "This client"],
            x=[100 * sigmoid(base_value), *deltas, 100 * probability],
            text=[f"{100 * sigmoid(base_value):.1f}%", *[f"{d:+.1f} pts" for d in deltas], f"{100 * probability:.1f}%"],
            textposition="outside",
            increasing={"marker": {"color": VERMILLION}},
            decreasing={"marker": {"color": BLUE}},
            totals={"marker": {"color": GREY}},
            connector={"line": {"color": "#bbbbbb"}},
            cliponaxis=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Risk of default (%)", ticksuffix="%")
    layout = {**LAYOUT, "margin": {**LAYOUT["margin"], "r": 70}}
    return fig.update_layout(**layout, height=110 + 38 * (len(names) + 2), showlegend=False)


def axis(unit: str) -> tuple[float, str]:
    """Factor and axis suffix to draw a figure of a unit: day counts in years, shares and scores in %."""
    return {"duration": (-1 / 365.25, " years"), "share": (100.0, "%"), "score": (100.0, "")}.get(unit, (1.0, ""))


def distribution(hist: pd.DataFrame, title: str, unit: str, client_value: float | None) -> go.Figure:
    """Share of accepted and refused clients per value bin of a code's key feature, the client's value marked."""
    scale, suffix = axis(unit)
    fig = go.Figure()
    for decision, group in hist.groupby("decision"):
        fig.add_bar(
            x=scale * (group["bin_start"] + group["bin_end"]) / 2,
            y=100 * group["share"],
            width=(scale * (group["bin_end"] - group["bin_start"])).abs().clip(lower=1e-9),
            opacity=0.6,
            **_decision_style(decision),
        )
    if client_value is not None and not (isinstance(client_value, float) and math.isnan(client_value)):
        fig.add_vline(
            x=scale * client_value,
            line_width=4,
            line_color="black",
            line_dash="dash",
            annotation_text=f"This client: {format_figure(float(client_value), unit or 'count')}",
            annotation_position="top",
        )
    fig.update_xaxes(title=title, ticksuffix=suffix)
    fig.update_yaxes(title="Share of the group (%)", ticksuffix="%")
    return fig.update_layout(**LAYOUT, barmode="overlay", height=380, legend={"orientation": "h", "y": -0.25})


def score_histogram(hist: pd.DataFrame, threshold: float | None, width: float) -> go.Figure:
    """How many clients per probability of default, by decision, threshold marked."""
    fig = go.Figure()
    for decision, group in hist.groupby("decision"):
        fig.add_bar(
            x=100 * (group["bin_start"] + width / 2), y=group["clients"], width=100 * width, **_decision_style(decision)
        )
    if threshold is not None:
        fig.add_vline(
            x=100 * threshold,
            line_width=3,
            line_color="black",
            line_dash="dash",
            annotation_text=f"threshold {100 * threshold:.1f}%",
        )
    fig.update_xaxes(title="Estimated risk of default (%)", ticksuffix="%")
    fig.update_yaxes(title="Clients")
    return fig.update_layout(**LAYOUT, barmode="stack", height=340, legend={"orientation": "h", "y": -0.3})


def score_bands(bands: pd.DataFrame) -> go.Figure:
    """Clients per score band, accepted and refused stacked, safest band on the left."""
    fig = go.Figure()
    for decision, clients in (("accept", bands["accepted"]), ("refuse", bands["clients"] - bands["accepted"])):
        fig.add_bar(
            x=bands["score_band"],
            y=clients,
            text=[f"{int(c):,}" if c else "" for c in clients],
            textposition="inside",
            **_decision_style(decision),
        )
    fig.update_xaxes(title="Score band (points: higher is safer; 50 points double the odds of repaying)")
    fig.update_yaxes(title="Clients")
    return fig.update_layout(**LAYOUT, barmode="stack", height=360, legend={"orientation": "h", "y": -0.35})


def runs_bars(counts: pd.DataFrame) -> go.Figure:
    """Clients accepted and refused per scoring run."""
    fig = go.Figure()
    for decision, group in counts.groupby("decision"):
        fig.add_bar(x=group["night"], y=group["clients"], **_decision_style(decision))
    fig.update_yaxes(title="Clients scored")
    return fig.update_layout(**LAYOUT, barmode="stack", height=320, legend={"orientation": "h", "y": -0.3})


def importance(df: pd.DataFrame) -> go.Figure:
    """Mean points each reason code moves a score by, largest on top."""
    fig = go.Figure(
        go.Bar(
            x=df["mean_abs_points"],
            y=df["title"],
            orientation="h",
            marker_color=BLUE,
            text=[f"{v:.0f}" for v in df["mean_abs_points"]],
            textposition="outside",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Average effect on the score (points, either way)")
    return fig.update_layout(**LAYOUT, height=120 + 28 * len(df))
