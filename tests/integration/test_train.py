"""Training: exact cost threshold, deterministic CV, behaviour of the model, registry and champion rule."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.special import expit

from scoring import registry
from scoring.data import FeatureStoreError, TrainingData, load_training_data
from scoring.metrics import CostWeights, cost_curve
from scoring.models import Candidate, CrossValidator, baseline_candidates, log_odds_offset
from scoring.train import TrainingSummary, champion_score, train
from warehouse.features import FEATURES_TABLE
from warehouse.settings import Settings

FOLDS = 3
WEIGHTS = CostWeights(false_negative=10.0, false_positive=1.0)
SEARCH = 2
SEARCH_SAMPLE = 1200
"""Fewer than the training clients, so the search screens on a sample and re-runs its best on all rows."""
QUICK = {"learning_rate": 0.3, "num_leaves": 7}
"""LightGBM parameters that converge in a few rounds, for tests that only need some model."""


@pytest.fixture(scope="module")
def store(feature_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shared feature store with this module's own MLflow store and reports folder, 3 folds."""
    home = tmp_path_factory.mktemp("train")
    return feature_warehouse.replace(
        mlflow_dir=home / "mlflow", reports_dir=home / "reports", cv_folds=FOLDS, search_max_rows=SEARCH_SAMPLE
    )


@pytest.fixture(scope="module")
def data(store: Settings) -> TrainingData:
    """The training split of the feature store."""
    return load_training_data(store)


@pytest.fixture(scope="module")
def trained(store: Settings) -> TrainingSummary:
    """One training run into an empty registry (its version becomes champion)."""
    return train(store, search_iterations=SEARCH)


def test_cross_validation_is_deterministic_with_a_seed(data: TrainingData) -> None:
    candidate = Candidate("lgb", "lightgbm", "class_weight", QUICK)
    first = CrossValidator(data, FOLDS, seed=11).run(candidate)
    again = CrossValidator(data, FOLDS, seed=11).run(candidate)
    other = CrossValidator(data, FOLDS, seed=12).run(candidate)
    np.testing.assert_array_equal(first.oof, again.oof)
    assert first.best_iterations == again.best_iterations
    assert not np.array_equal(first.oof, other.oof)


def test_training_compares_candidates_on_the_same_folds(trained: TrainingSummary, data: TrainingData) -> None:
    names = [ev.name for ev in trained.evaluations]
    assert names[:5] == [c.name for c in baseline_candidates()]
    assert len(names) == 5 + SEARCH + 1
    assert trained.chosen.result.candidate.is_lightgbm and trained.chosen.result.rows is None
    # the LightGBM candidates (imbalance strategies, then the search) were screened on a stratified sample
    # (same folds, cut down); the best of them was re-run on all rows, as were the dummy and logistic baselines
    screened, finalist = trained.evaluations[2:-1], trained.evaluations[-1]
    assert all(ev.result.candidate.is_lightgbm for ev in screened)
    assert all(ev.result.n_rows == SEARCH_SAMPLE for ev in screened)
    assert all(np.isnan(ev.result.oof).sum() == data.n_rows - SEARCH_SAMPLE for ev in screened)
    best = min(screened, key=lambda ev: ev.rank())
    assert finalist.name == f"{best.name}_all_rows" and finalist.result.n_rows == data.n_rows
    assert finalist.result.candidate.params == best.result.candidate.params
    assert finalist.result.candidate.imbalance == best.result.candidate.imbalance
    assert all(ev.result.n_rows == data.n_rows for ev in trained.evaluations[:2])


