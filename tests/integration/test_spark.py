"""The feature store on Apache Spark: the same dbt project builds features.client_features on Spark, equal to
DuckDB's for every client and column, and a nightly batch built incrementally on both engines stays equal while
Spark rewrites only the partitions of the batch's new clients.

One Spark session at a time holds the embedded metastore, so Spark's tables are read here from their Parquet files
(by DuckDB), never through a second Spark session."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from featurestore.build import BuildResult, build_features, spark_table_dir
from featurestore.lake import exported_loads
from ingest.load import ingest_folder
from tests.conftest import copy_home
from warehouse.features import FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN, KEY_RANGE_COLUMN
from warehouse.settings import Settings
from warehouse.spark import lake_dir

pytestmark = [
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Spark needs a Java runtime (`make java` installs Debian's Java 17)"
    ),
    # the module's fixture builds the feature store three times (Spark, then a night on DuckDB and on the cluster)
    pytest.mark.timeout(1800),
]

BATCH_APPLICATIONS = 40
INCREMENTAL_TABLES = (
    "intermediate.int_application__clients",
    "intermediate.int_bureau__per_client",
    "intermediate.int_bureau_balance__per_credit",
    "intermediate.int_previous__per_client",
    "intermediate.int_installments__per_client",
    "intermediate.int_pos__per_prev",
    FEATURES_TABLE,
)

Partitions = dict[str, dict[str, frozenset[str]]]
"""Per Spark table, its partition folders and the data files in each."""


@dataclass(frozen=True)
class Snapshot:
    """client_features as each engine built it, with the Spark build's result, time and partition files."""

    duckdb: pd.DataFrame
    spark: pd.DataFrame
    spark_build: BuildResult
    duckdb_build: BuildResult | None
    spark_seconds: float
    partitions: Partitions
    lake: dict[str, dict[int, frozenset[tuple[str, int]]]]


@dataclass(frozen=True)
class Builds:
    """The full builds, then the nightly batch's incremental builds, of one warehouse on both engines."""

    settings: Settings
    full: Snapshot
    nightly: Snapshot
    batch_clients: frozenset[int]
    cluster_apps: list[dict[str, Any]]
    """The applications the standalone cluster ran (the nightly Spark build was submitted to it)."""


