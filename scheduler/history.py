"""Run history of the scheduled jobs: `ops.job_runs` (one row per run) and `ops.job_steps` (one per step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from rich.table import Table as RichTable

from warehouse.clock import utc_now
from warehouse.database import open_warehouse
from warehouse.settings import Settings
from warehouse.tables import TableDoc

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"
LOCKED = "locked"
"""Status of a run refused because another one holds the lock: returned, never stored (the other run owns
the warehouse)."""

RUN_STATUSES = f"('{RUNNING}', '{SUCCEEDED}', '{FAILED}', '{SKIPPED}')"
STEP_STATUSES = f"('{RUNNING}', '{SUCCEEDED}', '{FAILED}')"

JOB_RUNS = TableDoc(
    "ops",
    "job_runs",
    "One row per run of a scheduled job (nightly scoring, drift check).",
    (
        ("run_id", "BIGINT", "Run number from ops.run_id_seq; monitoring.* rows carry it too."),
        ("job", "VARCHAR NOT NULL", "nightly (ingest, features, score, drift, publish) or drift."),
        ("night", "DATE NOT NULL", "The night the run is for: its batch waits in inbox_dir/<night>/."),
        ("started_at", "TIMESTAMP NOT NULL", "When the run started (UTC)."),
        ("finished_at", "TIMESTAMP", "When the run ended (UTC); NULL while running."),
        (
            "status",
            f"VARCHAR NOT NULL CHECK (status IN {RUN_STATUSES})",
            "running, succeeded, failed (error says why; the batch stays in the inbox) or skipped (nothing to do).",
        ),
        ("error", "VARCHAR", "Why a failed run failed: the step and the error it raised."),
        ("message", "VARCHAR", "What the run did, in one line (or why it was skipped)."),
        (
            "batch_folder",
            "VARCHAR",
            "Where the run's batch is now: the inbox folder, or processed_dir/<night> once it went through.",
        ),
        (
            "load_id",
            "BIGINT",
            "The ingest load (audit.loads.load_id) that brought the batch; the test set excludes these clients.",
        ),
    ),
    primary_key=("run_id",),
)

JOB_STEPS = TableDoc(
    "ops",
    "job_steps",
    "One row per step of a run in ops.job_runs, in the order they ran.",
    (
        ("run_id", "BIGINT NOT NULL", "The run (ops.job_runs.run_id)."),
        ("step", "VARCHAR NOT NULL", "Step name: ingest, features, score, drift, publish, archive."),
        ("started_at", "TIMESTAMP NOT NULL", "When the step started (UTC)."),
        ("finished_at", "TIMESTAMP", "When the step ended (UTC); NULL while running."),
        ("rows_in", "BIGINT", "Rows the step read (clients to score...), where it counts."),
        ("rows_out", "BIGINT", "Rows the step wrote (rows loaded, features built, scores...)."),
        ("status", f"VARCHAR NOT NULL CHECK (status IN {STEP_STATUSES})", "running, succeeded or failed."),
        ("error_message", "VARCHAR", "The error a failed step raised."),
    ),
    primary_key=("run_id", "step"),
)


@dataclass
class StepRun:
    """One step of a run, as recorded in ops.job_steps."""

    step: str
    status: str
    rows_in: int | None = None
    rows_out: int | None = None
    error_message: str | None = None


@dataclass
class JobRun:
    """One run of a job, as recorded in ops.job_runs (run_id is None for a refused, unrecorded run)."""

    run_id: int | None
    job: str
    night: date
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    message: str | None = None
    batch_folder: Path | None = None
    steps: list[StepRun] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def as_table(self) -> RichTable:
        """A rich table of the run, one line per step."""
        return _run_table(self)


def _run_table(run: JobRun) -> RichTable:
    """A rich table of a run: its outcome in the title, one line per step."""
    styles = {SUCCEEDED: "green", SKIPPED: "dim", FAILED: "bold red", LOCKED: "bold yellow", RUNNING: "yellow"}
    run_name = f"{run.job} run {run.run_id or '(not recorded)'} for {run.night}"
    title = f"{run_name}: [{styles[run.status]}]{run.status}[/]"
    table = RichTable(title=title, caption=run.error or run.message, caption_justify="left")
    for name in ("step", "status", "rows in", "rows out", "error"):
        table.add_column(name, justify="right" if name.startswith("rows") else "left", overflow="fold")
    for step in run.steps:
        table.add_row(
            step.step,
            f"[{styles[step.status]}]{step.status}[/]",
            _count(step.rows_in),
            _count(step.rows_out),
            step.error_message or "",
        )
    return table


def _count(value: int | None) -> str:
    """A row count for display."""
    return "" if value is None else f"{value:,}"


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A short-lived read-write connection to the warehouse, with the ops tables in place."""
    con = open_warehouse(settings.warehouse_path)
    con.execute("CREATE SCHEMA IF NOT EXISTS ops; CREATE SEQUENCE IF NOT EXISTS ops.run_id_seq START 1")
    for table in (JOB_RUNS, JOB_STEPS):
        table.create(con)
    return con


