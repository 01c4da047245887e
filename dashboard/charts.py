"""Plotly figures of the dashboard, all in the colour-blind-safe palette of dashboard.ui."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.labels import axis_scale, feature_label, format_value
from dashboard.ui import BLUE, DECISION_COLOURS, DECISION_WORDS, GREY, ORANGE, SKY, VERMILLION

Labeler = Callable[[str], str]
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


def waterfall(
    explanation: pd.DataFrame, base_value: float, probability: float, label: Labeler = feature_label, top: int = 10
) -> go.Figure:
    """From the average applicant's risk to this client's, one bar per feature (probability points).

    SHAP contributions add up in log-odds; each bar is the change in probability when that feature's
    contribution is added to the ones above it, so the bars end exactly at the client's probability.
    """
    head = explanation.head(top)
    rest = logit(probability) - base_value - float(head["contribution"].sum())
    names = [f"{label(f)} = {format_value(f, v)}" for f, v in zip(head["feature"], head["value"], strict=True)]
    steps = list(head["contribution"])
    if len(explanation) > top or abs(rest) > 1e-9:
        names.append(f"{max(len(explanation) - top, 0)} other features")
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


def distribution(
    hist: pd.DataFrame, feature: str, client_value: float | None, label: Labeler = feature_label
) -> go.Figure:
    """Share of accepted and refused clients per value bin, with the client's value marked."""
    scale, unit = axis_scale(feature)
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
            annotation_text=f"This client: {format_value(feature, client_value)}",
            annotation_position="top",
        )
    fig.update_xaxes(title=f"{label(feature)} ({unit})" if unit else label(feature))
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


def bad_rate(bands: pd.DataFrame) -> go.Figure:
    """Observed default rate per score band."""
    labels = [f"{100 * a:.0f}-{100 * b:.0f}%" for a, b in zip(bands["p_from"], bands["p_to"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=100 * bands["bad_rate"],
            marker_color=ORANGE,
            text=[f"{100 * r:.1f}%" for r in bands["bad_rate"]],
            textposition="outside",
            customdata=bands["clients"],
            hovertemplate="%{y:.1f}% of %{customdata} clients",
        )
    )
    fig.update_xaxes(title="Score band (estimated risk, equal-size groups)")
    fig.update_yaxes(title="Defaulted (%)", ticksuffix="%")
    return fig.update_layout(**LAYOUT, height=340)


def runs_bars(counts: pd.DataFrame) -> go.Figure:
    """Clients accepted and refused per scoring run."""
    fig = go.Figure()
    for decision, group in counts.groupby("decision"):
        fig.add_bar(x=group["night"], y=group["clients"], **_decision_style(decision))
    fig.update_yaxes(title="Clients scored")
    return fig.update_layout(**LAYOUT, barmode="stack", height=320, legend={"orientation": "h", "y": -0.3})


def importance(df: pd.DataFrame, label: Labeler = feature_label) -> go.Figure:
    """Mean |SHAP| per feature, largest on top."""
    fig = go.Figure(
        go.Bar(x=df["mean_abs_shap"], y=[label(f) for f in df["feature"]], orientation="h", marker_color=BLUE)
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="Average impact on the score (mean |SHAP|, log-odds)")
    return fig.update_layout(**LAYOUT, height=120 + 26 * len(df))
