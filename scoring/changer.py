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
from typing import cast

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


SEARCH_BATCH_ROWS = 16_384
"""Candidate rows scored per call to the model: each is a whole feature vector (7.5 kB at 936 features), so a
chunk's thousands of refusals times their change points are never held at once."""


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

        The grids of every client are laid end to end, so the changed features, the change points and the
        candidate rows of all clients are computed together, and scored SEARCH_BATCH_ROWS rows at a time."""
        found: list[Alternative | None] = [None] * len(X)
        clients = self._searchable(X)
        grids = [self.grid(float(X[i, self.columns[CREDIT]])) for i in clients]
        for i in clients:
            requested = float(X[i, self.columns[CREDIT]])
            found[i] = Alternative(requested, self.lowest(requested), None, None, None)
        owner = np.repeat(clients, [len(grid) for grid in grids])
        if not len(owner):
            return found
        amounts = np.concatenate(grids)
        changed = changed_application(self._rows_of(X, owner), amounts / X[owner, self.columns[CREDIT]])
        moves = self._change_points(changed, np.r_[True, owner[1:] != owner[:-1]])
        points = np.flatnonzero(moves)
        probability = np.concatenate(
            [
                self.model.probability(self._candidates(X, owner, changed, points[start : start + SEARCH_BATCH_ROWS]))
                for start in range(0, len(points), SEARCH_BATCH_ROWS)
            ]
        )[np.cumsum(moves) - 1]  # each grid position takes the decision of the last change point at or below it
        for client, best in _last_per_owner(owner, np.flatnonzero(probability < self.model.threshold)):
            found[client] = replace(
                cast(Alternative, found[client]),
                amount=float(amounts[best]),
                instalment=float(changed[ANNUITY][best]),
                probability=float(probability[best]),
            )
        return found

    def _searchable(self, X: np.ndarray) -> np.ndarray:
        """Rows whose amount asked for and instalment are known and positive (and the model reads the income)."""
        if not all(name in self.columns for name in (CREDIT, ANNUITY, INCOME)):
            return np.empty(0, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            return np.flatnonzero((X[:, self.columns[CREDIT]] > 0) & (X[:, self.columns[ANNUITY]] > 0))

    def _rows_of(self, X: np.ndarray, owner: np.ndarray) -> dict[str, np.ndarray]:
        """The features the search reads or changes, at each grid position (its client's values)."""
        row = {name: X[owner, i] for name, i in self.involved.items()}
        for name in (*SCALED, INCOME):
            row.setdefault(name, np.full(len(owner), math.nan))
        return row

    def _candidates(
        self, X: np.ndarray, owner: np.ndarray, changed: dict[str, np.ndarray], points: np.ndarray
    ) -> np.ndarray:
        """The feature rows to score at some grid positions: the client's row with the changed features."""
        rows = X[owner[points]]
        for name, values in changed.items():
            if name in self.columns:
                rows[:, self.columns[name]] = values[points]
        return rows

    def grid(self, requested: float) -> np.ndarray:
        """The amounts searched: multiples of `step` from floor_share of the request to below the request."""
        return np.arange(self.lowest(requested), requested - 1e-9, self.step)

    def lowest(self, requested: float) -> float:
        """The smallest amount searched for a request."""
        return max(self.step, math.ceil(self.floor_share * requested / self.step) * self.step)

    def _change_points(self, changed: dict[str, np.ndarray], first: np.ndarray) -> np.ndarray:
        """Whether each grid position is a change point: some changed feature crosses a split threshold there, or
        it is the first position of its client's grid (`first`)."""
        moves = first.copy()
        for name, cuts in self.thresholds.items():
            values = changed[name]
            side = np.searchsorted(cuts, np.where(np.isnan(values), np.inf, values), side="left")
            moves[1:] |= side[1:] != side[:-1]
        return moves


def _last_per_owner(owner: np.ndarray, positions: np.ndarray) -> list[tuple[int, int]]:
    """(owner, its last position) for each owner of some sorted positions."""
    backwards = positions[::-1]
    owners, first = np.unique(owner[backwards], return_index=True)
    return list(zip(owners.tolist(), backwards[first].tolist(), strict=True))
