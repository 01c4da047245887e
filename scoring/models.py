"""Model candidates and the stratified cross-validation that compares them on the same folds."""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy.special import expit
from scipy.stats import loguniform, randint, uniform
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterSampler, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scoring.data import TrainingData

IMBALANCE_STRATEGIES = ("none", "class_weight", "undersample")
"""'class_weight' reweights defaulters by n_good/n_bad; 'undersample' keeps one good client per defaulter."""

DATASET_PARAMS: dict[str, Any] = {
    "max_bin": 255,
    "bin_construct_sample_cnt": 50_000,
    "feature_pre_filter": False,
    "verbose": -1,
}
"""Binning parameters, shared by every LightGBM fit of a run. Bin boundaries come from 50,000 sampled rows
(at full scale LightGBM's default, 200,000, took 41 CPU s instead of 29 and left 1.8 GB instead of 0.65). 63 bins cost
about 0.004 OOF AUC on the generated 20,000-client data and saved 10-20% per boosting round at 100,000."""

BASE_LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "max_depth": 6,
    "min_data_in_leaf": 100,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "feature_fraction": 0.5,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}
"""max_depth 6: exact TreeSHAP, which explains every score, costs leaves x depth^2 per tree, 2.5x less than
the ~10-deep trees of unlimited depth, for the same OOF AUC (100,000 clients, 5 folds: 0.8251 against 0.8243)."""

SEARCH_SPACE = {
    "num_leaves": randint(8, 65),
    "learning_rate": loguniform(0.05, 0.2),
    "min_data_in_leaf": randint(20, 300),
    "bagging_fraction": uniform(0.6, 0.4),
    "feature_fraction": uniform(0.2, 0.6),
    "lambda_l2": loguniform(1e-2, 30.0),
}
"""LightGBM's names for num_leaves, learning_rate, min_child_samples, subsample, colsample, reg_lambda.
At most 64 leaves: 2^max_depth."""

MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 30
INNER_VALIDATION_SHARE = 0.15
"""Share of each training fold held out for early stopping (the fold's test part is never used for it)."""
PREDICT_CHUNK_ROWS = 16_384
"""Out-of-fold predictions go a chunk of rows at a time: a fold's test rows copied at once are 460 MB of
float64 at full scale (more inside the logistic pipeline), on top of the training matrix."""
LINEAR_MAX_ROWS = 30_000
"""The logistic baseline is fitted on at most this many rows per fold (a linear model gains little more:
0.826 OOF AUC with 60,000 rows on the full-scale generated data, at twice the time)."""


@dataclass(frozen=True)
class Candidate:
    """One model recipe: its family, how it handles class imbalance and its hyperparameters."""

    name: str
    kind: str
    imbalance: str = "none"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_lightgbm(self) -> bool:
        """Whether the candidate is a LightGBM model (the only family that can become champion)."""
        return self.kind == "lightgbm"

    def lgb_params(self, seed: int) -> dict[str, Any]:
        """Full LightGBM training parameters, seeded."""
        return {**BASE_LGB_PARAMS, **self.params, "seed": seed}


@dataclass
class CVResult:
    """Out-of-fold predictions of one candidate and what training it took."""

    candidate: Candidate
    oof: np.ndarray
    """One prediction per training row; NaN outside `rows`."""
    best_iterations: list[int]
    seconds: float
    rows: np.ndarray | None = None
    """The training rows it was cross-validated on (a search sample), or None for all of them."""

    @property
    def n_rows(self) -> int:
        """How many clients have an out-of-fold prediction."""
        return len(self.oof) if self.rows is None else len(self.rows)

    @property
    def n_iterations(self) -> int:
        """Boosting rounds for the refit on all data: the mean best iteration over the folds."""
        return max(1, round(float(np.mean(self.best_iterations)))) if self.best_iterations else 0


