"""The scorer on Spark gives the DuckDB scorer's numbers, in-process (local[2]) and on a real two-worker standalone
cluster; a failed Spark run leaves no rows behind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pytest

from scoring import score_tables as st
from scoring.registry import load_champion
from scoring.score import SCORED_DATASET, ScoringError
from scoring.spark_score import score_on_spark
from tests.conftest import copy_home
from warehouse.features import DATASET_COLUMN, FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Apache Spark needs Java: `make java` installs Debian's Java 17"
    ),
    pytest.mark.timeout(1200),  # a JVM, then a standalone cluster, start on 2 cores
]

TRAIN_CLIENTS = 50
"""Labelled clients exported beside the scored ones: the scorer must leave them out."""


@pytest.fixture(scope="module")
def spark_warehouse(served_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the served warehouse whose feature table is also exported as Parquet for Spark."""
    settings = copy_home(served_warehouse, tmp_path_factory.mktemp("spark_score"))
    _export_features(settings, _features_parquet(settings))
    return settings


@pytest.fixture(scope="module")
def local_spark(spark_warehouse: Settings) -> Iterator[SparkSession]:
    """A local[2] Spark session shared by the local tests, with features.client_features registered."""
    spark = _fresh_session(spark_warehouse)
    _register_features(spark, _features_parquet(spark_warehouse))
    yield spark
    spark.stop()


def test_local_spark_scores_as_duckdb(spark_warehouse: Settings, local_spark: SparkSession) -> None:
    """In-process Spark: every prediction and explanation equals the DuckDB scorer's; 'new' then scores nobody."""
    summary = score_on_spark(local_spark, spark_warehouse, mode="all")
    print(f"local[2]: {summary}")
    expected_predictions, expected_explanations = _duckdb_scores(spark_warehouse)
    assert summary.clients_scored == len(expected_predictions) > 0
    _assert_same_scores(local_spark, summary.run_id, expected_predictions, expected_explanations)
    _assert_same_columns(local_spark, spark_warehouse)
    again = score_on_spark(local_spark, spark_warehouse, mode="new")
    assert again.clients_scored == 0 and again.run_id == summary.run_id + 1


def test_failed_spark_run_leaves_no_rows(spark_warehouse: Settings, local_spark: SparkSession) -> None:
    """A run that fails while scoring (an infinite feature) is recorded 'failed' and writes no score rows."""
    from pyspark.sql import functions as F

    first_feature = load_champion(spark_warehouse).features[0]
    broken = local_spark.table(FEATURES_TABLE).withColumn(first_feature, F.lit(float("inf")))
    broken.createOrReplaceTempView("broken_features")
    with pytest.raises(Exception, match="infinite values"):
        score_on_spark(local_spark, spark_warehouse, features_table="broken_features", mode="all")
    failed = local_spark.table(st.RUNS.qualified).where("status = 'failed'").collect()
    assert failed and "infinite values" in failed[-1]["error"]
    run_id = failed[-1]["run_id"]
    for table in (st.PREDICTIONS, st.EXPLANATIONS):
        assert local_spark.table(table.qualified).where(f"run_id = {run_id}").count() == 0


def test_missing_features_are_a_clear_error(spark_warehouse: Settings, local_spark: SparkSession) -> None:
    """A missing feature table, or one without the model's features, fails before any run is recorded."""
    with pytest.raises(ScoringError, match="No Spark table"):
        score_on_spark(local_spark, spark_warehouse, features_table="features.nowhere")
    local_spark.table(FEATURES_TABLE).select(ID_COLUMN).createOrReplaceTempView("ids_only")
    with pytest.raises(ScoringError, match="lacks"):
        score_on_spark(local_spark, spark_warehouse, features_table="ids_only")


def test_cluster_scores_as_duckdb(spark_warehouse: Settings) -> None:
    """On a standalone master with two one-core workers (separate executor JVMs and Python workers), the scores
    are again the DuckDB scorer's."""
    from warehouse.spark_cluster import SparkCluster

    with SparkCluster(spark_warehouse, workers=2, memory="1g") as cluster:
        spark = _fresh_session(spark_warehouse, cluster.master_url)
        try:
            _register_features(spark, _features_parquet(spark_warehouse))
            summary = score_on_spark(spark, spark_warehouse, mode="all", partitions=2)
            print(f"cluster: {summary}")
            state = cluster.state()
            assert state is not None and state["aliveworkers"] == 2 and state["coresused"] == 2
            _assert_same_scores(spark, summary.run_id, *_duckdb_scores(spark_warehouse))
        finally:
            spark.stop()
    assert not cluster.processes


