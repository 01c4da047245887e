"""Batch scoring on Apache Spark: the champion's probabilities, decisions, points and exact TreeSHAP contributions of
the scored clients of a Spark feature table, written to Spark tables with the schema of DuckDB's scores tables.

The same model object as the DuckDB scorer (registry.load_champion) is broadcast to the executors as LightGBM's
text model with its features, threshold, log-odds offset and points scale; each partition is scored with
`mapInArrow` by the DuckDB scorer's own functions (scoring.score: prediction_rows, shap_contributions,
explanations_table), so both engines compute every number the same way.

Atomicity: Spark's Parquet tables have no transactions across tables, so a run is done in two steps.
1. Stage: every client is scored once into a staging Parquet folder (prediction columns plus the used features'
   values and contributions); any error of the scoring itself (a bad feature, a lost executor) stops the run here,
   before a row reaches the scores tables.
2. Commit: predictions then explanations are appended from the staging folder (each append is one Spark job whose
   files appear only at job commit), then the run's row in scores.runs is appended, 'succeeded' last.
A crash inside step 2 can leave rows of a run without a 'succeeded' run row: readers take the rows of succeeded
runs only (`succeeded_rows`), as DuckDB's readers join scores.runs, and run ids are never reused (the next run id
is above every run id of the three tables), so such rows never become part of a later run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from rich.table import Table

from scoring import score_tables as st
from scoring.points import PointsScale
from scoring.registry import Model, NoChampionError, load_champion
from scoring.score import (
    MODES,
    SCORED_DATASET,
    Scores,
    ScoringError,
    check_finite,
    explanations_table,
    prediction_rows,
    shap_contributions,
)
from warehouse.clock import utc_now
from warehouse.database import private_dir
from warehouse.features import DATASET_COLUMN, FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings
from warehouse.spark_tables import create_spark_table

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

VALUES = "used_values"
CONTRIBUTIONS = "used_contributions"
"""Staging columns: the values and contributions of the features the model uses, in model order."""
SPARK_TABLES = (st.RUNS, st.PREDICTIONS, st.EXPLANATIONS)


@dataclass(frozen=True)
class ModelPayload:
    """What executors need to score: the booster as LightGBM text, features, threshold, offset, points scale."""

    booster: str
    digest: str
    features: list[str]
    threshold: float
    log_odds_offset: float
    name: str
    version: int
    run_id: str
    scale: PointsScale

    @classmethod
    def of(cls, model: Model, scale: PointsScale) -> ModelPayload:
        """The payload of a loaded model."""
        text = model.booster.model_to_string()
        return cls(
            booster=text,
            digest=hashlib.sha256(text.encode()).hexdigest(),
            features=list(model.features),
            threshold=model.threshold,
            log_odds_offset=model.log_odds_offset,
            name=model.name,
            version=model.version,
            run_id=model.run_id,
            scale=scale,
        )

    def model(self) -> Model:
        """The model, parsed once per Python worker (workers are reused across tasks)."""
        return _parsed_model(self)


_PARSED: dict[str, Model] = {}
"""Models parsed in this Python worker, by booster digest."""


def _parsed_model(payload: ModelPayload) -> Model:
    """Parse a payload's booster once per process (keyed by its digest)."""
    if payload.digest not in _PARSED:
        _PARSED.clear()  # one model at a time: a worker never holds old boosters
        _PARSED[payload.digest] = Model(
            booster=lgb.Booster(model_str=payload.booster),
            features=payload.features,
            threshold=payload.threshold,
            name=payload.name,
            version=payload.version,
            run_id=payload.run_id,
            log_odds_offset=payload.log_odds_offset,
        )
    return _PARSED[payload.digest]