def test_reweighted_candidates_predict_at_the_real_default_rate(trained: TrainingSummary, data: TrainingData) -> None:
    # class weights and undersampling lift defaulters' odds by n_good/n_bad; the prior correction takes it
    # back out (exact in expectation for undersampling; approximate for weights on so small a sample)
    by_name = {ev.name: ev for ev in trained.evaluations}
    offset = np.log((1 - data.default_rate) / data.default_rate)
    for name in ("lightgbm_class_weight", "lightgbm_undersample"):
        p = by_name[name].result.oof
        p = p[~np.isnan(p)]  # screened on the search sample (stratified: the same default rate)
        uncorrected = float(np.mean(expit(np.log(p / (1 - p)) + offset)))
        corrected = float(np.mean(p))
        assert 0.25 * data.default_rate < corrected < 2 * data.default_rate, name
        assert uncorrected > 1.5 * data.default_rate and uncorrected > 1.5 * corrected, name


def test_more_days_past_due_raises_the_risk(trained: TrainingSummary, store: Settings, data: TrainingData) -> None:
    champion = registry.load_champion(store)
    dpd = [i for i, name in enumerate(data.features) if "DPD" in name]
    assert dpd, "the feature store should have days-past-due features"
    clients = np.flatnonzero(data.y == 0)[:300]
    before = champion.booster.predict(data.X[clients])
    worse = data.X[clients].copy()
    worse[:, dpd] = np.nanpercentile(data.X[:, dpd], 99, axis=0) + 30
    after = champion.booster.predict(worse)
    assert after.mean() > before.mean() * 1.2
    assert np.mean(after >= before) >= 0.9  # not monotone by construction: 270 of these 300 with 6-deep trees


def test_an_irrelevant_noise_column_barely_changes_predictions(data: TrainingData) -> None:
    noise = np.random.default_rng(5).normal(size=(data.n_rows, 1))
    noisy = dataclasses.replace(data, X=np.hstack([data.X, noise]), features=[*data.features, "NOISE"])
    # Fixed rounds, no row or column sampling: the noise column is the only difference between the fits.
    candidate = Candidate("lgb", "lightgbm", "none", {"feature_fraction": 1.0, "bagging_freq": 0})
    plain = CrossValidator(data, FOLDS, seed=3).fit_final(candidate, 60).predict(data.X)
    model = CrossValidator(noisy, FOLDS, seed=3).fit_final(candidate, 60)
    with_noise = model.predict(noisy.X)
    assert np.corrcoef(plain, with_noise)[0, 1] > 0.95
    assert np.median(np.abs(plain - with_noise)) < 0.01
    contributions = np.abs(model.predict(noisy.X, pred_contrib=True)[:, :-1]).mean(axis=0)
    assert contributions[-1] < 0.05 * contributions.sum()


def test_registry_round_trip(trained: TrainingSummary, store: Settings, data: TrainingData) -> None:
    champion = registry.load_champion(store)
    assert champion is not None
    assert champion.version == trained.version
    assert champion.features == data.features
    assert champion.threshold == trained.threshold
    assert champion.run_id == trained.run_id
    assert champion.data_hash == data.data_hash
    offset = log_odds_offset(trained.chosen.result.candidate.imbalance, data.y)
    assert champion.log_odds_offset == pytest.approx(offset)
    np.testing.assert_allclose(
        champion.predict_proba(data.frame()), expit(trained.booster.predict(data.X, raw_score=True) - offset)
    )
    version = registry.connect(store).get_model_version(store.model_name, str(trained.version))
    assert version.tags["data_hash"] == data.data_hash
    assert float(version.tags["threshold"]) == trained.threshold
    assert float(version.tags["cost_false_negative"]) == store.cost_false_negative
    assert registry.load_version(store, trained.version).features == data.features


def test_load_champion_says_how_to_get_one_when_none_is_registered(trained: TrainingSummary, store: Settings) -> None:
    with pytest.raises(registry.NoChampionError, match="Run `credit-scoring train` first"):
        registry.load_champion(store.replace(model_name="never_trained"))


def test_champion_moves_only_when_better_or_forced(trained: TrainingSummary, store: Settings) -> None:
    client = registry.connect(store)
    # Same data, folds, seed and candidates: the same challenger, not cheaper, so not promoted.
    same = train(store, search_iterations=SEARCH)
    assert same.chosen.cost >= trained.chosen.cost
    assert not same.decision.promoted
    assert "stored OOF metrics" in same.decision.reason
    assert int(registry.champion_version(client, store).version) == trained.version
    forced = train(store, search_iterations=0, promote=True)
    assert forced.decision.promoted
    assert int(registry.champion_version(client, store).version) == forced.version


