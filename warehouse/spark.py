"""Apache Spark for the warehouse: one configuration for every Spark session (dbt's, the lake export's, the
scorer's), so they all see the same tables, metastore and lake.

Spark keeps everything under Settings.spark_dir (owner-only, as the DuckDB file):
- lake/: the validated raw tables as Parquet, one folder per table, partitioned by ingest load (`_load_id`);
- tables/: Spark's managed tables (the feature store and score tables built on Spark);
- metastore/: the Hive metastore (embedded Derby) naming those tables;
- tmp/: shuffle and spill files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.database import private_dir
from warehouse.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


LOOPBACK = "127.0.0.1"
"""This machine's own address: where its Spark listens unless SPARK_LOCAL_IP says otherwise."""


def lake_dir(settings: Settings) -> Path:
    """The Parquet lake of validated raw tables."""
    return settings.spark_dir / "lake"


def spark_conf(settings: Settings, master: str | None = None) -> dict[str, str]:
    """The Spark configuration of this warehouse, for `master` (default: Settings.spark_master)."""
    home = private_dir(settings.spark_dir)
    metastore = home / "metastore"
    return {
        "spark.master": master or settings.spark_master,
        "spark.app.name": "credit-scoring",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.warehouse.dir": str(home / "tables"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={home} -Dderby.stream.error.file={home / 'derby.log'}",
        "spark.local.dir": str(home / "tmp"),
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # The raw tables are partitioned by the integer _load_id; embedded Derby cannot filter integer partitions,
        # so Spark reads the (few: one per load) partitions' list and prunes them itself.
        "spark.sql.hive.metastorePartitionPruning": "false",
        # dbt-spark turns ANSI mode off in its sessions; every session of the warehouse computes the same way.
        "spark.sql.ansi.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def spark_environment(environment: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables every Spark process of the warehouse runs with, given the current `environment`."""
    return {
        "PYSPARK_PYTHON": sys.executable,  # Spark's Python workers run this interpreter, the one with the scorer
        "SPARK_LOCAL_IP": environment.get("SPARK_LOCAL_IP", LOOPBACK),  # by default, Spark binds the loopback only
    }


def spark_session(settings: Settings, master: str | None = None) -> SparkSession:
    """A Spark session on this warehouse's metastore and lake (the running one if this process has one)."""
    from pyspark.sql import SparkSession

    os.environ.update(spark_environment())
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings, master).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
