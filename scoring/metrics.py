"""Business cost, decision threshold and the discrimination/calibration metrics a credit analyst reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve

from warehouse.settings import Settings


@dataclass(frozen=True)
class CostWeights:
    """What each wrong decision costs: accepting a defaulter (FN) and refusing a good client (FP)."""

    false_negative: float
    false_positive: float

    @classmethod
    def from_settings(cls, settings: Settings) -> CostWeights:
        """The cost weights configured in the settings."""
        return cls(settings.cost_false_negative, settings.cost_false_positive)


@dataclass(frozen=True)
class CostCurve:
    """Total cost of every distinct decision rule 'refuse when p >= threshold' (ascending thresholds)."""

    thresholds: np.ndarray
    costs: np.ndarray
    n_clients: int

    @property
    def best_index(self) -> int:
        """Index of the cheapest threshold (the lowest one among ties)."""
        return int(np.argmin(self.costs))

    @property
    def best_threshold(self) -> float:
        """The threshold that minimises the total cost."""
        return float(self.thresholds[self.best_index])

    @property
    def best_cost_per_client(self) -> float:
        """Average cost per client at the best threshold."""
        return float(self.costs[self.best_index]) / self.n_clients


def cost_curve(y: np.ndarray, p: np.ndarray, weights: CostWeights) -> CostCurve:
    """Exact total cost at each distinct predicted probability (refuse when p >= it), plus 'accept everyone'.

    Refusing at threshold u_i refuses every client with p >= u_i: its false negatives are the
    defaulters strictly below u_i and its false positives the good clients at or above it.
    """
    y = np.asarray(y).astype(bool)
    values, inverse = np.unique(np.asarray(p, dtype=np.float64), return_inverse=True)
    bad_per_value = np.bincount(inverse, weights=y, minlength=len(values))
    good_per_value = np.bincount(inverse, weights=~y, minlength=len(values))
    bad_below = np.concatenate(([0.0], np.cumsum(bad_per_value)))
    good_at_or_above = np.concatenate((np.cumsum(good_per_value[::-1])[::-1], [0.0]))
    costs = weights.false_negative * bad_below + weights.false_positive * good_at_or_above
    thresholds = np.concatenate((values, [np.inf]))
    return CostCurve(thresholds=thresholds, costs=costs, n_clients=len(y))


def cost_per_client(y: np.ndarray, p: np.ndarray, threshold: float, weights: CostWeights) -> float:
    """Average cost per client of refusing everyone with p >= threshold."""
    y = np.asarray(y).astype(bool)
    refused = np.asarray(p) >= threshold
    total = weights.false_negative * np.sum(y & ~refused) + weights.false_positive * np.sum(~y & refused)
    return float(total) / len(y)


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of defaulters and good clients."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float, weights: CostWeights) -> dict[str, float]:
    """AUC, Gini, KS, PR-AUC, Brier, log loss, costs and the confusion matrix at the threshold."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    refused = p >= threshold
    tp = int(np.sum(refused & (y == 1)))
    fp = int(np.sum(refused & (y == 0)))
    fn = int(np.sum(~refused & (y == 1)))
    tn = int(np.sum(~refused & (y == 0)))
    accepted = tn + fn
    auc = float(roc_auc_score(y, p))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, p),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "threshold": float(threshold),
        "cost_per_client": cost_per_client(y, p, threshold, weights),
        "cost_per_client_at_0_5": cost_per_client(y, p, 0.5, weights),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "approval_rate": accepted / len(y),
        "bad_rate_accepted": fn / accepted if accepted else 0.0,
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Observed default rate against mean predicted probability, over quantile bins of the score."""
    observed, predicted = calibration_curve(y, np.clip(p, 0, 1), n_bins=bins, strategy="quantile")
    return observed, predicted
