"""The training set: the train split of the feature store, read once, checked and fingerprinted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from warehouse.features import (
    DATASET_COLUMN,
    FEATURE_HASH_COLUMN,
    FEATURES_TABLE,
    ID_COLUMN,
    NON_FEATURE_COLUMNS,
    TARGET_COLUMN,
)
from warehouse.schema import OUTCOMES
from warehouse.settings import Settings
from warehouse.vocabulary import UnknownFeature, feature_codes, protected_features

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "BOOLEAN",
    "DECIMAL",
)


LOAD_BATCH_ROWS = 16_384
"""Rows per batch streamed from DuckDB into the training matrix (about 120 MB of 937 DOUBLE columns)."""
LOAD_MEMORY_LIMIT = "1GB"
"""DuckDB's own memory while reading the training set: the scan streams, so its buffer pool need not grow
to the size of the table."""


class FeatureStoreError(ValueError):
    """The feature store is missing or its content breaks the contract of warehouse/features.py."""


@dataclass(frozen=True)
class TrainingData:
    """Features, target and identity of the labelled clients, in SK_ID_CURR order."""

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    features: list[str]
    data_hash: str
    source: Path
    protected: list[str] = field(default_factory=list)
    """Protected columns of the feature store kept out of `features` (settings.protected_attributes)."""
    X_protected: np.ndarray | None = None
    """Their values, in the same row order (for comparing a model that would use them)."""

    @property
    def n_rows(self) -> int:
        """Number of labelled clients."""
        return len(self.y)

    @property
    def default_rate(self) -> float:
        """Share of clients with TARGET = 1."""
        return float(np.mean(self.y))

    def frame(self, rows: np.ndarray | slice = slice(None)) -> pd.DataFrame:
        """Some rows as a DataFrame with the feature names as columns."""
        return pd.DataFrame(self.X[rows], columns=self.features)


def load_training_data(settings: Settings, *, with_outcomes: bool = False) -> TrainingData:
    """Read the train split of features.client_features (read-only, short-lived connection); `with_outcomes` adds
    the scored clients whose outcome arrived (raw.outcomes), labelled with it."""
    path = settings.warehouse_path
    if not path.is_file():
        raise FeatureStoreError(f"No warehouse at {path}: ingest data and build the feature store first.")
    with duckdb.connect(
        str(path), read_only=True, config={"memory_limit": LOAD_MEMORY_LIMIT, "preserve_insertion_order": False}
    ) as con:
        columns = feature_columns(con, path)
        protected = protected_features(columns, settings.protected)
        features = [name for name in columns if name not in protected]
        _check_explained(features, path)
        train = f"FROM {_labelled(con, with_outcomes)} WHERE {DATASET_COLUMN} = 'train'"
        frame = con.sql(f"SELECT {ID_COLUMN}, {TARGET_COLUMN}, {FEATURE_HASH_COLUMN} {train} ORDER BY {ID_COLUMN}").df()
        if frame.empty:
            raise FeatureStoreError(f"{path}: {FEATURES_TABLE} has no rows with {DATASET_COLUMN} = 'train'.")
        ids = frame[ID_COLUMN].to_numpy(dtype=np.int64)
        _check_unique(ids, path)
        X = _feature_matrix(con.sql(f"SELECT {ID_COLUMN}, {_doubles(features)} {train}"), ids)
        X_protected = (
            _feature_matrix(con.sql(f"SELECT {ID_COLUMN}, {_doubles(protected)} {train}"), ids) if protected else None
        )
    y = _checked_target(frame, path)
    _check_finite(X, features, ids, path)
    digest = data_hash(ids, frame[FEATURE_HASH_COLUMN].astype(str).to_numpy(), y, features)
    return TrainingData(
        ids=ids,
        X=X,
        y=y,
        features=features,
        data_hash=digest,
        source=path,
        protected=protected,
        X_protected=X_protected,
    )


def _labelled(con: duckdb.DuckDBPyConnection, with_outcomes: bool) -> str:
    """The relation training reads: the feature store, or (with outcomes) the feature store where clients whose
    outcome arrived count as training clients, labelled with it."""
    if not with_outcomes:
        return FEATURES_TABLE
    (present,) = con.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = '{OUTCOMES}'"
    ).fetchall()[0]
    if not present:
        return FEATURES_TABLE
    return (
        f"(SELECT f.* REPLACE (CASE WHEN o.{ID_COLUMN} IS NULL THEN f.{DATASET_COLUMN} ELSE 'train' END AS "
        f"{DATASET_COLUMN}, coalesce(o.DEFAULTED, f.{TARGET_COLUMN}) AS {TARGET_COLUMN}) "
        f"FROM {FEATURES_TABLE} AS f LEFT JOIN raw.{OUTCOMES} AS o USING ({ID_COLUMN}))"
    )


def _doubles(names: list[str]) -> str:
    """A select list casting each column to DOUBLE."""
    return ", ".join(f'CAST("{name}" AS DOUBLE)' for name in names)


def _check_explained(features: list[str], path: Path) -> None:
    """Every feature must belong to a reason code, so no decision ships unexplained."""
    try:
        feature_codes(features)
    except UnknownFeature as error:
        raise FeatureStoreError(f"{path}: {error}") from error


def _feature_matrix(query: duckdb.DuckDBPyRelation, ids: np.ndarray) -> np.ndarray:
    """The features of a query's rows (SK_ID_CURR first, then DOUBLE columns) as one float64 matrix in the
    order of `ids` (NULL becomes NaN).

    The rows stream in batches, each written straight to its clients' rows: no sort in DuckDB and no copy
    of the whole table in Arrow, so the matrix itself is the only full-size allocation.
    """
    reader = query.to_arrow_reader(LOAD_BATCH_ROWS)
    X = np.empty((len(ids), len(reader.schema) - 1), dtype=np.float64)
    for batch in reader:
        rows = np.searchsorted(ids, batch.column(0).to_numpy())
        block = np.empty((batch.num_rows, X.shape[1]), dtype=np.float64, order="F")
        for j in range(X.shape[1]):
            block[:, j] = batch.column(j + 1).to_numpy(zero_copy_only=False)
        X[rows] = block
    return X


def feature_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The model features of client_features in table order, after checking they are all numeric."""
    try:
        described = con.sql(f"DESCRIBE {FEATURES_TABLE}").fetchall()
    except duckdb.CatalogException as error:
        raise FeatureStoreError(f"{path}: {FEATURES_TABLE} does not exist; build the feature store first.") from error
    types = {name: kind for name, kind, *_ in described}
    missing = [name for name in NON_FEATURE_COLUMNS if name not in types]
    if missing:
        raise FeatureStoreError(f"{path}: {FEATURES_TABLE} lacks the columns {missing}.")
    features = [name for name in types if name not in NON_FEATURE_COLUMNS]
    bad = [f"{name} ({types[name]})" for name in features if not types[name].startswith(NUMERIC_TYPES)]
    if bad:
        raise FeatureStoreError(f"{path}: {FEATURES_TABLE} has non-numeric feature columns: {', '.join(bad)}.")
    if not features:
        raise FeatureStoreError(f"{path}: {FEATURES_TABLE} has no feature columns.")
    return features


