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

from scheduler.history import JobRun
from warehouse.database import one_row, open_warehouse
from warehouse.features import FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings

NEW_APPLICATIONS = "application_test"
"""The raw table of a nightly batch's new applications (Kaggle layout): the clients a night scores."""


class BatchRejected(RuntimeError):
    """A batch that retrying cannot help: every one of its applications was quarantined."""


@dataclass(frozen=True)
class Counts:
    """Rows a step read and wrote, as ops.job_steps records them (None where it does not apply)."""

    rows_in: int | None = None
    rows_out: int | None = None
    load_id: int | None = None
    """The ingest load that brought the rows (ingest step only)."""
    value: Any = None
    """What the node hands to the nodes after it (the pipeline names it: its `output`)."""


def ingest_batch(settings: Settings, batch: Path, done: Path) -> Counts:
    """Load a batch folder into the warehouse's raw tables (all of it or nothing); its value: the ids of the new
    applications it brought, as stored (a batch loaded before, by a run that did not finish, counts too)."""
    from ingest.files import IngestError
    from ingest.load import ingest_folder

    if done.exists():
        raise FileExistsError(
            f"the batch of {batch.name} was already processed into {done}; "
            f"remove {batch} (or {done} to process it again)"
        )
    report = ingest_folder(batch, settings, progress=False)
    if not report.committed:
        problems = "; ".join(f.message for f in report.rejected_files)
        raise IngestError(f"batch {batch} rejected, the warehouse is unchanged: {problems}")
    applications = [f for f in report.files if f.table_name == NEW_APPLICATIONS]
    client_ids = _stored_ids(settings, [f.rows_load_id for f in applications])
    if applications and not len(client_ids):
        raise BatchRejected(_all_quarantined(settings, applications[0].rows_load_id))
    return Counts(
        rows_in=sum(f.rows_read for f in report.files),
        rows_out=sum(f.rows_loaded for f in report.files),
        load_id=report.load_id,
        value=client_ids,
    )


def night_clients(settings: Settings, folder: Path) -> np.ndarray:
    """The ids of the new applications a batch folder brought, as stored (found by the file's checksum)."""
    from ingest.files import checksum

    paths = [p for p in (folder / f"{NEW_APPLICATIONS}.csv", folder / f"{NEW_APPLICATIONS}.csv.gz") if p.is_file()]
    with open_warehouse(settings.warehouse_path) as con:
        loads = [
            one_row(
                con,
                "SELECT min(load_id) FROM audit.loads WHERE table_name = ? AND checksum = ? AND status = 'loaded'",
                [NEW_APPLICATIONS, checksum(path)],
            )[0]
            for path in paths
        ]
    return _stored_ids(settings, loads)


def _stored_ids(settings: Settings, load_ids: list[int | None]) -> np.ndarray:
    """SK_ID_CURR of the new applications the given loads stored."""
    loads = [load for load in load_ids if load is not None]
    if not loads:
        return np.array([], dtype=np.int64)
    with open_warehouse(settings.warehouse_path) as con:
        rows = con.execute(
            f"SELECT {ID_COLUMN} FROM raw.{NEW_APPLICATIONS} WHERE _load_id IN (SELECT unnest(?::BIGINT[])) "
            f"ORDER BY {ID_COLUMN}",
            [loads],
        ).fetchall()
    return np.array([row[0] for row in rows], dtype=np.int64)


def _all_quarantined(settings: Settings, load_id: int | None) -> str:
    """Why a batch with an applications file brought no application: its rows and the first reason."""
    with open_warehouse(settings.warehouse_path) as con:
        read = con.execute(
            "SELECT rows_read FROM audit.loads WHERE load_id = ? AND table_name = ?", [load_id, NEW_APPLICATIONS]
        ).fetchone()
        first = con.execute(
            "SELECT line_number, column_name, reason FROM audit.quarantine WHERE load_id = ? AND table_name = ? "
            "ORDER BY line_number LIMIT 1",
            [load_id, NEW_APPLICATIONS],
        ).fetchone()
    if not read or not read[0]:
        return f"the batch's {NEW_APPLICATIONS} file holds no application (header only)"
    where = f"line {first[0]}" + (f", {first[1]}" if first[1] else "") + f": {first[2]}" if first else "?"
    return (
        f"all {read[0]:,} applications of the batch were quarantined (first: {where}; see audit.quarantine, "
        f"load_id {load_id}); nothing to score"
    )


