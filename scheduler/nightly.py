"""The nightly run: ingest the night's batch, build features, score the new clients, check drift, publish.

A run holds the machine-wide lock for its whole length and records itself in ops.job_runs / ops.job_steps.
A failed step stops the run: the serving database stays as last published (publication is the last step
but one) and the batch stays in the inbox, where the next night's run retries it. A batch that went
through is moved to processed_dir/<date>/, so it is never scored twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from scheduler import steps
from scheduler.history import FAILED, LOCKED, SKIPPED, SUCCEEDED, JobRun, RunHistory, StepRun, utc_now
from scheduler.lock import RunLocked, lock_path, run_lock
from scoring import drift
from warehouse.settings import Settings

JOB = "nightly"
DRIFT_JOB = "drift"
STEPS = ("ingest", "features", "score", "drift", "publish", "archive")
"""The steps of a nightly run, in order."""

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
    night_run = _NightRun(settings, history, run, batch, done)
    try:
        for name in STEPS:
            on_step(name)
            night_run.step(name)
    except StepFailed as failure:
        return history.finish(run, FAILED, error=str(failure), message=f"batch left in {batch} to be retried")
    return history.finish(run, SUCCEEDED, message=night_run.summary())


def run_step(history: RunHistory, run: JobRun, name: str, action: Callable[[], steps.Counts]) -> None:
    """Run and record one step of a run; raise StepFailed naming it when it fails."""
    history.step_started(run, name)
    try:
        counts = action()
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        history.step_finished(run, StepRun(name, FAILED, error_message=message))
        raise StepFailed(f"step '{name}' failed: {message}") from error
    history.step_finished(run, StepRun(name, SUCCEEDED, counts.rows_in, counts.rows_out))


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
    found: list[drift.DriftResult] = []

    def check() -> steps.Counts:
        if folder is None:
            result = drift.check_test_set(settings, run.run_id)
        elif not folder.is_dir():
            raise FileNotFoundError(f"no processed batch for {night}: {folder} does not exist")
        else:
            result = drift.check_batch(settings, run.run_id, steps.batch_client_ids(folder), night)
        found.append(result)
        run.alerts = [a.message for a in result.alerts]
        return steps.Counts(rows_in=result.current_rows, rows_out=len(result.columns))

    try:
        run_step(history, run, "drift", check)
    except StepFailed as failure:
        return history.finish(run, FAILED, error=str(failure))
    return history.finish(run, SUCCEEDED, message=found[0].summary())


class _NightRun:
    """The steps of one night's run and what they pass each other."""

    def __init__(self, settings: Settings, history: RunHistory, run: JobRun, batch: Path, done: Path) -> None:
        self.settings, self.history, self.run, self.batch, self.done = settings, history, run, batch, done
        self.client_ids = np.array([], dtype=np.int64)
        self.drift: drift.DriftResult | None = None

    def step(self, name: str) -> None:
        """Run and record one step."""
        run_step(self.history, self.run, name, getattr(self, f"_{name}"))

    def _ingest(self) -> steps.Counts:
        """Load the batch (refusing one whose date was already processed)."""
        if self.done.exists():
            raise FileExistsError(
                f"the batch of {self.run.night} was already processed into {self.done}; "
                f"remove {self.batch} (or {self.done} to process it again)"
            )
        self.client_ids = steps.batch_client_ids(self.batch)
        counts = steps.ingest_batch(self.settings, self.batch)
        if counts.load_id is not None and counts.rows_out:
            self.history.record_load(self.run, counts.load_id)
        return counts

    def _features(self) -> steps.Counts:
        """Build the new clients' features."""
        return steps.build_features(self.settings)

    def _score(self) -> steps.Counts:
        """Score the clients not scored yet."""
        return steps.score_new(self.settings)

    def _drift(self) -> steps.Counts:
        """Compare the batch with the training population; raise alerts."""
        self.drift = drift.check_batch(self.settings, self.run.run_id, self.client_ids, self.run.night)
        self.run.alerts = [a.message for a in self.drift.alerts]
        return steps.Counts(rows_in=self.drift.current_rows, rows_out=len(self.drift.columns))

    def _publish(self) -> steps.Counts:
        """Publish the serving database."""
        return steps.publish(self.settings)

    def _archive(self) -> steps.Counts:
        """Move the batch out of the inbox."""
        self.done.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.batch, self.done)
        self.run.batch_folder = self.done
        return steps.Counts(rows_in=len(self.client_ids), rows_out=len(self.client_ids))

    def summary(self) -> str:
        """One line saying what the run did."""
        assert self.drift is not None
        return f"{len(self.client_ids)} new applications scored and published; {self.drift.summary()}"
