"""The nodes of the nightly pipeline (see `scheduler.nightly.PIPELINE`): the one place the night calls the jobs.

Each node calls one job (ingest, feature build, scoring, drift, publication) with the inputs the pipeline names
and reduces what it returns to what the run history records (rows in, rows out), plus the value other nodes
take as input. When a job's signature changes, fix it here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring import drift
from scheduler.history import JobRun
from warehouse.database import one_row, open_warehouse
from warehouse.features import FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings

BATCH_APPLICATIONS = "application_test.csv"
"""The file of a nightly batch that lists its new clients (Kaggle layout)."""


@dataclass(frozen=True)
class Counts:
    """Rows a step read and wrote, as ops.job_steps records them (None where it does not apply)."""

    rows_in: int | None = None
    rows_out: int | None = None
    load_id: int | None = None
    """The ingest load that brought the rows (ingest step only)."""
    value: Any = None
    """What the node hands to the nodes after it (the pipeline names it: its `output`)."""


def batch_client_ids(folder: Path) -> np.ndarray:
    """The SK_ID_CURR of every application in a batch folder."""
    path = folder / BATCH_APPLICATIONS
    ids = pd.read_csv(path, usecols=[ID_COLUMN], encoding="utf-8-sig")[ID_COLUMN]
    return ids.to_numpy(dtype=np.int64)


def ingest_batch(settings: Settings, batch: Path, done: Path) -> Counts:
    """Load a batch folder into the warehouse's raw tables (all of it or nothing); its value: the new clients."""
    from ingest.files import IngestError
    from ingest.load import ingest_folder

    if done.exists():
        raise FileExistsError(
            f"the batch of {batch.name} was already processed into {done}; "
            f"remove {batch} (or {done} to process it again)"
        )
    client_ids = batch_client_ids(batch)
    report = ingest_folder(batch, settings, progress=False)
    if not report.committed:
        problems = "; ".join(f"{f.file_name}: {f.message}" for f in report.rejected_files)
        raise IngestError(f"batch {batch} rejected, the warehouse is unchanged: {problems}")
    return Counts(
        rows_in=sum(f.rows_read for f in report.files),
        rows_out=sum(f.rows_loaded for f in report.files),
        load_id=report.load_id,
        value=client_ids,
    )


def build_features(settings: Settings) -> Counts:
    """Bring the feature store up to date with the raw tables (incrementally): clients in all, rebuilt."""
    from featurestore.build import build_features as build

    result = build(settings)
    rebuilt = result.rows_processed.get(FEATURES_TABLE.split(".")[-1])
    return Counts(rows_in=_count(settings, FEATURES_TABLE), rows_out=rebuilt)


def score_new(settings: Settings) -> Counts:
    """Score every client of the feature store that has no score from the champion yet (not published)."""
    from scoring.score import score

    summary = score(settings, mode="new", publish_results=False)
    return Counts(rows_in=summary.clients_scored, rows_out=summary.clients_scored)


def publish(settings: Settings) -> Counts:
    """Publish the serving database (atomic replacement of the file analysts read)."""
    from scoring.publish import publish as publish_serving

    summary = publish_serving(settings)
    return Counts(rows_out=sum(summary.rows.values()))


def check_drift(settings: Settings, run: JobRun, client_ids: np.ndarray | None) -> Counts:
    """Compare a batch's clients (None: the whole test set) with the training population; the run carries the
    alerts, the value is the drift result."""
    assert run.run_id is not None, "a recorded run"
    if client_ids is None:
        result = drift.check_test_set(settings, run.run_id)
    else:
        result = drift.check_batch(settings, run.run_id, client_ids, run.night)
    run.alerts = [a.message for a in result.alerts]
    return Counts(rows_in=result.current_rows, rows_out=len(result.columns), value=result)


def check_fairness(settings: Settings, run: JobRun, client_ids: np.ndarray) -> Counts:
    """Measure the batch's decisions per gender, age band and family status (monitoring.fairness); a group failing
    the four-fifths rule becomes an alert of the run."""
    from monitoring.fairness import check_fairness as check

    result = check(settings, client_ids, run.night, run.run_id)
    if not result.failing.empty:
        run.alerts = [*run.alerts, result.summary()]
    return Counts(rows_in=len(client_ids), rows_out=len(result.table))


def archive(run: JobRun, batch: Path, done: Path, client_ids: np.ndarray) -> Counts:
    """Move the batch out of the inbox, so it is never scored twice."""
    done.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(batch, done)
    run.batch_folder = done
    return Counts(rows_in=len(client_ids), rows_out=len(client_ids))


def score_counts(settings: Settings) -> dict[int, int]:
    """How many scores each client got from successful scoring runs (client id -> count)."""
    from scoring.score_tables import PREDICTIONS, RUNS

    with open_warehouse(settings.warehouse_path) as con:
        return dict(
            con.execute(
                f"SELECT p.{ID_COLUMN}, count(*) FROM {PREDICTIONS.qualified} AS p "
                f"JOIN {RUNS.qualified} AS r USING (run_id) WHERE r.status = 'succeeded' "
                "GROUP BY ALL"
            ).fetchall()
        )


def _count(settings: Settings, table: str) -> int:
    """Rows of a warehouse table."""
    with open_warehouse(settings.warehouse_path) as con:
        return one_row(con, f"SELECT count(*) FROM {table}")[0]
