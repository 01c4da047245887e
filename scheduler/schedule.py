"""Run the nightly job every night with APScheduler 3, from a job store that survives restarts.

The job lives in a SQLite job store (settings.scheduler_db_path), so a machine that was off at run time
finds the missed run on restart: with `coalesce` the missed nights become one run (which then processes
every batch still waiting), and `misfire_grace_time` bounds how late that run may still start.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.history import JobRun
from scheduler.nightly import run_due
from warehouse.settings import Settings

JOB_ID = "nightly"
STORE = "default"
log = logging.getLogger(__name__)


def nightly_job(settings: Settings, today: date | None = None) -> list[JobRun]:
    """The scheduled job: every night still waiting, then today's (module-level: the store refers to it)."""
    runs = run_due(settings, today or date.today())
    for run in runs:
        log.info("nightly run %s for %s: %s. %s", run.run_id, run.night, run.status, run.error or run.message)
    return runs


def job_store(settings: Settings) -> SQLAlchemyJobStore:
    """The persistent job store: a SQLite file next to the warehouse."""
    settings.scheduler_db_path.parent.mkdir(parents=True, exist_ok=True)
    return SQLAlchemyJobStore(url=f"sqlite:///{settings.scheduler_db_path}")


def build_scheduler(settings: Settings, scheduler_cls: type[BaseScheduler] = BlockingScheduler) -> BaseScheduler:
    """A scheduler (not started) holding the nightly job, with any run missed while it was off kept due."""
    scheduler = scheduler_cls(jobstores={STORE: job_store(settings)})
    missed = _missed_run_time(settings, scheduler)
    scheduler.add_job(
        nightly_job,
        CronTrigger.from_crontab(settings.nightly_cron),
        args=[settings],
        id=JOB_ID,
        name="nightly scoring",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=settings.nightly_misfire_grace_s,
        **({"next_run_time": missed} if missed else {}),
    )
    return scheduler


def _missed_run_time(settings: Settings, scheduler: BaseScheduler) -> datetime | None:
    """The stored job's next run time if it has passed (a run missed while the scheduler was off), else None.

    Re-adding the job would otherwise compute its next run time afresh and lose the missed run.
    """
    store = job_store(settings)
    store.start(scheduler, STORE)
    try:
        job = store.lookup_job(JOB_ID)
    except Exception as error:  # a job pickled by an older version of the code: replaced below
        log.warning("cannot read the stored nightly job (%s); scheduling it afresh", error)
        return None
    finally:
        store.shutdown()
    if job is None or job.next_run_time is None:
        return None
    return job.next_run_time if job.next_run_time <= datetime.now(job.next_run_time.tzinfo) else None
