"""Backtesting statistics on seeded stand-in cohorts: discrimination, calibration tests, stability, alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from monitoring.performance import (
    ALL_BANDS,
    CALIBRATION_ALERT,
    GINI_ALERT,
    hosmer_lemeshow,
    measure,
    performance_alerts,
    takeaways,
)
from warehouse.settings import Settings

BANDS = ("A · Very low risk", "C · Moderate risk", "E · High risk")


def cohort(name: str, n: int, seed: int, *, odds_factor: float = 1.0, scrambled: float = 0.0) -> pd.DataFrame:
    """Clients of a cohort whose outcomes are drawn from their predicted risk (odds multiplied by `odds_factor`
    in the riskless half, for a `scrambled` share of clients drawn from another client's risk)."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-2.6, 1.0, n)))
    truth = np.where(rng.random(n) < scrambled, rng.permutation(p), p)
    truth = np.where(p < np.median(p), odds_factor * truth / (1 - truth + odds_factor * truth), truth)
    band = np.select([p < 0.05, p < 0.15], BANDS[:2], BANDS[2])
    return pd.DataFrame(
        {
            "cohort": name,
            "model_version": 1,
            "score_band": band,
            "probability": p,
            "defaulted": (rng.random(n) < truth).astype(float),
        }
    )


@pytest.fixture
def settings() -> Settings:
    return Settings(performance_min_outcomes=200, performance_gini_drop=0.1, calibration_alpha=0.01)


def test_a_calibrated_cohort_passes_and_a_deteriorated_one_alerts(settings: Settings) -> None:
    clients = pd.concat([cohort("2026-01", 4000, 1), cohort("2026-02", 4000, 2, odds_factor=5.0, scrambled=0.5)])
    table = measure(clients, {1: 0.5}, settings)
    whole = table[table["score_band"] == ALL_BANDS].set_index("cohort")
    first = clients[clients["cohort"] == "2026-01"]
    assert whole.loc["2026-01", "auc"] == pytest.approx(roc_auc_score(first["defaulted"], first["probability"]))
    assert whole.loc["2026-01", "gini"] == pytest.approx(2 * whole.loc["2026-01", "auc"] - 1)
    assert whole.loc["2026-01", "hosmer_lemeshow_p"] > settings.calibration_alpha
    assert whole.loc["2026-02", "hosmer_lemeshow_p"] < 1e-6
    assert np.isnan(whole.loc["2026-01", "score_psi"]) and whole.loc["2026-02", "score_psi"] < 0.05
    bands = table[(table["score_band"] != ALL_BANDS) & (table["cohort"] == "2026-01")]
    assert set(bands["calibration"]) == {"passes"} and bands["clients"].sum() == 4000
    assert (bands["jeffreys_low"] <= bands["observed_default_rate"]).all()
    assert (bands["observed_default_rate"] <= bands["jeffreys_high"]).all()
    assert "fails" in set(table[table["cohort"] == "2026-02"]["calibration"])
    assert performance_alerts(table[table["cohort"] == "2026-01"], settings) == []
    kinds = {a.kind for a in performance_alerts(table, settings)}
    assert kinds == {GINI_ALERT, CALIBRATION_ALERT}
    lines = takeaways(table)
    assert lines[0].startswith("2026-01 (v1, 4,000 outcomes): Gini") and "every band calibrated" in lines[0]
    assert "bands off calibration" in lines[1]


def test_a_cohort_waits_for_enough_outcomes(settings: Settings) -> None:
    clients = cohort("2026-03", 1000, 3)
    clients.loc[clients.index[150:], "defaulted"] = np.nan
    assert measure(clients, {}, settings).empty
    assert (
        len(
            measure(
                clients,
                {},
                settings.replace(performance_min_outcomes=150),
            )
        )
        == 1 + clients["score_band"].nunique()
    )


def test_hosmer_lemeshow_matches_its_definition() -> None:
    p = np.linspace(0.05, 0.5, 100)
    y = (np.arange(100) % 4 == 0).astype(int)
    statistic, p_value = hosmer_lemeshow(y, p, groups=10)
    expected = sum(
        (y[g].sum() - p[g].sum()) ** 2 / (p[g].sum() * (1 - p[g].sum() / 10)) for g in np.split(np.arange(100), 10)
    )
    assert statistic == pytest.approx(expected)
    assert 0 <= p_value <= 1
