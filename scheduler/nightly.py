"""The nightly run: ingest the night's batch, build features, score the new clients, check drift, publish.

A run holds the machine-wide lock for its whole length and records itself in ops.job_runs / ops.job_steps.
A failed step stops the run: the serving database stays as last published (publication is the last step
but one) and the batch stays in the inbox, where the next night's run retries it. A batch that went
through is moved to processed_dir/<date>/, so it is never scored twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from monitoring import drift
from scheduler import steps
from scheduler.history import FAILED, LOCKED, SKIPPED, SUCCEEDED, JobRun, RunHistory, StepRun
from scheduler.lock import RunLocked, lock_path, run_lock
from warehouse.clock import utc_now
from warehouse.settings import Settings

JOB = "nightly"
DRIFT_JOB = "drift"


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
    Step("drift", steps.check_drift, ("settings", "run", "client_ids"), output="drift"),
    Step("fairness", steps.check_fairness, ("settings", "run", "client_ids")),
    Step("publish", steps.publish, ("settings",)),
    Step("archive", steps.archive, ("run", "batch", "done", "client_ids")),
)
"""The night, in order. Inputs name the run's catalog: settings, run, batch (inbox folder), done (where the
batch goes once processed), and the outputs of earlier steps."""
STEPS = tuple(step.name for step in PIPELINE)

OnStep = Callable[[str], None]
"""Called with each step's name as it starts (the CLI's progress bar)."""


class StepFailed(RuntimeError):
    """A step of the run raised; the message names the step and the error."""


def run_nightly(settings: Settings, night: date, on_step: OnStep | None = None) -> JobRun:
    """Run one night's job; a run refused because another holds the lock comes back with status 'locked'."""
    try:
        with run_lock(lock_path(settings)):
            return _run_locked(settings, night, on_step or (lambda _: None))
    except RunLocked as busy:
        now = utc_now()
        return JobRun(None, JOB, night, LOCKED, now, now, error=f"refused: {busy}")


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


def _run_locked(settings: Settings, night: date, on_step: OnStep) -> JobRun:
    """The run itself, once the lock is held."""
    history = RunHistory(settings)
    history.close_interrupted()
    batch = settings.inbox_dir / night.isoformat()
    done = settings.processed_dir / night.isoformat()
    if not batch.is_dir():
        run = history.start(JOB, night, None)
        also = f"; its batch was already processed ({done})" if done.is_dir() else ""
        return history.finish(run, SKIPPED, message=f"no batch waiting in {batch}{also}")
    run = history.start(JOB, night, batch)
    catalog: dict[str, Any] = {"settings": settings, "run": run, "batch": batch, "done": done}
    try:
        for step in PIPELINE:
            on_step(step.name)
            inputs = [catalog[name] for name in step.inputs]
            counts = run_step(history, run, step.name, partial(step.function, *inputs))
            if counts.load_id is not None and counts.rows_out:
                history.record_load(run, counts.load_id)
            if step.output:
                catalog[step.output] = counts.value
    except StepFailed as failure:
        return history.finish(run, FAILED, error=str(failure), message=f"batch left in {batch} to be retried")
    result: drift.DriftResult = catalog["drift"]
    summary = f"{len(catalog['client_ids'])} new applications scored and published; {result.summary()}"
    return history.finish(run, SUCCEEDED, message=summary)


def run_step(history: RunHistory, run: JobRun, name: str, action: Callable[[], steps.Counts]) -> steps.Counts:
    """Run and record one step of a run; raise StepFailed naming it when it fails."""
    history.step_started(run, name)
    try:
        counts = action()
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        history.step_finished(run, StepRun(name, FAILED, error_message=message))
        raise StepFailed(f"step '{name}' failed: {message}") from error
    history.step_finished(run, StepRun(name, SUCCEEDED, counts.rows_in, counts.rows_out))
    return counts


def run_drift_check(settings: Settings, night: date | None = None) -> JobRun:
    """An on-demand, recorded drift check: the batch processed for `night`, or (None) the whole test set."""
    try:
        with run_lock(lock_path(settings)):
            return _drift_locked(settings, night)
    except RunLocked as busy:
        now = utc_now()
        return JobRun(None, DRIFT_JOB, night or date.today(), LOCKED, now, now, error=f"refused: {busy}")


def latest_processed_night(settings: Settings) -> date | None:
    """The latest night whose batch went through, if any."""
    folders = settings.processed_dir.iterdir() if settings.processed_dir.is_dir() else []
    return max((d for d in map(_folder_date, folders) if d is not None), default=None)


def _drift_locked(settings: Settings, night: date | None) -> JobRun:
    """The drift check itself, once the lock is held."""
    history = RunHistory(settings)
    history.close_interrupted()
    folder = None if night is None else settings.processed_dir / night.isoformat()
    run = history.start(DRIFT_JOB, night or date.today(), folder)

    def check() -> steps.Counts:
        if folder is not None and not folder.is_dir():
            raise FileNotFoundError(f"no processed batch for {night}: {folder} does not exist")
        return steps.check_drift(settings, run, None if folder is None else steps.batch_client_ids(folder))

    try:
        counts = run_step(history, run, "drift", check)
    except StepFailed as failure:
        return history.finish(run, FAILED, error=str(failure))
    return history.finish(run, SUCCEEDED, message=counts.value.summary())