@dataclass
class SparkScoreSummary:
    """What a Spark scoring run did and how fast."""

    run_id: int
    mode: str
    model_name: str
    model_version: int
    threshold: float
    model_run_id: str = ""
    """MLflow run id that trained the model."""
    clients_scored: int = 0
    accepted: int = 0
    refused: int = 0
    stage_seconds: float = 0.0
    """Scoring and explaining every client into the staging folder."""
    commit_seconds: float = 0.0
    """Appending predictions, explanations and the run's row."""
    total_seconds: float = 0.0

    def as_table(self) -> Table:
        """A rich table for the CLI."""
        table = Table(title=f"Spark scoring run {self.run_id} ({self.mode})", show_header=False)
        rate = self.clients_scored / self.stage_seconds if self.stage_seconds > 0 else float("nan")
        for name, value in (
            ("model", f"{self.model_name} v{self.model_version}, threshold {self.threshold:.4f}"),
            ("clients scored", f"{self.clients_scored:,}"),
            ("accepted / refused", f"{self.accepted:,} / {self.refused:,}"),
            ("probabilities + SHAP (staged)", f"{self.stage_seconds:.2f} s ({rate:,.0f} clients/s)"),
            ("writing scores.predictions, scores.explanations, scores.runs", f"{self.commit_seconds:.2f} s"),
            ("total", f"{self.total_seconds:.2f} s"),
        ):
            table.add_row(name, value)
        return table


