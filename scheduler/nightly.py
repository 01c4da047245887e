"""The nightly run: ingest the night's batch, build features, score the new clients, import the reviews, check
drift and fairness, backtest the decisions whose outcomes arrived, publish.

A run holds the machine-wide lock for its whole length and records itself in ops.job_runs / ops.job_steps.
Each step runs in a process of its own with a time limit (settings.step_timeout_s, step_timeouts): a step
that raises, hangs past its limit or is killed stops the run, which is recorded as failed with the step and
the reason in plain words (technical details go to the log folder). A failed step leaves the serving
database as last published (publication is the last step but one) and the batch in the inbox, where the
next night's run retries it; a batch whose every application was quarantined moves to rejected_dir instead
(retrying cannot help). A batch that went through is moved to processed_dir/<date>/, so it is never scored
twice. A batch becomes eligible only when complete (its manifest.json is there and every file it lists has
arrived in full); until then the night is recorded as skipped and the batch waits. A night refused because
another run holds the lock is recorded too (by the run holding it). Killing the run's process at any moment
kills its step and the step's children with it; the next run closes the interrupted one and completes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler import steps
from scheduler.history import FAILED, LOCKED, SKIPPED, SUCCEEDED, JobRun, RunHistory, StepRun, note_refused
from scheduler.isolation import StepError, run_isolated, start_fork_server
from scheduler.lock import RunLocked, lock_path, run_lock
from warehouse.clock import utc_now
from warehouse.database import private_dir
from warehouse.delivery import still_arriving
from warehouse.settings import Settings

if TYPE_CHECKING:
    from monitoring.drift import DriftResult

JOB = "nightly"
DRIFT_JOB = "drift"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One node of the nightly pipeline: a function of named inputs; its Counts.value is stored as `output`."""

    name: str
    function: Callable[..., steps.Counts]
    inputs: tuple[str, ...]
    output: str | None = None


PIPELINE = (
    Step("ingest", steps.ingest_batch, ("settings", "batch", "done"), output="client_ids"),
    Step("features", steps.build_features, ("settings",)),
    Step("score", steps.score_new, ("settings",)),
    Step("reviews", steps.import_reviews, ("settings",)),
    Step("drift", steps.check_drift, ("settings", "run", "client_ids"), output="drift"),
    Step("fairness", steps.check_fairness, ("settings", "run", "client_ids"), output="fairness"),
    Step("performance", steps.check_performance, ("settings", "run"), output="performance"),
    Step("publish", steps.publish, ("settings",)),
    Step("archive", steps.archive, ("batch", "done", "client_ids")),
)
"""The night, in order. Inputs name the run's catalog: settings, run, batch (inbox folder), done (where the
batch goes once processed), and the outputs of earlier steps."""
STEPS = tuple(step.name for step in PIPELINE)

OnStep = Callable[[str], None]
"""Called with each step's name once it is recorded as started (the CLI's progress bar)."""


class StepFailed(RuntimeError):
    """A step of the run did not complete; the message names the step and says why, in plain words."""


def run_nightly(settings: Settings, night: date, on_step: OnStep | None = None) -> JobRun:
    """Run one night's job; a run refused because another holds the lock comes back with status 'locked'."""
    start_fork_server()  # it imports the jobs while this process takes the lock and opens the history
    try:
        with run_lock(lock_path(settings)):
            return _run_locked(settings, night, on_step or (lambda _: None))
    except RunLocked as busy:
        return _refused(settings, JOB, night, busy)


def _refused(settings: Settings, job: str, night: date, busy: RunLocked) -> JobRun:
    """A run refused by the lock, noted for the run holding it to record."""
    now = utc_now()
    run = JobRun(None, job, night, LOCKED, now, now, error=f"refused: {busy}")
    note_refused(settings, run)
    return run


def run_due(settings: Settings, today: date, on_step: OnStep | None = None) -> list[JobRun]:
    """Run every night whose batch still waits in the inbox (earlier failed ones first), then today's."""
    nights = sorted({d for d in waiting_nights(settings) if d < today} | {today})
    runs = []
    for night in nights:
        runs.append(run_nightly(settings, night, on_step))
        if runs[-1].status == LOCKED:
            break
    return runs


def waiting_nights(settings: Settings) -> list[date]:
    """Dates of the batch folders waiting in the inbox (folders not named YYYY-MM-DD are ignored)."""
    if not settings.inbox_dir.is_dir():
        return []
    return sorted(d for d in map(_folder_date, settings.inbox_dir.iterdir()) if d is not None)


def _folder_date(folder: Path) -> date | None:
    """The date a batch folder is named after, or None."""
    try:
        return date.fromisoformat(folder.name) if folder.is_dir() else None
    except ValueError:
        return None


def _open_history(settings: Settings) -> RunHistory:
    """The run history, with runs a killed process left open closed and refused runs recorded (hold the lock)."""
    history = RunHistory(settings)
    history.close_interrupted()
    history.record_refusals()
    return history