def _features_parquet(settings: Settings) -> Path:
    """Where the test glue puts DuckDB's feature table as Parquet."""
    return settings.spark_dir / "export" / "client_features.parquet"


def _export_features(settings: Settings, path: Path) -> None:
    """Write DuckDB's scored clients and a few labelled ones as Parquet (the production path is dbt on Spark)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute(
            f"""COPY (SELECT * FROM {FEATURES_TABLE} WHERE {DATASET_COLUMN} = '{SCORED_DATASET}'
                      UNION ALL
                      (SELECT * FROM {FEATURES_TABLE} WHERE {DATASET_COLUMN} <> '{SCORED_DATASET}'
                       ORDER BY {ID_COLUMN} LIMIT {TRAIN_CLIENTS}))
                TO '{path}' (FORMAT parquet)"""
        )


def _fresh_session(settings: Settings, master: str | None = None) -> SparkSession:
    """A new Spark session for `settings` (stopping one this process may already run)."""
    from pyspark.sql import SparkSession

    from warehouse.spark import spark_session

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    return spark_session(settings, master)


def _register_features(spark: SparkSession, path: Path) -> None:
    """Name the exported Parquet features.client_features in the metastore (once)."""
    spark.sql("CREATE DATABASE IF NOT EXISTS features")
    if not spark.catalog.tableExists(FEATURES_TABLE):
        spark.catalog.createTable(FEATURES_TABLE, path=str(path), source="parquet")


def _duckdb_scores(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The DuckDB scorer's predictions and explanations of the fixture's run."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        predictions = con.sql(
            "SELECT * EXCLUDE (run_id, scored_at) REPLACE (CAST(FEATURE_HASH AS VARCHAR) AS FEATURE_HASH) "
            f"FROM {st.PREDICTIONS.qualified}"
        ).df()
        explanations = con.sql(f"SELECT * EXCLUDE (run_id) FROM {st.EXPLANATIONS.qualified}").df()
    return predictions, explanations


def _spark_scores(spark: SparkSession, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Spark scorer's predictions and explanations of a run."""
    frames = []
    for table in (st.PREDICTIONS, st.EXPLANATIONS):
        rows = spark.table(table.qualified).where(f"run_id = {run_id}").drop("run_id", "scored_at")
        frames.append(rows.toArrow().to_pandas())
    predictions, explanations = frames
    predictions["FEATURE_HASH"] = predictions["FEATURE_HASH"].map(lambda h: str(int(h)))
    return predictions, explanations


def _assert_same_scores(
    spark: SparkSession, run_id: int, expected_predictions: pd.DataFrame, expected_explanations: pd.DataFrame
) -> None:
    """The Spark run's rows equal the DuckDB scorer's: probabilities and contributions within 1e-9, the rest exact."""
    predictions, explanations = _spark_scores(spark, run_id)
    both = expected_predictions.merge(predictions, on=ID_COLUMN, how="outer", suffixes=("", "_spark"))
    assert len(both) == len(expected_predictions) == len(predictions)
    np.testing.assert_allclose(both["probability_spark"], both["probability"], rtol=1e-9, atol=0)
    for column in ("raw_score", "base_value", "points"):
        np.testing.assert_allclose(both[f"{column}_spark"], both[column], rtol=1e-9, atol=1e-9)
    for column in ("decision", "threshold", "model_version", "FEATURE_HASH"):
        assert (both[f"{column}_spark"] == both[column]).all(), column
    keys = [ID_COLUMN, "feature"]
    pairs = expected_explanations.merge(explanations, on=keys, how="outer", suffixes=("", "_spark"))
    assert len(pairs) == len(expected_explanations) == len(explanations)
    np.testing.assert_allclose(pairs["contribution_spark"], pairs["contribution"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(pairs["value_spark"].to_numpy(float), pairs["value"].to_numpy(float))
    assert (pairs["rank_spark"] == pairs["rank"]).all()


def _assert_same_columns(spark: SparkSession, settings: Settings) -> None:
    """The Spark tables have DuckDB's columns in DuckDB's order."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for table in (st.RUNS, st.PREDICTIONS, st.EXPLANATIONS):
            duck = [row[0] for row in con.execute(f"DESCRIBE {table.qualified}").fetchall()]
            assert spark.table(table.qualified).columns == duck == table.column_names


def test_a_worker_that_cannot_start_is_a_clear_error(settings: Settings) -> None:
    """A worker that exits at start fails the cluster's start with its log file named, and nothing is left running."""
    from warehouse.spark_cluster import ClusterStartError, SparkCluster

    cluster = SparkCluster(settings, workers=1, memory="plenty")
    with pytest.raises(ClusterStartError, match=r"worker-1 exited .* see .*worker-1\.log"):
        cluster.start()
    assert not cluster.processes
