"""Drift monitoring: PSI, evidently's per-column verdicts, alerts, the stored results and the HTML report."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from monitoring.drift import PSI_EPSILON, SCORE_COLUMN, compare, psi, psi_band, store
from warehouse.settings import Settings


def population(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Four features and a score; `shift` moves two features and the score (in standard deviations)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(12 + 0.5 * shift, 0.5, n)
    frame = pd.DataFrame(
        {
            "income": income,
            "age": rng.normal(40 - 10 * shift, 10, n).round(),
            "flag": rng.integers(0, 2, n).astype(float),
            "rate": rng.beta(2, 5, n),
        }
    )
    frame.loc[rng.random(n) < 0.2, "rate"] = np.nan
    frame[SCORE_COLUMN] = 1 / (1 + np.exp(-rng.normal(-2.5 + shift, 1.0, n)))
    return frame


def test_psi_of_the_same_population_is_small() -> None:
    """Two samples of one population: PSI near its sampling noise, well inside 'stable'."""
    rng = np.random.default_rng(0)
    value = psi(rng.normal(size=5000), rng.normal(size=2000))
    assert 0 <= value < 0.02 and psi_band(value) == "stable"


def test_psi_grows_with_the_shift() -> None:
    """A mean shift of 0.3 then 1 standard deviation: watch then act."""
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    moderate, large = psi(reference, rng.normal(0.3, 1, 2000)), psi(reference, rng.normal(1, 1, 2000))
    assert psi_band(moderate) == "watch" and psi_band(large) == "act" and large > moderate


def test_psi_guards_empty_bins_and_counts_missing_values() -> None:
    """All current values in one bin stay finite; more missing values alone count as drift."""
    reference = np.arange(1000, dtype=float)
    one_bin = psi(reference, np.full(500, 5.0))
    assert np.isfinite(one_bin) and one_bin > 1
    # the first decile holds them all (0.9 more than the reference), the nine others hold PSI_EPSILON
    expected = 0.9 * np.log(1 / 0.1) + 9 * (PSI_EPSILON - 0.1) * np.log(PSI_EPSILON / 0.1)
    assert one_bin == pytest.approx(expected, rel=1e-6)
    with_missing = reference.copy()
    with_missing[::2] = np.nan
    assert psi(reference, with_missing) > 0.25


def test_psi_on_a_discrete_variable() -> None:
    """Tied reference quantiles merge into one bin per value: no spurious drift."""
    rng = np.random.default_rng(2)
    assert psi(rng.integers(0, 3, 5000).astype(float), rng.integers(0, 3, 2000).astype(float)) < 0.02


def test_psi_is_ours_because_evidentlys_hides_a_shift_behind_one_outlier() -> None:
    """Why PSI is computed here and not taken from evidently: evidently bins both samples together on
    equal-width (Sturges) bins, so one extreme income in tonight's batch squeezes everyone into the first bin
    and a real shift of the whole population reads as no drift; reference deciles still see it."""
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(3)
    reference, current = rng.lognormal(12, 0.5, 5000), rng.lognormal(12.3, 0.5, 2000)
    current[0] = 1e9

    def evidently_psi(ref: np.ndarray, cur: np.ndarray) -> float:
        return float(_psi(pd.Series(ref), pd.Series(cur), ColumnType.Numerical, 0.1)[0])

    assert psi_band(psi(reference, current)) == "act"
    assert psi_band(evidently_psi(reference, current)) == "stable"
    assert evidently_psi(reference, current[1:]) > 0.25  # without the outlier both see the shift


def test_psi_bands() -> None:
    """The usual bands: < 0.1 stable, 0.1 to 0.25 watch, above act."""
    assert [psi_band(v) for v in (0.0, 0.099, 0.1, 0.25, 0.26)] == ["stable", "stable", "watch", "act", "act"]


def test_compare_flags_a_shifted_population(settings: Settings) -> None:
    """Shifted features and score: evidently flags them, PSI says act, both alerts are raised."""
    result = compare(population(5000, 1), population(2000, 2, shift=1.0), settings, run_id=7, scope="batch")
    verdicts = {c.feature: c.drifted for c in result.columns}
    assert verdicts == {"income": True, "age": True, "flag": False, "rate": False, SCORE_COLUMN: True}
    assert result.drift_share == 0.5 and psi_band(result.score_psi) == "act"
    assert {a.kind for a in result.alerts} == {"drift_share", "score_psi", "feature_psi"}
    assert result.report_path.is_file() and result.report_path.parent == settings.reports_dir


def test_compare_is_quiet_on_the_same_population(settings: Settings) -> None:
    """A fresh sample of the reference population raises nothing."""
    result = compare(population(5000, 1), population(2000, 3), settings, run_id=8, scope="batch")
    assert not any(c.drifted for c in result.columns)
    assert result.alerts == [] and max(result.psi.values()) < 0.1


def test_score_reference_replaces_the_in_sample_scores(settings: Settings) -> None:
    """Scores compared with an unseen population's: in-sample spread in the reference does not count."""
    reference, current = population(5000, 1), population(2000, 4)
    reference[SCORE_COLUMN] = 1 / (1 + np.exp(-np.random.default_rng(5).normal(-2.5, 2.0, 5000)))  # overfit
    assert compare(reference, current, settings, run_id=10, scope="batch").score_psi > 0.1
    unseen = population(400, 6)[SCORE_COLUMN].to_numpy()
    result = compare(reference, current, settings, run_id=11, scope="batch", score_reference=unseen)
    assert result.score_psi < 0.1 and result.score_reference == "test_set"
    assert not next(c for c in result.columns if c.feature == SCORE_COLUMN).drifted


def test_store_replaces_a_runs_rows(settings: Settings) -> None:
    """Stored results land in the monitoring tables, once per run even when stored again."""
    result = compare(population(5000, 1), population(2000, 2, shift=1.0), settings, run_id=9, scope="batch")
    store(settings, result, None)
    store(settings, result, None)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        counts = [
            con.execute(f"SELECT count(*) FROM monitoring.{t} WHERE run_id = 9").fetchone()[0]
            for t in ("drift_reports", "feature_drift", "psi", "alerts")
        ]
        bands = dict(con.execute("SELECT variable, band FROM monitoring.psi WHERE run_id = 9").fetchall())
        comment = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'monitoring' AND table_name = 'psi'"
        ).fetchone()[0]
    assert counts == [1, 5, 5, 3]  # alerts: drift share, score PSI, feature PSI
    assert bands[SCORE_COLUMN] == "act" and bands["flag"] == "stable"
    assert "reference-decile bins" in comment