class RunHistory:
    """Writes runs and steps to ops.*; each call opens and closes its own connection, so no connection is held
    while a step (which opens the warehouse itself) runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _execute(self, sql: str, params: list) -> list[tuple]:
        """Run one statement on a fresh connection."""
        with connect(self.settings) as con:
            return con.execute(sql, params).fetchall()

    def close_interrupted(self) -> int:
        """Mark runs and steps a killed process left 'running' as failed; call it holding the lock."""
        now = utc_now()
        error = "interrupted: the process ended before the run finished"
        with connect(self.settings) as con:
            con.execute(
                "UPDATE ops.job_steps SET status = ?, finished_at = ?, error_message = ? WHERE status = ?",
                [FAILED, now, error, RUNNING],
            )
            interrupted = con.execute(
                "UPDATE ops.job_runs SET status = ?, finished_at = ?, error = ? WHERE status = ? RETURNING run_id",
                [FAILED, now, error, RUNNING],
            )
            return len(interrupted.fetchall())

    def start(self, job: str, night: date, batch_folder: Path | None) -> JobRun:
        """Record a new running run and return it."""
        run = JobRun(None, job, night, RUNNING, utc_now(), batch_folder=batch_folder)
        folder = None if batch_folder is None else str(batch_folder)
        (run.run_id,) = self._execute(
            "INSERT INTO ops.job_runs (run_id, job, night, started_at, status, batch_folder) "
            "VALUES (nextval('ops.run_id_seq'), ?, ?, ?, ?, ?) RETURNING run_id",
            [job, night, run.started_at, RUNNING, folder],
        )[0]
        return run

    def finish(self, run: JobRun, status: str, *, message: str | None = None, error: str | None = None) -> JobRun:
        """Record the end of a run."""
        run.status, run.message, run.error, run.finished_at = status, message, error, utc_now()
        folder = None if run.batch_folder is None else str(run.batch_folder)
        self._execute(
            "UPDATE ops.job_runs SET status = ?, finished_at = ?, error = ?, message = ?, "
            "batch_folder = ? WHERE run_id = ?",
            [status, run.finished_at, error, message, folder, run.run_id],
        )
        return run

    def record_load(self, run: JobRun, load_id: int) -> None:
        """Record which ingest load brought the run's batch (as soon as it is committed)."""
        self._execute("UPDATE ops.job_runs SET load_id = ? WHERE run_id = ?", [load_id, run.run_id])

    def step_started(self, run: JobRun, step: str) -> None:
        """Record that a step started."""
        self._execute(
            "INSERT INTO ops.job_steps (run_id, step, started_at, status) VALUES (?, ?, ?, ?)",
            [run.run_id, step, utc_now(), RUNNING],
        )

    def step_finished(self, run: JobRun, result: StepRun) -> None:
        """Record how a step ended."""
        run.steps.append(result)
        self._execute(
            "UPDATE ops.job_steps SET finished_at = ?, status = ?, rows_in = ?, rows_out = ?, "
            "error_message = ? WHERE run_id = ? AND step = ?",
            [utc_now(), result.status, result.rows_in, result.rows_out, result.error_message, run.run_id, result.step],
        )