def score_on_spark(
    spark: SparkSession,
    settings: Settings,
    *,
    features_table: str = FEATURES_TABLE,
    mode: str = "new",
    model: Model | None = None,
    partitions: int | None = None,
) -> SparkScoreSummary:
    """Score the clients selected by `mode` ('new' or 'all') of a Spark feature table with the champion (or
    `model`) into the Spark tables scores.runs, scores.predictions and scores.explanations."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    started, started_at = time.perf_counter(), utc_now()
    model = model or _champion(settings)
    if not spark.catalog.tableExists(features_table):
        raise ScoringError(f"No Spark table {features_table}: build the feature store on Spark first.")
    features = spark.table(features_table)
    _check_features(features, features_table, model)
    _create_tables(spark, features.schema[FEATURE_HASH_COLUMN].dataType)
    summary = SparkScoreSummary(_next_run_id(spark), mode, model.name, model.version, model.threshold, model.run_id)
    staging = _staging_dir(settings, summary.run_id)
    try:
        clients = _select_clients(spark, features, model, mode)
        clients = clients.repartition(partitions or spark.sparkContext.defaultParallelism)
        payload = spark.sparkContext.broadcast(ModelPayload.of(model, PointsScale.from_settings(settings)))
        _stage(spark, clients, payload, summary, staging)
        _commit(spark, [model.features[i] for i in model.used_features()], summary, staging)
        _record_run(spark, summary, started_at)
    except BaseException as error:
        _record_failure(spark, summary, started_at, error)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.total_seconds = time.perf_counter() - started
    return summary


def succeeded_rows(spark: SparkSession, table: st.TableDoc) -> DataFrame:
    """The rows of a Spark scores table (predictions, explanations) that belong to succeeded runs."""
    runs = spark.table(st.RUNS.qualified).where("status = 'succeeded'").select("run_id")
    return spark.table(table.qualified).join(runs, "run_id", "left_semi").select(*_quoted(table.column_names))


def _champion(settings: Settings) -> Model:
    """The registered champion, or ScoringError saying how to get one."""
    try:
        return load_champion(settings)
    except NoChampionError as error:
        raise ScoringError(str(error)) from error


def _check_features(features: DataFrame, name: str, model: Model) -> None:
    """Fail clearly when the feature table lacks the id, hash, data set or model feature columns."""
    columns = set(features.columns)
    missing = [c for c in (ID_COLUMN, FEATURE_HASH_COLUMN, DATASET_COLUMN, *model.features) if c not in columns]
    if missing:
        raise ScoringError(
            f"Spark table {name} lacks {len(missing)} column(s) that model {model.name} v{model.version} needs: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}."
        )


def _create_tables(spark: SparkSession, hash_type: DataType) -> None:
    """Create the Spark scores tables from their TableDoc declarations (FEATURE_HASH typed as the feature table's)."""
    for table in SPARK_TABLES:
        create_spark_table(spark, table, {"hash_type": hash_type})


def _next_run_id(spark: SparkSession) -> int:
    """One above every run id of runs, predictions and explanations (rows of a crashed run keep theirs)."""
    every = " UNION ALL ".join(f"SELECT max(run_id) AS run_id FROM {t.qualified}" for t in SPARK_TABLES)
    row = spark.sql(f"SELECT coalesce(max(run_id), 0) + 1 FROM ({every})").first()
    return int(row[0]) if row is not None else 1


def _staging_dir(settings: Settings, run_id: int) -> Path:
    """The staging folder of a run (owner-only); stale ones of killed runs are removed first."""
    root = private_dir(settings.spark_dir / "staging" / "scores")
    for stale in root.iterdir():
        shutil.rmtree(stale, ignore_errors=True)
    return root / f"run-{run_id}"


def _select_clients(spark: SparkSession, features: DataFrame, model: Model, mode: str) -> DataFrame:
    """Ids, feature hashes and features (as DOUBLE, model order) of the clients to score."""
    from pyspark.sql import functions as F

    clients = features.where(F.col(DATASET_COLUMN) == SCORED_DATASET)
    if mode == "new":
        done = (
            succeeded_rows(spark, st.PREDICTIONS)
            .join(spark.table(st.RUNS.qualified).where(F.col("model_name") == model.name), "run_id", "left_semi")
            .where(F.col("model_version") == model.version)
            .select(ID_COLUMN, FEATURE_HASH_COLUMN)
        )
        clients = clients.join(done, [ID_COLUMN, FEATURE_HASH_COLUMN], "left_anti")
    casts = [f"CAST(`{name}` AS DOUBLE) AS `{name}`" for name in model.features]  # one call, not 3 per feature
    return clients.selectExpr(f"CAST({ID_COLUMN} AS BIGINT) AS {ID_COLUMN}", FEATURE_HASH_COLUMN, *casts)


def _stage(
    spark: SparkSession,
    clients: DataFrame,
    payload: Broadcast[ModelPayload],
    summary: SparkScoreSummary,
    staging: Path,
) -> None:
    """Score and explain every client once into the staging folder, and count the decisions."""
    tick = time.perf_counter()
    schema = _staging_schema(spark, clients.schema[FEATURE_HASH_COLUMN].dataType)
    score = functools.partial(_score_batches, payload=payload, run_id=summary.run_id, scored_at=utc_now())
    with arrow_only():
        clients.mapInArrow(score, schema).write.parquet(str(staging))
    counts = {
        row["decision"]: int(row["count"])
        for row in spark.read.parquet(str(staging)).groupBy("decision").count().collect()
    }
    summary.accepted, summary.refused = counts.get("accept", 0), counts.get("refuse", 0)
    summary.clients_scored = summary.accepted + summary.refused
    summary.stage_seconds = time.perf_counter() - tick


def _staging_schema(spark: SparkSession, hash_type: DataType) -> StructType:
    """Prediction columns, then the used features' values and contributions as arrays."""
    from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

    from warehouse.spark_tables import spark_schema

    predictions = spark_schema(st.PREDICTIONS, {"hash_type": hash_type})
    arrays = [StructField(name, ArrayType(DoubleType(), containsNull=True)) for name in (VALUES, CONTRIBUTIONS)]
    return StructType([*predictions.fields, *arrays])


def _score_batches(
    batches: Iterator[pa.RecordBatch], payload: Broadcast[ModelPayload], run_id: int, scored_at: datetime
) -> Iterator[pa.RecordBatch]:
    """On an executor: score and explain each batch of clients with the broadcast model (staging rows)."""
    model = payload.value.model()
    used = model.used_features()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        ids = batch.column(ID_COLUMN).to_numpy()
        X = np.column_stack([batch.column(name).to_numpy(zero_copy_only=False) for name in model.features])
        check_finite(X, ids, model.features)
        scores = Scores(ids, batch.column(FEATURE_HASH_COLUMN), model.probability(X), shap_contributions(model, X))
        rows = prediction_rows(model, run_id, scores, scored_at, payload.value.scale)
        rows = rows.append_column(VALUES, _rows_of(X[:, used])).append_column(
            CONTRIBUTIONS, _rows_of(scores.contributions[:, used])
        )
        yield from rows.to_batches()


def _rows_of(matrix: np.ndarray) -> pa.ListArray:
    """A list per row of a matrix (NaN becomes NULL)."""
    n, p = matrix.shape
    offsets = pa.array(np.arange(0, n * p + 1, p, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), type=pa.float64(), from_pandas=True))


