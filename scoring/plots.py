"""The training report's figures, drawn with matplotlib's Agg backend and saved as PNG files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from scoring.metrics import CostCurve, calibration_table  # noqa: E402


def roc_plot(y: np.ndarray, predictions: Mapping[str, np.ndarray]) -> Figure:
    """ROC curves of several candidates' out-of-fold predictions."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, p in predictions.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name, lw=1.2)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set(
        xlabel="False positive rate (good clients refused)",
        ylabel="True positive rate (defaulters caught)",
        title="ROC curve (out-of-fold)",
    )
    ax.legend(fontsize=7, loc="lower right")
    return fig


def pr_plot(y: np.ndarray, predictions: Mapping[str, np.ndarray]) -> Figure:
    """Precision-recall curves of several candidates, with the default rate as the no-skill line."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, p in predictions.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=name, lw=1.2)
    ax.axhline(float(np.mean(y)), color="grey", ls=":", lw=1)
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve (out-of-fold)")
    ax.legend(fontsize=7, loc="upper right")
    return fig


def calibration_plot(y: np.ndarray, p: np.ndarray) -> Figure:
    """Observed default rate against mean predicted probability (deciles of the score)."""
    observed, predicted = calibration_table(y, p)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(predicted, observed, marker="o", label="model")
    top = max(float(np.max(predicted)), float(np.max(observed))) * 1.05
    ax.plot([0, top], [0, top], color="grey", ls=":", label="perfectly calibrated")
    ax.set(xlabel="Mean predicted probability", ylabel="Observed default rate", title="Calibration (deciles)")
    ax.legend()
    return fig


def cost_plot(curve: CostCurve, cost_at_half: float) -> Figure:
    """Cost per client against the decision threshold, marking the chosen threshold and 0.5."""
    finite = np.isfinite(curve.thresholds)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve.thresholds[finite], curve.costs[finite] / curve.n_clients, lw=1.2)
    ax.axvline(
        curve.best_threshold,
        color="C3",
        ls="--",
        label=f"chosen {curve.best_threshold:.3f} ({curve.best_cost_per_client:.3f}/client)",
    )
    ax.axvline(0.5, color="grey", ls=":", label=f"0.5 ({cost_at_half:.3f}/client)")
    ax.set(
        xlabel="Threshold (refuse when probability >= threshold)",
        ylabel="Cost per client",
        title="Business cost against threshold (out-of-fold)",
        xlim=(0, 1),
    )
    ax.legend()
    return fig


def score_distribution_plot(y: np.ndarray, p: np.ndarray, threshold: float) -> Figure:
    """Histograms of the predicted probability for good clients and defaulters."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 51)
    ax.hist(p[y == 0], bins=bins.tolist(), alpha=0.6, density=True, label="repaid (TARGET=0)")
    ax.hist(p[y == 1], bins=bins.tolist(), alpha=0.6, density=True, label="defaulted (TARGET=1)")
    ax.axvline(threshold, color="C3", ls="--", label="threshold")
    ax.set(xlabel="Predicted probability of default", ylabel="Density", title="Score distribution by class")
    ax.legend()
    return fig


def importance_plot(importance: Mapping[str, float], top: int = 20) -> Figure:
    """Horizontal bars of the features with the largest mean |SHAP|."""
    items = list(importance.items())[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1.2))
    ax.barh([name for name, _ in items], [value for _, value in items], color="C0")
    ax.set(xlabel="Mean |SHAP| (log-odds)", title=f"Global feature importance (top {len(items)})")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
