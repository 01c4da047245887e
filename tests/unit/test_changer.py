"""The decision changer's search, laid end to end over many clients, against scoring every grid amount."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from scoring.changer import ANNUITY, CREDIT, GOODS, INCOME, RATIOS, SEARCH_BATCH_ROWS, CreditSearch, changed_application
from scoring.registry import Model

pytestmark = pytest.mark.unit

FEATURES = [CREDIT, ANNUITY, GOODS, INCOME, *RATIOS, "EXT_SOURCE_2"]


@pytest.fixture(scope="module")
def search() -> CreditSearch:
    """A small model whose risk rises with the credit asked for, and its search (5,000 steps from 20%)."""
    rng = np.random.default_rng(7)
    X = _applications(rng, 4000)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(X[:, 0] / 2e5 - 3 * X[:, -1])))).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1, "deterministic": True},
        lgb.Dataset(X, y, feature_name=FEATURES),
        40,
    )
    return CreditSearch(Model(booster, FEATURES, 0.25, "test", 1, "run"), step=5000.0, floor_share=0.2)


def test_the_search_finds_the_largest_accepted_amount_of_every_client(search: CreditSearch) -> None:
    X = _applications(np.random.default_rng(8), 300)
    X[0, 0] = np.nan  # amount unknown: no alternative
    X[1, 1] = 0.0  # no instalment: no alternative
    X[2, 0] = 4000.0  # below one step: an empty grid
    found = search.search(X)
    assert found[0] is None and found[1] is None and found[2] is not None and found[2].amount is None
    amounts_found = [a.amount for a in found[3:] if a is not None]
    assert any(a is None for a in amounts_found) and any(a is not None for a in amounts_found)
    for x, alternative in zip(X[3:], found[3:], strict=True):
        assert alternative is not None
        amounts = search.grid(float(x[0]))
        changed = changed_application({name: np.array([x[i]]) for i, name in enumerate(FEATURES)}, amounts / x[0])
        rows = np.repeat(x[None, :], len(amounts), axis=0)
        for name, values in changed.items():
            rows[:, FEATURES.index(name)] = values
        accepted = np.flatnonzero(search.model.probability(rows) < search.model.threshold)
        expected = float(amounts[accepted[-1]]) if len(accepted) else None
        assert alternative.amount == expected


def test_the_search_scores_in_bounded_batches(search: CreditSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    X = _applications(np.random.default_rng(9), 200)
    whole = search.search(X)
    monkeypatch.setattr("scoring.changer.SEARCH_BATCH_ROWS", 7)
    assert search.search(X) == whole and SEARCH_BATCH_ROWS > 7


def _applications(rng: np.random.Generator, n: int) -> np.ndarray:
    """n applications: credit, annuity, goods, income, the ratios the feature store computes, one score."""
    credit = rng.uniform(5e4, 1e6, n).round(1)
    annuity = credit / rng.uniform(10, 40, n)
    goods = credit * rng.uniform(0.8, 1.0, n)
    income = rng.uniform(3e4, 4e5, n)
    row = {CREDIT: credit, ANNUITY: annuity, GOODS: goods, INCOME: income}
    ratios = changed_application(row, np.ones(n))
    return np.column_stack([credit, annuity, goods, income, *(ratios[r] for r in RATIOS), rng.uniform(0, 1, n)])
