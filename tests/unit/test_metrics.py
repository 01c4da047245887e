"""The business cost: the cost-minimising threshold, checked by hand and by brute force; the champion rule."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.metrics import CostWeights, cost_curve, cost_per_client
from scoring.train import decide_promotion

WEIGHTS = CostWeights(false_negative=10.0, false_positive=1.0)


def test_threshold_minimises_cost_on_a_hand_worked_example() -> None:
    # Refuse when p >= t. Costs (FN=10, FP=1) by threshold, worked by hand:
    # t=0.1 refuses all: 3 good refused -> 3;  t=0.2: goods 0.2, 0.4 refused -> 2;  t=0.3: good 0.4 -> 1;
    # t=0.4: good 0.4 refused + bad 0.3 accepted -> 11;  t=0.6 -> 10;  t=0.8 -> 20;  accept all -> 30.
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.8])
    curve = cost_curve(y, p, WEIGHTS)
    assert curve.costs.tolist() == [3, 2, 1, 11, 10, 20, 30]
    assert curve.best_threshold == 0.3
    assert curve.best_cost_per_client == pytest.approx(1 / 6)


def test_threshold_handles_tied_probabilities() -> None:
    # A good and a bad client share p=0.5: refusing at 0.5 refuses both (FP 1), at 0.9 accepts both (FN 1).
    y = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.5, 0.5, 0.9])
    curve = cost_curve(y, p, WEIGHTS)
    assert curve.costs.tolist() == [2, 1, 10, 20]
    assert curve.best_threshold == 0.5


def test_cost_curve_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    p = np.round(rng.random(500), 2)  # many ties
    curve = cost_curve(y, p, WEIGHTS)
    brute = [cost_per_client(y, p, t, WEIGHTS) * len(y) for t in curve.thresholds]
    np.testing.assert_allclose(curve.costs, brute)
    assert curve.costs[curve.best_index] == min(cost_per_client(y, p, t, WEIGHTS) * len(y) for t in np.unique(p))


def test_promotion_rule() -> None:
    assert decide_promotion(0.5, 0.7, None, None, forced=False)[0]
    assert decide_promotion(0.49, 0.7, 0.5, 0.8, forced=False)[0]
    assert not decide_promotion(0.51, 0.9, 0.5, 0.7, forced=False)[0]
    assert not decide_promotion(0.5, 0.7, 0.5, 0.7, forced=False)[0]
    assert decide_promotion(0.5, 0.71, 0.5, 0.7, forced=False)[0]
    assert decide_promotion(0.9, 0.5, 0.5, 0.7, forced=True)[0]