def _commit(spark: SparkSession, used: list[str], summary: SparkScoreSummary, staging: Path) -> None:
    """Append the staged predictions, then their explanations (of the `used` features), to the scores tables."""
    tick = time.perf_counter()
    staged = spark.read.parquet(str(staging))
    staged.select(*_quoted(st.PREDICTIONS.column_names)).write.insertInto(st.PREDICTIONS.qualified)
    explain = functools.partial(_explanation_batches, run_id=summary.run_id, features=used)
    schema = spark.table(st.EXPLANATIONS.qualified).schema
    with arrow_only():
        explained = staged.select(ID_COLUMN, VALUES, CONTRIBUTIONS).mapInArrow(explain, schema)
    explained.write.insertInto(st.EXPLANATIONS.qualified)
    summary.commit_seconds = time.perf_counter() - tick


def _explanation_batches(
    batches: Iterator[pa.RecordBatch], run_id: int, features: list[str]
) -> Iterator[pa.RecordBatch]:
    """On an executor: the long-format, ranked explanations of staged clients (the DuckDB scorer's function)."""
    for batch in batches:
        n, p = batch.num_rows, len(features)
        if n == 0:
            continue
        values = batch.column(VALUES).flatten().to_numpy(zero_copy_only=False).reshape(n, p)
        contributions = batch.column(CONTRIBUTIONS).flatten().to_numpy(zero_copy_only=False).reshape(n, p)
        table = explanations_table(run_id, batch.column(ID_COLUMN).to_numpy(), values, contributions, features)
        yield from table.set_column(2, "feature", table.column("feature").cast(pa.string())).to_batches()


def _record_run(
    spark: SparkSession, summary: SparkScoreSummary, started_at: datetime, error: BaseException | None = None
) -> None:
    """Append the run's row to scores.runs: 'succeeded' with its counts, or 'failed' with the error."""
    row = {
        "run_id": summary.run_id,
        "model_name": summary.model_name,
        "model_version": summary.model_version,
        "model_run_id": summary.model_run_id,
        "threshold": summary.threshold,
        "mode": summary.mode,
        "started_at": started_at,
        "finished_at": utc_now(),
        "clients_scored": 0 if error else summary.clients_scored,
        "accepted": 0 if error else summary.accepted,
        "refused": 0 if error else summary.refused,
        "status": "failed" if error else "succeeded",
        "error": f"{type(error).__name__}: {error}"[:2000] if error else None,
    }
    schema = spark.table(st.RUNS.qualified).schema
    spark.createDataFrame([tuple(row[name] for name in st.RUNS.column_names)], schema).write.insertInto(
        st.RUNS.qualified
    )


def _record_failure(
    spark: SparkSession, summary: SparkScoreSummary, started_at: datetime, error: BaseException
) -> None:
    """Record a failed run if Spark still can; never hide the original error."""
    with contextlib.suppress(Exception):  # the scoring error matters, not a failure to record it
        _record_run(spark, summary, started_at, error)


@contextlib.contextmanager
def arrow_only() -> Iterator[None]:
    """Silence pyspark's warning about pandas 3 around Arrow-only calls (mapInArrow checks for pandas, never uses
    it here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        yield


def _quoted(names: list[str]) -> list[str]:
    """Column names quoted for Spark's select."""
    return [f"`{name}`" for name in names]
