"""Run the nightly job every night with APScheduler 3, catching up a night missed while the machine was off.

No job store holds pickled code: the job lives in memory, built from the settings at each start, and the
only thing kept between restarts is a small JSON file (settings.scheduler_state_path, owner-only) with the
time of the last run. On start, if a scheduled time passed since then (the machine was off, or the
scheduler stopped), the job runs once at once (missed nights coalesce into one run, which processes every
batch still waiting), provided the latest missed time is within nightly_misfire_grace_s.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.history import JobRun
from scheduler.isolation import start_fork_server
from scheduler.nightly import run_due
from warehouse.database import private_dir
from warehouse.settings import Settings

JOB_ID = "nightly"
log = logging.getLogger(__name__)


def nightly_job(settings: Settings, today: date | None = None) -> list[JobRun]:
    """The scheduled job: every night still waiting, then today's; remembers when it ran."""
    try:
        runs = run_due(settings, today or date.today())
    finally:
        save_last_run(settings, datetime.now().astimezone())
    for run in runs:
        log.info("nightly run %s for %s: %s. %s", run.run_id, run.night, run.status, run.error or run.message)
    return runs


def build_scheduler(settings: Settings, scheduler_cls: type[BaseScheduler] = BlockingScheduler) -> BaseScheduler:
    """A scheduler (not started) holding the nightly job, due at once if a run was missed while it was off."""
    trigger = CronTrigger.from_crontab(settings.nightly_cron)
    now = datetime.now().astimezone()
    missed = missed_run(settings, trigger, now)
    if last_run(settings) is None:
        save_last_run(settings, now)  # the first start: from now on, a missed night is caught up
    start_fork_server()  # it imports the jobs now, so that no night waits for that (seconds of CPU)
    scheduler = scheduler_cls()
    scheduler.add_job(
        nightly_job,
        trigger,
        args=[settings],
        id=JOB_ID,
        name="nightly scoring",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=settings.nightly_misfire_grace_s,
        **({"next_run_time": now} if missed else {}),
    )
    if missed:
        log.info("the nightly run of %s was missed while the scheduler was off: it runs now", missed)
    return scheduler


def missed_run(settings: Settings, trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest scheduled time between the last run and now, if within the misfire grace; else None."""
    last = last_run(settings)
    if last is None:
        return None
    missed, due = None, trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    while due is not None and due <= now:
        missed, due = due, trigger.get_next_fire_time(due, due + timedelta(seconds=1))
    if missed is None or (now - missed).total_seconds() > settings.nightly_misfire_grace_s:
        return None
    return missed


def last_run(settings: Settings) -> datetime | None:
    """When the scheduler last ran the job (time-zone aware), or None if it never did (or the file is unreadable)."""
    path = settings.scheduler_state_path
    try:
        return datetime.fromisoformat(json.loads(path.read_text())["last_run"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        log.warning("%s cannot be read (%s); it is written afresh", path, error)
        return None


def save_last_run(settings: Settings, when: datetime) -> None:
    """Remember when the job last ran (written aside then renamed: never half a file)."""
    path = settings.scheduler_state_path
    private_dir(path.parent)
    aside = Path(f"{path}.{os.getpid()}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"last_run": when.isoformat()}, out)
    os.replace(aside, path)
