"""Run history of the scheduled jobs: `ops.job_runs` (one row per run) and `ops.job_steps` (one per step)."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text

from warehouse.clock import utc_now
from warehouse.database import open_warehouse, private_dir
from warehouse.settings import Settings
from warehouse.tables import TableDoc

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"
LOCKED = "locked"
"""Status of a run refused because another one held the lock. The other run owns the warehouse then, so the
refused run notes itself in a journal next to the lock, and the next run holding the lock records it."""

RUN_STATUSES = f"('{RUNNING}', '{SUCCEEDED}', '{FAILED}', '{SKIPPED}', '{LOCKED}')"
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
            "running, succeeded, failed (error says why: a step that raised or ran past its time limit), skipped "
            "(nothing to do, or a batch still arriving: message says which) or locked (refused: another run held "
            "the lock).",
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
        (
            "step",
            "VARCHAR NOT NULL",
            "Step name: ingest, features, score, drift, fairness, performance, publish, archive.",
        ),
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

    def as_table(self) -> Group:
        """A rich table of the run, one line per step, and what it did (or why it failed) under it."""
        return Group(_run_table(self), Text(self.error or self.message or ""))


def _run_table(run: JobRun) -> RichTable:
    """A rich table of a run: its outcome in the title, one line per step."""
    styles = {SUCCEEDED: "green", SKIPPED: "dim", FAILED: "bold red", LOCKED: "bold yellow", RUNNING: "yellow"}
    number = run.run_id or ("(recorded by the run holding the lock)" if run.status == LOCKED else "(not recorded)")
    title = f"{run.job} run {number} for {run.night}: [{styles[run.status]}]{run.status}[/]"
    table = RichTable(title=title)
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
    _allow_locked(con)
    return con


def _allow_locked(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild an ops.job_runs of an earlier version, whose status check refuses 'locked' (DuckDB cannot alter
    a check constraint)."""
    (checks,) = con.execute(
        "SELECT string_agg(constraint_text, ' ') FROM duckdb_constraints() "
        "WHERE schema_name = 'ops' AND table_name = 'job_runs' AND constraint_type = 'CHECK'"
    ).fetchone() or (None,)
    if checks is None or f"'{LOCKED}'" in checks:
        return
    con.execute("BEGIN TRANSACTION")
    con.execute("ALTER TABLE ops.job_runs RENAME TO job_runs_before_locked")
    JOB_RUNS.create(con)
    con.execute("INSERT INTO ops.job_runs SELECT * FROM ops.job_runs_before_locked")
    con.execute("DROP TABLE ops.job_runs_before_locked")
    con.execute("COMMIT")


def refusals_path(settings: Settings) -> Path:
    """The journal where refused runs note themselves until a run holding the lock records them."""
    return settings.warehouse_path.parent / "locks" / "refused-runs.jsonl"


def note_refused(settings: Settings, run: JobRun) -> None:
    """Append a refused run to the journal (never the warehouse: the run holding the lock owns it)."""
    path = refusals_path(settings)
    private_dir(path.parent)
    entry = {"job": run.job, "night": run.night.isoformat(), "at": run.started_at.isoformat(), "error": run.error}
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == _inode(path):  # not taken away by a drain meanwhile
                os.write(fd, (json.dumps(entry) + "\n").encode())
                return
        finally:
            os.close(fd)


def _inode(path: Path) -> int | None:
    """The inode a path names now, None if it is gone."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _drain_refusals(settings: Settings) -> list[dict]:
    """Take the journal's entries away (call it holding the run lock, so that one drain runs at a time)."""
    path = refusals_path(settings)
    taken = path.with_name(f"{path.name}.{os.getpid()}.draining")
    try:
        os.replace(path, taken)
    except FileNotFoundError:
        return []
    fd = os.open(taken, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a writer that opened the journal before the rename has finished
        text = taken.read_text()
    finally:
        os.close(fd)
    taken.unlink()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


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

    def record_refusals(self) -> int:
        """Record the runs refused while another held the lock (from the journal); call it holding the lock."""
        entries = _drain_refusals(self.settings)
        if entries:
            with connect(self.settings) as con:
                con.executemany(
                    "INSERT INTO ops.job_runs (run_id, job, night, started_at, finished_at, status, error) "
                    "VALUES (nextval('ops.run_id_seq'), ?, ?, ?, ?, ?, ?)",
                    [[e["job"], e["night"], e["at"], e["at"], LOCKED, e["error"]] for e in entries],
                )
        return len(entries)

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
