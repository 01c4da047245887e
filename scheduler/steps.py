"""The ONE place where the nightly run and drift monitoring call the other jobs of the pipeline.

Each adapter calls one job (ingest, feature build, scoring, publication, champion) and reduces what it
returns to what the run history records: rows in, rows out. When a job's signature changes, fix it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from warehouse.database import open_warehouse
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


def batch_client_ids(folder: Path) -> np.ndarray:
    """The SK_ID_CURR of every application in a batch folder."""
    path = folder / BATCH_APPLICATIONS
    ids = pd.read_csv(path, usecols=[ID_COLUMN], encoding="utf-8-sig")[ID_COLUMN]
    return ids.to_numpy(dtype=np.int64)


def ingest_batch(settings: Settings, folder: Path) -> Counts:
    """Load a batch folder into the warehouse's raw tables (all of it or nothing)."""
    from warehouse.ingest import IngestError, ingest_folder

    report = ingest_folder(folder, settings, progress=False)
    if not report.committed:
        problems = "; ".join(f"{f.file_name}: {f.message}" for f in report.rejected_files)
        raise IngestError(f"batch {folder} rejected, the warehouse is unchanged: {problems}")
    return Counts(
        rows_in=sum(f.rows_read for f in report.files),
        rows_out=sum(f.rows_loaded for f in report.files),
        load_id=report.load_id,
    )


def build_features(settings: Settings) -> Counts:
    """Bring the feature store up to date with the raw tables (incrementally): clients in all, rebuilt."""
    from warehouse.features import build_features as build

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


def load_champion(settings: Settings) -> Any:
    """The registered champion, as the scorer loads it (booster, features, threshold, version)."""
    from scoring.score import load_model

    return load_model(settings)


def champion_features(champion: Any) -> list[str]:
    """The feature columns the champion was trained on, in training order."""
    return list(champion.features)


def top_features(champion: Any, frame: pd.DataFrame, n: int) -> list[str]:
    """The champion's n most important features over `frame`: mean |SHAP| (TreeSHAP), largest first."""
    contributions = champion.booster.predict(_matrix(champion, frame), pred_contrib=True)[:, :-1]
    order = np.argsort(-np.abs(contributions).mean(axis=0), kind="stable")
    return [champion_features(champion)[i] for i in order[:n]]


def predict(champion: Any, frame: pd.DataFrame) -> np.ndarray:
    """The champion's probability of default for each row of `frame` (columns: its features, in order)."""
    return champion.probability(_matrix(champion, frame))


def _matrix(champion: Any, frame: pd.DataFrame) -> np.ndarray:
    """The champion's features of `frame`, in its order, as a float matrix (NaN for missing)."""
    return frame[champion_features(champion)].to_numpy(dtype=np.float64, na_value=np.nan)


def _count(settings: Settings, table: str) -> int:
    """Rows of a warehouse table."""
    with open_warehouse(settings.warehouse_path) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
