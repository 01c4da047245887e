"""Model: the champion's card (training, data, metrics, threshold, costs) and what it looks at."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import charts, data, ui

METRIC_NAMES = {
    "roc_auc": "ROC AUC (1 = perfect ranking, 0.5 = chance)",
    "auc": "ROC AUC (1 = perfect ranking, 0.5 = chance)",
    "gini": "Gini (2 x AUC - 1)",
    "ks": "Kolmogorov-Smirnov separation of good and bad clients",
    "pr_auc": "Precision-recall AUC (defaulters found among the refused)",
    "brier": "Brier score (mean squared error of the probabilities, lower is better)",
    "log_loss": "Log loss (lower is better)",
    "business_cost": "Business cost per client (lower is better)",
    "cost_per_client": "Business cost per client at the threshold (lower is better)",
    "cost_per_client_at_0_5": "Business cost per client with a 50% threshold, for comparison",
    "approval_rate": "Share of clients accepted",
    "bad_rate_accepted": "Share of accepted clients who defaulted",
    "recall_defaults": "Share of defaulters refused",
    "precision_defaults": "Share of refused clients who defaulted",
    "accuracy": "Accuracy",
    "tp": "Defaulters refused (out-of-fold)",
    "fp": "Good clients refused (out-of-fold)",
    "fn": "Defaulters accepted (out-of-fold)",
    "tn": "Good clients accepted (out-of-fold)",
}

cfg = ui.settings()
st.title("The model behind the decisions")
ui.require_serving(cfg)


def card_section(version: str | None) -> None:
    """Training date, data, metrics, threshold and costs of the champion."""
    card = data.model_card(cfg, version)
    if card is None:
        st.info(f"No model card published for model version {version} yet (scores.model_card).")
        return
    cols = st.columns(4)
    cols[0].metric("Model version", str(card.get("model_version")))
    cols[1].metric("Trained on", str(card.get("trained_at", "?"))[:10])
    cols[2].metric("Training clients", f"{int(card['train_rows']):,}" if card.get("train_rows") else "?")
    threshold = card.get("threshold")
    cols[3].metric("Refusal threshold", ui.percent(float(threshold)) if threshold is not None else "?")
    fn, fp = card.get("cost_false_negative"), card.get("cost_false_positive")
    if fn is not None and fp is not None:
        st.markdown(
            "The threshold minimises the business cost: accepting a client who defaults "
            f"costs **{fn:g}**, refusing one who would have repaid costs **{fp:g}**."
        )
    metrics = {k: v for k, v in _metrics(card.get("metrics")).items() if k != "threshold"}
    if metrics:
        st.markdown("**Cross-validated quality**")
        st.dataframe(
            {
                "Metric": [METRIC_NAMES.get(k, k.replace("_", " ")) for k in metrics],
                "Value": [f"{v:.4f}" if isinstance(v, float) else str(v) for v in metrics.values()],
                "Name": list(metrics),
            },
            hide_index=True,
        )
    shown = ("model_name", "run_id", "candidate", "imbalance", "features", "report_path")
    details = {k: card.get(k) for k in shown if card.get(k)}
    if details:
        st.caption(" · ".join(f"{k}: {v}" for k, v in details.items()))


def _metrics(raw: object) -> dict:
    """The metrics JSON of the card as a dict."""
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if raw else {}  # type: ignore[arg-type]
    except (TypeError, json.JSONDecodeError):
        return {}


def importance_section(version: str | None) -> None:
    """The features with the largest average impact on scores."""
    st.subheader("What the model looks at")
    top = data.global_importance(cfg, version)
    if top.empty:
        st.info("No global importance published for this model version.")
        return
    label = ui.labeler(cfg)
    ui.chart(charts.importance(top, label), "importance")
    names = ", ".join(label(f).lower() for f in top["feature"].head(3))
    ui.takeaway(f"Across all clients, the score depends most on {names}.")


with ui.page_guard():
    champion = data.champion_version(cfg)
    st.caption(f"Champion model version used by the latest scoring run: {champion or 'none yet'}")
    card_section(champion)
    importance_section(champion)