def test_champion_on_other_data_is_retrained_on_the_new_folds(
    trained: TrainingSummary, store: Settings, data: TrainingData
) -> None:
    metadata = registry.load_version(store, trained.version).metadata
    validator = CrossValidator(data, FOLDS, store.seed)
    cost, auc, how = champion_score({**metadata, "data_hash": "other data"}, store, data, validator)
    recipe = metadata["recipe"]
    direct = validator.run(Candidate("x", recipe["kind"], recipe["imbalance"], recipe["params"]))
    assert how.startswith("recipe retrained")
    assert cost == pytest.approx(cost_curve(data.y, direct.oof, WEIGHTS).best_cost_per_client)
    assert cost == pytest.approx(trained.chosen.cost)  # same recipe, data, folds and seed as when trained


def test_report_and_plots_are_logged(trained: TrainingSummary, store: Settings) -> None:
    client = registry.connect(store)
    top = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"plots", "report", "model_metadata.json", "oof_predictions.parquet"} <= top
    plots = {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    expected = {
        "roc",
        "precision_recall",
        "calibration",
        "cost_vs_threshold",
        "score_distribution",
        "importance",
    }
    assert plots == {f"plots/{name}.png" for name in expected}
    assert trained.report_path.parent == store.reports_dir
    html = trained.report_path.read_text()
    for section in (
        "Validation scheme",
        "Class imbalance handling",
        "Business cost",
        "Global feature importance",
    ):
        assert section in html
    assert html.count("data:image/png;base64,") == len(expected)
    # Training screened on a sample, so the protected-attribute variant was compared there, and the report says so.
    assert trained.protected_comparison["with"]["clients"] == trained.protected_comparison["without"]["clients"]
    assert f"on {SEARCH_SAMPLE:,} clients (the search sample, where the recipe was screened)" in html
    assert f"{trained.threshold:.4f}" in html
    experiment = client.get_experiment_by_name(registry.EXPERIMENT_NAME)
    assert experiment.artifact_location == (store.mlflow_dir / "artifacts").as_uri()
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{trained.run_id}'",
    )
    assert {run.info.run_name for run in children} >= {ev.name for ev in trained.evaluations}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "ALTER TABLE features.client_features ADD COLUMN NAME_TEXT VARCHAR",
            "non-numeric feature columns: NAME_TEXT",
        ),
        ("UPDATE features.client_features SET TARGET = NULL WHERE SK_ID_CURR = 1", "SK_ID_CURR [1]"),
        (
            "UPDATE features.client_features SET AMT_CREDIT = 'inf'::DOUBLE WHERE SK_ID_CURR = 2",
            "AMT_CREDIT in 1 rows (SK_ID_CURR [2])",
        ),
        (
            "ALTER TABLE features.client_features ADD COLUMN NEW_UNEXPLAINED DOUBLE",
            "1 feature(s) belong to no reason code (NEW_UNEXPLAINED): add rules to dbt/seeds/reason_code_features.csv",
        ),
        ("DROP TABLE features.client_features", "does not exist"),
    ],
)
def test_bad_feature_store_is_rejected_with_a_clear_error(tmp_path: Path, sql: str, message: str) -> None:
    settings = Settings(home=tmp_path)
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE SCHEMA features")
        con.execute(f"""CREATE TABLE {FEATURES_TABLE} AS SELECT i AS SK_ID_CURR, i % 2 AS TARGET,
                        'train' AS DATASET, 1 AS APPLICATION_LOAD_ID, hash(i) AS FEATURE_HASH,
                        (i * 1.5)::DOUBLE AS AMT_CREDIT FROM range(1, 11) t(i)""")
        con.execute(sql)
    with pytest.raises(FeatureStoreError, match=re.escape(message)):
        load_training_data(settings)