def duckdb_features(settings: Settings) -> pd.DataFrame:
    """client_features of the DuckDB warehouse, indexed by client."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(f"select * from {FEATURES_TABLE}").df().set_index(ID_COLUMN).sort_index()


def spark_features(settings: Settings) -> pd.DataFrame:
    """client_features of the Spark tables, read from its Parquet files (the partition column last), by client."""
    files = f"{spark_table_dir(settings, FEATURES_TABLE)}/*/*.parquet"
    return (
        duckdb.execute("select * from read_parquet(?, hive_partitioning = true)", [files])
        .df()
        .set_index(ID_COLUMN)
        .sort_index()
    )


def partition_files(settings: Settings) -> Partitions:
    """The data files of every partition of the incremental Spark tables (Spark names each file it writes anew)."""
    return {
        table: {
            folder.name: frozenset(f.name for f in folder.glob("*.parquet"))
            for folder in spark_table_dir(settings, table).glob(f"{KEY_RANGE_COLUMN}=*")
        }
        for table in INCREMENTAL_TABLES
    }


def build_both(settings: Settings, *, duckdb_too: bool = True, master: str | None = None) -> Snapshot:
    """Build the feature store on Spark at `master` (and, unless it is built already, on DuckDB) and read both."""
    duckdb_build = build_features(settings) if duckdb_too else None
    started = time.perf_counter()
    spark_build = build_features(settings, engine="spark", master=master)
    seconds = time.perf_counter() - started
    return Snapshot(
        duckdb_features(settings),
        spark_features(settings),
        spark_build,
        duckdb_build,
        seconds,
        partition_files(settings),
        lake_files(settings),
    )


def lake_files(settings: Settings) -> dict[str, dict[int, frozenset[tuple[str, int]]]]:
    """Per table of the lake, its load folders and their files with their modification times."""
    lake = lake_dir(settings)
    return {
        table.name: {
            load: frozenset((f.name, f.stat().st_mtime_ns) for f in (table / f"_load_id={load}").iterdir())
            for load in exported_loads(table)
        }
        for table in lake.iterdir()
    }


@pytest.fixture(scope="module")
def builds(feature_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Builds:
    """A copy of the session's feature warehouse built on local Spark, then a nightly batch built on DuckDB and on a
    standalone Spark cluster (a master and two workers on this machine: the build runs on separate executors)."""
    from generator.dataset import generate_batch
    from warehouse.spark_cluster import SparkCluster

    settings = copy_home(feature_warehouse, tmp_path_factory.mktemp("spark_warehouse"))
    full = build_both(settings, duckdb_too=False)
    batch = tmp_path_factory.mktemp("spark_batch")
    generate_batch(batch, date(2026, 11, 23), BATCH_APPLICATIONS, seed=3, drift=False)
    assert ingest_folder(batch, settings, progress=False).committed
    clients = frozenset(
        int(i) for name in ("application_train", "application_test") for i in _ids(batch / f"{name}.csv")
    )
    with SparkCluster(settings, workers=2, memory="1g") as cluster:
        nightly = build_both(settings, master=cluster.master_url)
        state = cluster.state() or {}
    return Builds(settings, full, nightly, clients, state.get("completedapps", []) + state.get("activeapps", []))


def _ids(csv: Path) -> list[int]:
    """The SK_ID_CURR column of a batch file (empty when the batch has no such file)."""
    return pd.read_csv(csv, usecols=[ID_COLUMN])[ID_COLUMN].tolist() if csv.exists() else []


def assert_same_features(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    """The same clients and columns; numbers equal within 1e-9 relative, NULLs in the same places, strings equal."""
    assert list(spark.index) == list(duck.index)
    assert list(spark.columns) == [*duck.columns, KEY_RANGE_COLUMN]
    differing = []
    for column in duck.columns.drop(FEATURE_HASH_COLUMN):
        left, right = duck[column], spark[column]
        if not (pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right)):
            same = (left.isna() & right.isna()) | (left == right)
        else:
            a, b = left.astype(float).to_numpy(), right.astype(float).to_numpy()
            same = np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True) & (np.isnan(a) == np.isnan(b))
        if not np.all(same):
            differing.append(f"{column}: {int((~np.asarray(same)).sum())} clients")
    assert not differing, f"{len(differing)} columns differ between DuckDB and Spark: {differing[:10]}"


def test_spark_builds_the_same_features_as_duckdb(builds: Builds) -> None:
    assert {m.status for m in builds.full.spark_build.models} == {"success"}
    assert {t.status for t in builds.full.spark_build.tests} == {"pass"}
    assert len(builds.full.spark) > 0
    assert_same_features(builds.full.duckdb, builds.full.spark)


def test_feature_hash_on_spark_tells_clients_apart(builds: Builds) -> None:
    """xxhash64 of the feature values (another function than DuckDB's hash): set, and one per distinct client."""
    hashes = builds.full.spark[FEATURE_HASH_COLUMN]
    assert hashes.notna().all() and hashes.nunique() == len(hashes)


def test_nightly_batch_on_spark_equals_duckdb(builds: Builds) -> None:
    nightly = builds.nightly
    assert builds.batch_clients and builds.batch_clients <= set(nightly.spark.index)
    assert_same_features(nightly.duckdb, nightly.spark)
    assert nightly.duckdb_build is not None
    assert nightly.spark_build.rows_processed == nightly.duckdb_build.rows_processed
    assert nightly.spark_build.rows_processed[FEATURES_TABLE.split(".")[1]] == len(builds.batch_clients)


def test_nightly_build_ran_on_the_standalone_cluster(builds: Builds) -> None:
    """dbt's Spark session was an application of the cluster, whose executors had the workers' cores."""
    apps = [app for app in builds.cluster_apps if app.get("name") == "credit-scoring"]
    assert apps, f"no credit-scoring application on the cluster: {builds.cluster_apps}"
    assert all(app.get("cores", 0) >= 1 for app in apps)


def test_nightly_batch_on_spark_rewrites_only_its_partitions(builds: Builds) -> None:
    """The base clients' partitions keep their files; the batch's new clients land in partitions of their own."""
    before, after = builds.full.partitions, builds.nightly.partitions
    for table in INCREMENTAL_TABLES:
        assert before[table], f"{table}: no partitions"
        for partition, files in before[table].items():
            assert after[table][partition] == files, f"{table}: partition {partition} was rewritten"
        assert set(after[table]) > set(before[table]), f"{table}: the batch added no partition"
    new_clients = builds.nightly.spark[~builds.nightly.spark.index.isin(builds.full.spark.index)]
    assert set(new_clients.index) == builds.batch_clients
    assert set(new_clients[KEY_RANGE_COLUMN]).isdisjoint(builds.full.spark[KEY_RANGE_COLUMN])


def test_lake_export_adds_only_new_loads(builds: Builds) -> None:
    """The nightly export added the batch's load folders, owner-only, and left the earlier ones' files alone."""
    before, after = builds.full.lake, builds.nightly.lake
    assert before["application_test"] and before["bureau"]
    for table, loads in before.items():
        assert all(after[table][load] == files for load, files in loads.items()), f"{table}: a load was rewritten"
    assert set(after["application_test"]) > set(before["application_test"])
    lake = lake_dir(builds.settings)
    assert all(p.stat().st_mode & 0o077 == 0 for p in [lake, *lake.rglob("*")])
