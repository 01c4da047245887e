"""Model: the champion's card (training, data, metrics, threshold, costs) and what it looks at."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from monitoring.fairness import TRAINING_SCOPE
from scoring.fairness import ATTRIBUTES
from warehouse.vocabulary import PLACEHOLDER

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


# The model card's technical details, in the order and the words the page shows them.
CARD_DETAILS = {
    "model_name": "Registered model",
    "candidate": "Recipe",
    "imbalance": "Class balance",
    "features": "Features",
    "run_id": "MLflow run",
    "report_path": "Training report",
}


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
    details = {label: card.get(key) for key, label in CARD_DETAILS.items() if card.get(key)}
    if details:
        st.caption(" · ".join(f"{label}: {value}" for label, value in details.items()))


def _metrics(raw: object) -> dict:
    """The metrics JSON of the card as a dict."""
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if raw else {}  # type: ignore[arg-type]
    except (TypeError, json.JSONDecodeError):
        return {}


def importance_section(version: str | None) -> None:
    """The reason codes with the largest average effect on scores."""
    st.subheader("What the model looks at")
    top = data.code_importance(cfg, version)
    if top.empty:
        st.info("No importance per reason code published for this model version.")
        return
    ui.chart(charts.importance(top.head(15)), "importance")
    names = ", ".join(t.lower() for t in top["title"].head(3))
    ui.takeaway(f"Across all clients, the score depends most on {names}.")


def catalogue_section() -> None:
    """The reason-code catalogue: what each code means and how it is worded."""
    st.subheader("The reason codes")
    codes = data.reason_codes(cfg)
    if codes.empty:
        st.info("No reason-code catalogue published yet.")
        return
    st.caption(
        "Every model feature belongs to exactly one code (dbt/seeds/reason_code_features.csv). A decision's "
        "principal reasons are the codes whose features moved its score most, worded with the client's figures."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "Code": codes["code"],
                "Theme": codes["theme"],
                "Reason": codes["title"],
                "The client reads": [PLACEHOLDER.sub(r"[\1]", t).replace("_", " ") for t in codes["client_template"]],
                "Features": codes["features"],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def fairness_section() -> None:
    """The latest fairness check: approval and defaults per group, the four-fifths rule."""
    st.subheader("Fairness")
    table = data.fairness(cfg)
    if table.empty:
        st.info("No fairness check published yet (`credit-scoring fairness`, or the next nightly run).")
        return
    failing = table[(table["four_fifths_rule"] == "fails") & (table["scope"] != TRAINING_SCOPE)]
    shown = pd.DataFrame(
        {
            "Decisions": table["scope"],
            "Attribute": table["attribute"].map(ATTRIBUTES),
            "Group": table["group"],
            "Clients": [f"{int(c):,}" for c in table["clients"]],
            "Approved": [ui.percent(r) for r in table["approval_rate"]],
            "Disparate impact": [_number(v) for v in table["disparate_impact"]],
            "Four-fifths rule": table["four_fifths_rule"],
            "Defaulted among accepted": [_share(v) for v in table["observed_default_rate_accepted"]],
            "Predicted risk of accepted": [_share(v) for v in table["predicted_default_rate_accepted"]],
            "Calibration": [_number(v) for v in table["calibration"]],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch")
    checked = str(table["computed_at"].iloc[0])[:16]
    if failing.empty:
        ui.takeaway(f"Every group passes the four-fifths rule (check of {checked} UTC).")
    else:
        names = ", ".join(f"{ATTRIBUTES[r.attribute].lower()} {r.group}" for r in failing.itertuples())
        ui.takeaway(
            f"Approved at less than 80% of the rate of the most approved group: {names} (check of {checked} UTC)."
        )


def _number(value: float) -> str:
    """A ratio with two decimals, blank when unknown."""
    return "" if pd.isna(value) else f"{value:.2f}"


def _share(value: float) -> str:
    """A share in %, blank when unknown."""
    return "" if pd.isna(value) else ui.percent(value)


with ui.page_guard():
    champion = data.champion_version(cfg)
    st.caption(f"Champion model version used by the latest scoring run: {champion or 'none yet'}")
    card_section(champion)
    importance_section(champion)
    catalogue_section()
    fairness_section()