def baseline_candidates() -> list[Candidate]:
    """The dummy baseline, the logistic regression and LightGBM under each imbalance strategy."""
    return [
        Candidate("dummy_prior", "dummy"),
        Candidate("logistic_l2", "logistic"),
        *(Candidate(f"lightgbm_{strategy}", "lightgbm", strategy) for strategy in IMBALANCE_STRATEGIES),
    ]


def search_sample(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray | None:
    """The stratified, seeded rows the search screens its candidates on; None when all rows fit."""
    return None if len(y) <= max_rows else cap_rows(np.arange(len(y)), y, max_rows, seed)


def search_candidates(iterations: int, imbalance: str, seed: int) -> list[Candidate]:
    """A seeded random sample of LightGBM hyperparameters (the bounded search)."""
    sampler = ParameterSampler(SEARCH_SPACE, n_iter=iterations, random_state=seed)
    return [
        Candidate(f"lightgbm_search_{i:02d}", "lightgbm", imbalance, {k: _plain(v) for k, v in params.items()})
        for i, params in enumerate(sampler)
    ]


class CrossValidator:
    """Stratified K folds over a training set; LightGBM bins the features once and every fit reuses the bins.

    Bin boundaries come from all training rows' feature values (never the labels), as in lightgbm.cv;
    each fold's training, early-stopping and undersampled sets are subsets of that one binned Dataset.
    """

    def __init__(self, data: TrainingData, n_folds: int, seed: int, search_max_rows: int | None = None) -> None:
        self.data = data
        self.seed = seed
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(np.zeros(data.n_rows), data.y))
        self.sample = None if search_max_rows is None else search_sample(data.y, search_max_rows, seed)
        """Rows the search screens candidates on (the same folds, cut down); None: all rows."""
        self.sample_folds = self.folds if self.sample is None else _cut_folds(self.folds, self.sample, data.n_rows)
        self._binned: lgb.Dataset | None = None
        self._extra: np.ndarray | None = None
        """Columns after the training matrix's own (see `widened`); None: none."""

    def widened(self, extra: np.ndarray, names: list[str]) -> CrossValidator:
        """The same folds over the training matrix with more columns after its own (the protected attributes).

        Only the new columns are binned: they are appended to a copy of the binned Dataset, and the rows a model
        predicts are widened a chunk at a time, so no widened copy of the training matrix (2.3 GB at full scale)
        is ever made and its 936 columns are not binned again.
        """
        wide = copy.copy(self)
        wide._extra = extra
        wide._binned = _with_columns(self.binned, extra, names, self.data.y)
        return wide

    def matrix(self, rows: np.ndarray) -> np.ndarray:
        """Some rows of the training matrix, with the columns `widened` added (if any)."""
        X = self.data.X[rows]
        return X if self._extra is None else np.hstack([X, self._extra[rows]])

    @property
    def binned(self) -> lgb.Dataset:
        """All training rows as one binned LightGBM Dataset (built on first use)."""
        if self._binned is None:
            self._binned = lgb.Dataset(
                self.data.X,
                self.data.y,
                feature_name=self.data.features,
                params=DATASET_PARAMS,
                free_raw_data=False,
            ).construct()
        return self._binned

    def run(
        self, candidate: Candidate, on_fold: Callable[[], None] | None = None, *, sampled: bool = False
    ) -> CVResult:
        """Out-of-fold predictions of the candidate, fitted fold by fold (on the search sample if `sampled`)."""
        rows = self.sample if sampled else None
        if rows is not None and not candidate.is_lightgbm:
            raise ValueError("Only LightGBM candidates are screened on the search sample.")
        start = time.perf_counter()
        oof = np.full(self.data.n_rows, np.nan if rows is not None else 0.0, dtype=np.float64)
        best_iterations: list[int] = []
        for index, (train, test) in enumerate(self.sample_folds if sampled else self.folds):
            if candidate.is_lightgbm:
                booster = self._fit_lightgbm(index, candidate, sampled)
                best_iterations.append(booster.best_iteration)
                offset = log_odds_offset(candidate.imbalance, self.data.y[train])
                predict = partial(corrected_probability, booster, offset=offset, num_iteration=booster.best_iteration)
                oof[test] = self._predict(predict, test)
            else:
                kept = cap_rows(train, self.data.y, LINEAR_MAX_ROWS, self.seed + index)
                model = sklearn_model(candidate).fit(self.matrix(kept), self.data.y[kept])
                oof[test] = self._predict(partial(_default_probability, model), test)
            if on_fold is not None:
                on_fold()
        return CVResult(candidate, oof, best_iterations, time.perf_counter() - start, rows)

    def _predict(self, predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
        """A model's predictions for some rows of the training matrix, PREDICT_CHUNK_ROWS at a time."""
        return np.concatenate(
            [
                predict(self.matrix(rows[start : start + PREDICT_CHUNK_ROWS]))
                for start in range(0, len(rows), PREDICT_CHUNK_ROWS)
            ]
        )

    def fit_final(self, candidate: Candidate, n_iterations: int) -> lgb.Booster:
        """Refit a LightGBM candidate on all training rows for a fixed number of rounds."""
        rows = np.arange(self.data.n_rows)
        if candidate.imbalance == "undersample":
            rows = rows[undersample(self.data.y, self.seed)]
        train_set = self.binned if len(rows) == self.data.n_rows else binned_rows(self.binned, rows)
        return lgb.train(self._params(candidate, self.seed, self.data.y[rows]), train_set, n_iterations)

    def _fit_lightgbm(self, fold: int, candidate: Candidate, sampled: bool) -> lgb.Booster:
        """Train on the fold's training part, stopping early on its inner validation split."""
        train_set, valid_set = self._fold_sets(fold, candidate.imbalance, sampled)
        return lgb.train(
            self._params(candidate, self.seed + fold, np.asarray(train_set.get_label())),
            train_set,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
        )

    @staticmethod
    def _params(candidate: Candidate, seed: int, y: np.ndarray) -> dict[str, Any]:
        """The candidate's LightGBM parameters, with the class weight of its training labels if needed."""
        params = candidate.lgb_params(seed)
        if candidate.imbalance == "class_weight":
            params["scale_pos_weight"] = _negatives_per_positive(y)
        return params

    def _fold_sets(self, fold: int, imbalance: str, sampled: bool) -> tuple[lgb.Dataset, lgb.Dataset]:
        """A fold's training set (undersampled for 'undersample') and early-stopping set.

        Not cached: cutting them from the binned Dataset takes a fraction of a second, while keeping every
        fold's sets of every kind would hold gigabytes at full scale.
        """
        train = (self.sample_folds if sampled else self.folds)[fold][0]
        inner, stop = train_test_split(
            train,
            test_size=INNER_VALIDATION_SHARE,
            stratify=self.data.y[train],
            random_state=self.seed + fold,
        )
        if imbalance == "undersample":
            inner = inner[undersample(self.data.y[inner], self.seed + fold)]
        return binned_rows(self.binned, inner), binned_rows(self.binned, stop)


def sklearn_model(candidate: Candidate) -> Pipeline | DummyClassifier:
    """The scikit-learn estimator of a non-LightGBM candidate.

    The logistic regression works in float32 with mean imputation: on a 30,000-client fold of the
    100,000-client data, 5.2 CPU s to fit instead of 14.1 in float64 with medians (numpy's masked median
    and twice the memory traffic per lbfgs step), for the same AUC (0.8137).
    """
    if candidate.kind == "dummy":
        return DummyClassifier(strategy="prior")
    if candidate.kind == "logistic":
        return _QuietPipeline(
            make_pipeline(
                FunctionTransformer(_as_float32),
                SimpleImputer(strategy="mean", add_indicator=True),
                StandardScaler(),
                LogisticRegression(C=0.01, max_iter=300),
            )
        )
    raise ValueError(f"Unknown candidate kind {candidate.kind!r}")


def log_odds_offset(imbalance: str, y: np.ndarray) -> float:
    """How far class weights or undersampling lift a model's log-odds above the labels' default rate.

    Both multiply the defaulters' odds by n_good/n_bad; subtracting log(n_good/n_bad) from the raw score
    brings probabilities back to the real default rate (the prior correction of King and Zeng, 2001).
    """
    if imbalance == "none":
        return 0.0
    return math.log(_negatives_per_positive(y))


def corrected_probability(
    booster: lgb.Booster, X: np.ndarray, offset: float, num_iteration: int | None = None
) -> np.ndarray:
    """A booster's probability of default at the real default rate: its raw score less the offset."""
    return expit(np.asarray(booster.predict(X, num_iteration=num_iteration, raw_score=True)) - offset)


def cap_rows(rows: np.ndarray, y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most `limit` of the given rows, a seeded sample stratified by the target (all of them if fewer)."""
    if len(rows) <= limit:
        return rows
    kept, _ = train_test_split(rows, train_size=limit, stratify=y[rows], random_state=seed)
    return np.sort(kept)


def undersample(y: np.ndarray, seed: int) -> np.ndarray:
    """Sorted row indices keeping every defaulter and as many randomly drawn good clients."""
    positives = np.flatnonzero(y == 1)
    negatives = np.flatnonzero(y == 0)
    drawn = np.random.default_rng(seed).choice(negatives, size=min(len(positives), len(negatives)), replace=False)
    return np.sort(np.concatenate((positives, drawn)))


class _QuietPipeline:
    """A pipeline whose fit silences lbfgs convergence warnings (the regularised fit is good enough)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def fit(self, X: np.ndarray, y: np.ndarray) -> Pipeline:
        """Fit the wrapped pipeline and return it."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.pipeline.fit(X, y)


def _cut_folds(
    folds: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, n_rows: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds' training and test rows, keeping only `rows`."""
    kept = np.zeros(n_rows, dtype=bool)
    kept[rows] = True
    return [(train[kept[train]], test[kept[test]]) for train, test in folds]


def binned_rows(binned: lgb.Dataset, rows: np.ndarray) -> lgb.Dataset:
    """Some rows of a binned Dataset, constructed without their raw values.

    A subset keeps raw data like its reference, and LightGBM then slices the reference's raw matrix into it: a
    copy of the fold's rows (1.6 GB of float64 for a full-scale training fold) that no fit reads.
    """
    subset = binned.subset(np.sort(rows).tolist())
    subset.free_raw_data = True
    return subset.construct()


def _with_columns(binned: lgb.Dataset, extra: np.ndarray, names: list[str], y: np.ndarray) -> lgb.Dataset:
    """A copy of a binned Dataset with more columns, binned with the same parameters, appended after its own."""
    wide = binned_rows(binned, np.arange(binned.num_data()))
    added = lgb.Dataset(extra, y, feature_name=names, params=DATASET_PARAMS).construct()
    with warnings.catch_warnings():  # it says it keeps no raw data and resets categorical features: we use neither
        warnings.simplefilter("ignore", UserWarning)
        return wide.add_features_from(added)


def _as_float32(X: np.ndarray) -> np.ndarray:
    """The matrix in single precision."""
    return np.asarray(X, dtype=np.float32)


def _default_probability(model: Pipeline | DummyClassifier, X: np.ndarray) -> np.ndarray:
    """A scikit-learn classifier's probability of the positive class (default)."""
    return np.asarray(model.predict_proba(X)[:, 1])


def _negatives_per_positive(y: np.ndarray) -> float:
    """The class-weight ratio n_good / n_bad."""
    positives = float(np.sum(y == 1))
    return float(np.sum(y == 0)) / max(positives, 1.0)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python number (for JSON and MLflow params)."""
    return value.item() if isinstance(value, np.generic) else value