def data_hash(ids: np.ndarray, feature_hashes: np.ndarray, y: np.ndarray, features: list[str]) -> str:
    """SHA-256 over the feature names and each client's SK_ID_CURR, FEATURE_HASH and TARGET."""
    digest = hashlib.sha256("\x1f".join(features).encode())
    digest.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int8).tobytes())
    digest.update("\x1f".join(feature_hashes.tolist()).encode())
    return digest.hexdigest()


def _checked_target(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """TARGET as 0/1 integers, or an error naming the clients whose label is missing or invalid."""
    target = frame[TARGET_COLUMN]
    invalid = target.isna() | ~target.isin([0, 1])
    if invalid.any():
        sample = frame.loc[invalid, ID_COLUMN].head(5).tolist()
        raise FeatureStoreError(
            f"{path}: {FEATURES_TABLE}.{TARGET_COLUMN} is missing or not 0/1 "
            f"in {int(invalid.sum())} train rows "
            f"(SK_ID_CURR {sample}...)."
        )
    y = target.to_numpy(dtype=np.int8)
    if y.min() == y.max():
        raise FeatureStoreError(f"{path}: every train row has {TARGET_COLUMN} = {y[0]}; cannot learn a score.")
    return y


def _check_finite(X: np.ndarray, features: list[str], ids: np.ndarray, path: Path) -> None:
    """Reject infinite feature values (a division by zero upstream), naming columns and clients."""
    columns = np.zeros(X.shape[1], dtype=bool)
    for start in range(0, len(X), LOAD_BATCH_ROWS):  # a block at a time: no matrix-sized mask
        columns |= np.isinf(X[start : start + LOAD_BATCH_ROWS]).any(axis=0)
    if not columns.any():
        return
    details = "; ".join(
        f"{features[c]} in {int(np.isinf(X[:, c]).sum())} rows (SK_ID_CURR {ids[np.isinf(X[:, c])][:3].tolist()})"
        for c in np.flatnonzero(columns)[:5]
    )
    raise FeatureStoreError(f"{path}: {FEATURES_TABLE} has infinite values: {details}.")


def _check_unique(ids: np.ndarray, path: Path) -> None:
    """Reject a feature store with more than one train row per client."""
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise FeatureStoreError(
            f"{path}: {FEATURES_TABLE} has several train rows for SK_ID_CURR {values[counts > 1][:5].tolist()}."
        )


def training_groups(settings: Settings, ids: np.ndarray) -> pd.DataFrame:
    """Gender, age band and family status of training clients, in the order of `ids` (from the raw application)."""
    from scoring.fairness import applications_groups_sql

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.register("_ids", pd.DataFrame({ID_COLUMN: ids, "_order": np.arange(len(ids))}))
        groups = con.sql(
            f"SELECT g.* FROM ({applications_groups_sql('raw.application_train', 'raw.application_test')}) AS g "
            f"JOIN _ids USING ({ID_COLUMN}) ORDER BY _ids._order"
        ).df()
    if len(groups) != len(ids):
        raise FeatureStoreError(f"{settings.warehouse_path}: the raw applications lack some training clients.")
    return groups
