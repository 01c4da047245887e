"""What would change a refusal: the largest credit amount, at the same term, that the model would accept.

The amount asked for (AMT_CREDIT), the instalment (AMT_ANNUITY) and the price of the goods (AMT_GOODS_PRICE) are
scaled together, so the number of instalments stays the same; the application's ratio features are then those
the feature store computes (`RATIOS`: the formulas of dbt/models/intermediate/int_application__clients.sql;
tests/integration/test_decisions.py rebuilds changed applications with dbt and proves every column agrees).

The search is exact on a grid of `step` amounts between `floor_share` of the request and the request: a tree
model's prediction can only change where one of the changed features crosses one of the model's split thresholds,
so the model is evaluated at those grid points only (plus the first), and each grid point takes the decision of
the last change point at or below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from scoring.registry import Model
from warehouse.settings import Settings
from warehouse.vocabulary import format_figure

CREDIT, ANNUITY, GOODS, INCOME = "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE", "AMT_INCOME_TOTAL"
SCALED = (CREDIT, ANNUITY, GOODS)
"""Scaled together: a smaller loan for cheaper goods, repaid in the same number of instalments."""
RATIOS = {
    "INCOME_CREDIT_PERC": (INCOME, CREDIT),
    "ANNUITY_INCOME_PERC": (ANNUITY, INCOME),
    "PAYMENT_RATE": (ANNUITY, CREDIT),
    "GOODS_CREDIT_PERC": (GOODS, CREDIT),
    "CREDIT_ANNUITY_RATIO": (CREDIT, ANNUITY),
}
"""Application features that are numerator / denominator of amounts (NULL when the denominator is 0 or NULL)."""


@dataclass(frozen=True)
class Alternative:
    """The decision changer of one refused client."""

    requested: float
    lowest: float
    """The smallest amount searched."""
    amount: float | None
    """The largest amount on the grid the model accepts; None when none in [lowest, requested) is."""
    instalment: float | None
    probability: float | None
    """The model's probability of default at `amount`."""

    def sentence(self) -> str:
        """What the relationship manager can tell the client."""
        asked = format_figure(self.requested, "money")
        if self.amount is None or self.instalment is None:
            return (
                f"No credit from {format_figure(self.lowest, 'money')} up to the {asked} asked for, repaid in the "
                "same number of instalments, would be accepted."
            )
        return (
            f"A credit of up to {format_figure(self.amount, 'money')} instead of {asked}, repaid in the same number "
            f"of instalments (about {format_figure(self.instalment, 'money')} each), would be accepted."
        )


def changed_application(row: dict[str, np.ndarray], factor: np.ndarray) -> dict[str, np.ndarray]:
    """The amounts scaled by `factor` and the ratio features recomputed, for every factor (a column each)."""
    changed = {name: row[name] * factor for name in SCALED}
    values = {**row, **changed}
    for name, (numerator, denominator) in RATIOS.items():
        below = values[denominator]
        with np.errstate(divide="ignore", invalid="ignore"):
            changed[name] = np.where(below == 0, np.nan, values[numerator] / below)
    return changed


@dataclass(frozen=True)
class _Plan:
    """One client's search: the grid, the changed features along it, the change points and their rows."""

    none: Alternative
    amounts: np.ndarray
    changed: dict[str, np.ndarray]
    points: np.ndarray
    rows: np.ndarray | None

    def decide(self, probability: np.ndarray, threshold: float) -> Alternative:
        """The largest accepted amount, given the probability at each change point."""
        decided = np.searchsorted(self.points, np.arange(len(self.amounts)), side="right") - 1
        accepted = np.flatnonzero(probability[decided] < threshold)
        if len(accepted) == 0:
            return self.none
        best = accepted[-1]
        return replace(
            self.none,
            amount=float(self.amounts[best]),
            instalment=float(self.changed[ANNUITY][best]),
            probability=float(probability[decided[best]]),
        )