def build_features(settings: Settings) -> Counts:
    """Bring the feature store up to date with the raw tables (incrementally): clients in all, rebuilt.

    Nothing to do when no load brought rows since a night last built it (a night run again after a failure)."""
    from featurestore.build import build_features as build

    if _built_since_last_load(settings):
        return Counts(rows_in=_count(settings, FEATURES_TABLE), rows_out=0)
    result = build(settings)
    rebuilt = result.rows_processed.get(FEATURES_TABLE.split(".")[-1])
    return Counts(rows_in=_count(settings, FEATURES_TABLE), rows_out=rebuilt)


def score_new(settings: Settings) -> Counts:
    """Score every client of the feature store that has no score from the champion yet (not published)."""
    from scoring.score import score

    summary = score(settings, mode="new", publish_results=False)
    return Counts(rows_in=summary.clients_scored, rows_out=summary.clients_scored)


def import_reviews(settings: Settings) -> Counts:
    """Bring the reviews recorded on the dashboard since the last import into the warehouse (each one once) and
    set the final decisions of scores.latest."""
    from scoring.reviews import import_reviews as bring

    imported = bring(settings)
    return Counts(rows_in=imported, rows_out=imported)


def publish(settings: Settings) -> Counts:
    """Publish the serving database (atomic replacement of the file analysts read)."""
    from scoring.publish import publish as publish_serving

    summary = publish_serving(settings)
    return Counts(rows_out=sum(summary.rows.values()))


def check_drift(settings: Settings, run: JobRun, client_ids: np.ndarray | None) -> Counts:
    """Compare a batch's clients (None: the whole test set) with the training population; the value is the drift
    result (None for a batch without new applications: nothing to compare)."""
    from monitoring import drift

    assert run.run_id is not None, "a recorded run"
    if client_ids is None:
        result = drift.check_test_set(settings, run.run_id)
    elif not len(client_ids):
        return Counts(rows_in=0, rows_out=0, value=None)
    else:
        result = drift.check_batch(settings, run.run_id, client_ids, run.night)
    return Counts(rows_in=result.current_rows, rows_out=len(result.columns), value=result)


def check_fairness(settings: Settings, run: JobRun, client_ids: np.ndarray) -> Counts:
    """Measure the batch's decisions per gender, age band and family status (monitoring.fairness); the value is the
    alert of a group failing the four-fifths rule (None when none fails, or the batch brought no application)."""
    from monitoring.fairness import check_fairness as check

    if not len(client_ids):
        return Counts(rows_in=0, rows_out=0, value=None)
    result = check(settings, client_ids, run.night, run.run_id)
    alert = None if result.failing.empty else result.summary()
    return Counts(rows_in=len(client_ids), rows_out=len(result.table), value=alert)


def check_performance(settings: Settings, run: JobRun) -> Counts:
    """Backtest the champion's decisions on the outcomes arrived so far (monitoring.performance) and compare the
    challenger's shadow scores with them (monitoring.challenger_comparison); the value is the messages of the alerts
    it raised (a Gini drop, a band off calibration)."""
    from monitoring.challenger import compare
    from monitoring.performance import check_performance as check

    result = check(settings, run.run_id)
    compare(settings, run.run_id)
    return Counts(
        rows_in=int(result.table["outcomes"].sum()) if len(result.table) else 0,
        rows_out=len(result.table),
        value=[a.message for a in result.alerts],
    )


def archive(batch: Path, done: Path, client_ids: np.ndarray) -> Counts:
    """Move the batch out of the inbox, so it is never scored twice."""
    done.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(batch, done)
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


def _built_since_last_load(settings: Settings) -> bool:
    """Whether a night's features step succeeded after the last load that stored rows."""
    with open_warehouse(settings.warehouse_path) as con:
        built, loaded = one_row(
            con,
            "SELECT (SELECT max(finished_at) FROM ops.job_steps WHERE step = 'features' AND status = 'succeeded'), "
            "(SELECT max(finished_at) FROM audit.loads WHERE status = 'loaded' AND rows_loaded > 0)",
        )
    return built is not None and loaded is not None and built > loaded


def _count(settings: Settings, table: str) -> int:
    """Rows of a warehouse table."""
    with open_warehouse(settings.warehouse_path) as con:
        return one_row(con, f"SELECT count(*) FROM {table}")[0]