def _run_locked(settings: Settings, night: date, on_step: OnStep) -> JobRun:
    """The run itself, once the lock is held."""
    history = _open_history(settings)
    batch = settings.inbox_dir / night.isoformat()
    done = settings.processed_dir / night.isoformat()
    if not batch.is_dir():
        run = history.start(JOB, night, None)
        also = f"; its batch was already processed ({done})" if done.is_dir() else ""
        return history.finish(run, SKIPPED, message=f"no batch waiting in {batch}{also}")
    waiting = still_arriving(batch)
    if waiting:
        run = history.start(JOB, night, batch)
        because = "; ".join(waiting)
        return history.finish(run, SKIPPED, message=f"batch in {batch} not complete yet ({because}): it waits")
    run = history.start(JOB, night, batch)
    catalog: dict[str, Any] = {"settings": settings, "run": run, "batch": batch, "done": done}
    try:
        for step in PIPELINE:
            inputs = tuple(catalog[name] for name in step.inputs)
            counts = run_step(history, run, step.name, step.function, inputs, on_step)
            if counts.load_id is not None and counts.rows_out:
                history.record_load(run, counts.load_id)
            if step.output:
                catalog[step.output] = counts.value
    except StepFailed as failure:
        if isinstance(failure.__cause__, StepError) and isinstance(failure.__cause__.cause, steps.BatchRejected):
            moved = _set_aside(settings, batch, night)
            run.batch_folder = moved
            return history.finish(run, FAILED, error=str(failure), message=f"batch moved to {moved}: not retried")
        return history.finish(run, FAILED, error=str(failure), message=f"batch left in {batch} to be retried")
    run.batch_folder = done
    result: DriftResult | None = catalog["drift"]
    run.alerts = [a.message for a in result.alerts] if result else []
    run.alerts += [catalog["fairness"]] if catalog["fairness"] else []
    run.alerts += catalog["performance"]
    checked = result.summary() if result else "no new application to check for drift"
    summary = f"{len(catalog['client_ids'])} new applications scored and published; {checked}"
    history.record_refusals()
    return history.finish(run, SUCCEEDED, message=summary)


def _set_aside(settings: Settings, batch: Path, night: date) -> Path:
    """Move a batch that retrying cannot help out of the inbox, to rejected_dir/<date> (a suffix if taken)."""
    target = private_dir(settings.rejected_dir) / night.isoformat()
    n = 1
    while target.exists():
        n += 1
        target = settings.rejected_dir / f"{night.isoformat()}-{n}"
    shutil.move(batch, target)
    return target


def run_step(
    history: RunHistory,
    run: JobRun,
    name: str,
    function: Callable[..., steps.Counts],
    args: tuple,
    on_step: OnStep | None = None,
) -> steps.Counts:
    """Run and record one step of a run in a process of its own, within its time limit; raise StepFailed
    naming it when it does not complete."""
    settings = history.settings
    history.step_started(run, name)
    if on_step:
        on_step(name)
    try:
        counts = run_isolated(function, args, settings.timeout_s(name))
    except StepError as error:
        logged = _log_details(settings, run, name, error)
        message = str(error).replace("the log has the details", f"details in {logged}") if logged else str(error)
        history.step_finished(run, StepRun(name, FAILED, error_message=message))
        raise StepFailed(f"step '{name}' failed: {message}") from error
    history.step_finished(run, StepRun(name, SUCCEEDED, counts.rows_in, counts.rows_out))
    return counts


def _log_details(settings: Settings, run: JobRun, name: str, error: StepError) -> Path | None:
    """Append a failed step's technical details (traceback) to the log folder, never to the screen; the log."""
    if not error.details:
        return None
    log_file = private_dir(settings.log_dir) / f"{run.job}.log"
    with log_file.open("a") as out:
        out.write(f"--- {utc_now():%Y-%m-%d %H:%M:%S} UTC run {run.run_id} ({run.night}) step {name}: {error}\n")
        out.write(error.details + "\n")
    return log_file


def run_drift_check(settings: Settings, night: date | None = None) -> JobRun:
    """An on-demand, recorded drift check: the batch processed for `night`, or (None) the whole test set."""
    start_fork_server()
    try:
        with run_lock(lock_path(settings)):
            return _drift_locked(settings, night)
    except RunLocked as busy:
        return _refused(settings, DRIFT_JOB, night or date.today(), busy)


def latest_processed_night(settings: Settings) -> date | None:
    """The latest night whose batch went through, if any."""
    folders = settings.processed_dir.iterdir() if settings.processed_dir.is_dir() else []
    return max((d for d in map(_folder_date, folders) if d is not None), default=None)


def _drift_locked(settings: Settings, night: date | None) -> JobRun:
    """The drift check itself, once the lock is held."""
    history = _open_history(settings)
    folder = None if night is None else settings.processed_dir / night.isoformat()
    run = history.start(DRIFT_JOB, night or date.today(), folder)
    try:
        counts = run_step(history, run, "drift", check_processed, (settings, run, folder))
    except StepFailed as failure:
        return history.finish(run, FAILED, error=str(failure))
    result: DriftResult | None = counts.value
    return history.finish(run, SUCCEEDED, message=result.summary() if result else "no application to check")


def check_processed(settings: Settings, run: JobRun, folder: Path | None) -> steps.Counts:
    """The drift step of an on-demand check: a processed batch's clients (from the rows it stored), or the
    test set (folder None)."""
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"no processed batch for {run.night}: {folder} does not exist")
    return steps.check_drift(settings, run, None if folder is None else steps.night_clients(settings, folder))