@dataclass(frozen=True)
class CreditSearch:
    """Searches the largest accepted amount for refused clients of one model."""

    model: Model
    step: float
    floor_share: float

    @classmethod
    def from_settings(cls, model: Model, settings: Settings) -> CreditSearch:
        """The search configured in the settings."""
        return cls(model, settings.credit_step, settings.credit_floor_share)

    @cached_property
    def columns(self) -> dict[str, int]:
        """Position of each model feature."""
        return {name: i for i, name in enumerate(self.model.features)}

    @cached_property
    def involved(self) -> dict[str, int]:
        """Position of each model feature the search reads or changes."""
        return {name: self.columns[name] for name in (*SCALED, INCOME, *RATIOS) if name in self.columns}

    @cached_property
    def thresholds(self) -> dict[str, np.ndarray]:
        """The sorted split thresholds of each changed feature the model uses."""
        found: dict[int, set[float]] = {}
        for tree in self.model.booster.dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "split_feature" in node:
                    found.setdefault(node["split_feature"], set()).add(float(node["threshold"]))
                    stack += [node["left_child"], node["right_child"]]
        changed = [*SCALED, *RATIOS]
        return {
            name: np.array(sorted(found[self.columns[name]]))
            for name in changed
            if name in self.columns and self.columns[name] in found
        }

    def search(self, X: np.ndarray) -> list[Alternative | None]:
        """The alternative of each row of a feature matrix (model order); None where the amounts are unknown.
        The candidate rows of every client are scored in one call to the model."""
        plans = [self._plan(x) for x in X]
        blocks = [plan.rows for plan in plans if plan is not None and plan.rows is not None]
        probability = self.model.probability(np.vstack(blocks)) if blocks else np.empty(0)
        found: list[Alternative | None] = []
        start = 0
        for plan in plans:
            if plan is None or plan.rows is None:
                found.append(None if plan is None else plan.none)
                continue
            found.append(plan.decide(probability[start : start + len(plan.rows)], self.model.threshold))
            start += len(plan.rows)
        return found

    def grid(self, requested: float) -> np.ndarray:
        """The amounts searched: multiples of `step` from floor_share of the request to below the request."""
        return np.arange(self.lowest(requested), requested - 1e-9, self.step)

    def lowest(self, requested: float) -> float:
        """The smallest amount searched for a request."""
        return max(self.step, math.ceil(self.floor_share * requested / self.step) * self.step)

    def _plan(self, x: np.ndarray) -> _Plan | None:
        """The candidate rows to score for one client (None where the amounts are unknown)."""
        row = {name: np.array([x[i]]) for name, i in self.involved.items()}
        requested = float(x[self.columns[CREDIT]]) if CREDIT in self.columns else math.nan
        annuity = float(x[self.columns[ANNUITY]]) if ANNUITY in self.columns else math.nan
        if not (requested > 0 and annuity > 0) or INCOME not in row:
            return None
        for name in (*SCALED, INCOME):
            row.setdefault(name, np.array([math.nan]))
        amounts = self.grid(requested)
        none = Alternative(requested, self.lowest(requested), None, None, None)
        if len(amounts) == 0:
            return _Plan(none, amounts, {}, np.empty(0, dtype=int), None)
        changed = changed_application(row, amounts / requested)
        points = self._change_points(changed)
        rows = np.repeat(x[None, :], len(points), axis=0)
        for name, values in changed.items():
            if name in self.columns:
                rows[:, self.columns[name]] = values[points]
        return _Plan(none, amounts, changed, points, rows)

    def _change_points(self, changed: dict[str, np.ndarray]) -> np.ndarray:
        """Grid positions where some changed feature crosses a split threshold (position 0 always)."""
        n = len(next(iter(changed.values())))
        moves = np.zeros(n, dtype=bool)
        moves[0] = True
        for name, cuts in self.thresholds.items():
            values = changed[name]
            side = np.searchsorted(cuts, np.where(np.isnan(values), np.inf, values), side="left")
            moves[1:] |= side[1:] != side[:-1]
        return np.flatnonzero(moves)
