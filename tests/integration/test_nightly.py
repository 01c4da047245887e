"""The nightly run: three simulated nights, run history, the run lock and the scheduler's configuration."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from generator.dataset import generate_batch
from scheduler import steps
from scheduler.history import FAILED, LOCKED, RUNNING, SKIPPED, SUCCEEDED, RunHistory
from scheduler.lock import lock_path, run_lock
from scheduler.nightly import STEPS, run_nightly
from scheduler.schedule import JOB_ID, STORE, build_scheduler, job_store, nightly_job
from warehouse.settings import Settings

BATCH_APPLICATIONS = 2000
NIGHTS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
"""Night 1: a normal batch; night 2: a batch with a corrupt file; night 3: a drifted batch."""


def runs(settings: Settings) -> list[tuple]:
    """(run_id, night, status, error) of every recorded run, in order."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute("SELECT run_id, night, status, error FROM ops.job_runs ORDER BY run_id").fetchall()


def run_steps(settings: Settings, run_id: int) -> list[tuple]:
    """(step, status) of one run's recorded steps, in order."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(
            "SELECT step, status FROM ops.job_steps WHERE run_id = ? ORDER BY started_at", [run_id]
        ).fetchall()


def alerts_by_run(settings: Settings) -> dict[int, list[str]]:
    """Alert kinds raised per run id."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        rows = con.execute("SELECT run_id, list(kind ORDER BY kind) FROM monitoring.alerts GROUP BY run_id").fetchall()
    return dict(rows)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corrupt(folder: Path) -> None:
    """Break a batch file at file level: a header that renames a column (missing + unknown column)."""
    path = folder / "bureau.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace("CREDIT_ACTIVE", "CREDIT_ACTIV")
    path.write_text("".join(lines))


@pytest.fixture
def pipeline(champion_warehouse: Settings, tmp_path: Path) -> Settings:
    """Settings on a private copy of the champion warehouse (the shared one stays untouched)."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(champion_warehouse.warehouse_path, warehouse)
    return champion_warehouse.replace(
        warehouse_path=warehouse,
        serving_path=tmp_path / "serving.duckdb",
        inbox_dir=tmp_path / "inbox",
        processed_dir=tmp_path / "processed",
        reports_dir=tmp_path / "reports",
        scheduler_db_path=tmp_path / "scheduler.sqlite",
    )


def test_three_nights(pipeline: Settings) -> None:
    """A normal, a corrupt and a drifted night: scored once each, history right, alert only when drifted."""
    cfg = pipeline
    folders = [cfg.inbox_dir / night.isoformat() for night in NIGHTS]
    for i, (night, folder) in enumerate(zip(NIGHTS, folders, strict=True)):
        generate_batch(folder, night, BATCH_APPLICATIONS, seed=100 + i, drift=i == 2)
    corrupt(folders[1])
    ids = [set(steps.batch_client_ids(folder).tolist()) for folder in folders]

    (first,) = nightly_job(cfg, today=NIGHTS[0])
    assert first.status == SUCCEEDED, first.error
    assert [s.step for s in first.steps] == list(STEPS)
    assert not folders[0].exists() and (cfg.processed_dir / NIGHTS[0].isoformat()).is_dir()
    assert set(steps.score_counts(cfg)) >= ids[0]
    published = file_digest(cfg.serving_path)

    (second,) = nightly_job(cfg, today=NIGHTS[1])
    assert second.status == FAILED
    assert "step 'ingest' failed" in second.error and "bureau.csv" in second.error
    assert run_steps(cfg, second.run_id) == [("ingest", FAILED)]
    assert folders[1].is_dir(), "the corrupt batch must stay in the inbox to be retried"
    assert file_digest(cfg.serving_path) == published, "a failed night leaves the published results alone"

    retried, third = nightly_job(cfg, today=NIGHTS[2])
    assert (retried.night, retried.status) == (NIGHTS[1], FAILED), "the corrupt batch is retried first"
    assert (third.night, third.status) == (NIGHTS[2], SUCCEEDED), third.error
    assert folders[1].is_dir() and not folders[2].exists()

    scored = steps.score_counts(cfg)
    assert all(scored.get(client) == 1 for client in ids[0] | ids[2]), "each new client scored exactly once"
    assert not ids[1] & scored.keys(), "the corrupt night's clients are not scored"
    assert [(r[1], r[2]) for r in runs(cfg)] == [
        (NIGHTS[0], SUCCEEDED),
        (NIGHTS[1], FAILED),
        (NIGHTS[1], FAILED),
        (NIGHTS[2], SUCCEEDED),
    ]
    assert set(alerts_by_run(cfg)) == {third.run_id}, "an alert on the drifted night only"
    assert third.alerts and not first.alerts


def test_no_batch_is_a_skipped_run(settings: Settings) -> None:
    """A night without a batch is recorded as skipped, with no error, saying why."""
    run = run_nightly(settings, NIGHTS[0])
    assert run.status == SKIPPED and run.error is None and "no batch waiting" in run.message
    assert runs(settings) == [(run.run_id, NIGHTS[0], SKIPPED, None)]


def test_interrupted_run_is_closed_by_the_next(settings: Settings) -> None:
    """A run left 'running' by a killed process is marked failed when the next run starts."""
    stale = RunHistory(settings).start("nightly", NIGHTS[0], None)
    run_nightly(settings, NIGHTS[1])
    status, error = next((r[2], r[3]) for r in runs(settings) if r[0] == stale.run_id)
    assert status == FAILED and "interrupted" in error
    assert RUNNING not in {r[2] for r in runs(settings)}


HOLD_LOCK = """
import sys, time
from pathlib import Path
from scheduler.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_refuses_a_second_run_and_dies_with_its_holder(settings: Settings) -> None:
    """A run while another process holds the lock is refused; once that process is SIGKILLed, runs go on."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path(settings))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = run_nightly(settings, NIGHTS[0])
        assert refused.status == LOCKED and refused.run_id is None
        assert f"process {holder.pid}" in refused.error
        assert not settings.warehouse_path.exists(), "a refused run must not touch the warehouse"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate()
    assert lock_path(settings).exists(), "the lock file stays behind; the kernel released the lock"
    assert run_nightly(settings, NIGHTS[0]).status == SKIPPED


def test_lock_is_exclusive_within_a_process(settings: Settings) -> None:
    """Two holders in one process exclude each other too (the lock is on the open file, not the process)."""
    with run_lock(lock_path(settings)):
        assert run_nightly(settings, NIGHTS[0]).status == LOCKED
    assert run_nightly(settings, NIGHTS[0]).status == SKIPPED


def test_cli_run_nightly_exit_codes(tmp_path: Path) -> None:
    """`run-nightly`: 0 for a skipped night, 75 (try again later) when another run holds the lock."""
    from typer.testing import CliRunner

    from cli.app import app
    from cli.common import EXIT_LOCKED

    env = {"CREDIT_SCORING_HOME": str(tmp_path)}
    runner = CliRunner()
    skipped = runner.invoke(app, ["run-nightly", "--date", NIGHTS[0].isoformat()], env=env)
    assert skipped.exit_code == 0 and "skipped" in skipped.output
    with run_lock(lock_path(Settings.load(env))):
        refused = runner.invoke(app, ["run-nightly", "--date", NIGHTS[0].isoformat()], env=env)
    assert refused.exit_code == EXIT_LOCKED and "locked" in refused.output


HOLD_WAREHOUSE = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def test_cli_says_when_another_process_has_the_warehouse_open(tmp_path: Path) -> None:
    """Someone else writing the warehouse (DuckDB: one writer process): a one-line message and exit 1."""
    settings = Settings(home=tmp_path)
    settings.warehouse_path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WAREHOUSE, str(settings.warehouse_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        cli = subprocess.run(
            [Path(sys.executable).parent / "credit-scoring", "run-nightly", "--date", "2026-03-01"],
            env={**os.environ, "CREDIT_SCORING_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
        )
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate()
    assert cli.returncode == 1, cli.stdout + cli.stderr
    said = " ".join(cli.stdout.split())  # rich wraps long lines
    assert "is in use by another process; retry later" in said and "Traceback" not in cli.stdout + cli.stderr


def test_scheduler_configuration(settings: Settings) -> None:
    """Cron trigger from settings, one instance, coalesced, misfire grace, job kept in the SQLite store."""
    cfg = settings.replace(nightly_cron="30 3 * * *")
    scheduler = build_scheduler(cfg, BackgroundScheduler)
    scheduler.start()
    try:
        job = scheduler.get_job(JOB_ID)
        assert isinstance(job.trigger, CronTrigger)
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("3", "30")
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == cfg.nightly_misfire_grace_s
        assert job.func_ref == "scheduler.schedule:nightly_job" and job.args == (cfg,)
        assert (job.next_run_time.hour, job.next_run_time.minute) == (3, 30)
    finally:
        scheduler.shutdown()
    stored = _stored_job(cfg)
    assert stored is not None and str(stored.trigger) == str(job.trigger), "the job persists in the store"
    assert cfg.scheduler_db_path.is_file()
    assert Settings().nightly_cron == "0 2 * * *", "02:00 by default"


def test_a_run_missed_while_off_runs_once_on_restart(settings: Settings) -> None:
    """Three nights missed (machine off): on restart the job runs once, then waits for the next night."""
    first = build_scheduler(settings, BackgroundScheduler)
    first.start()
    first.shutdown()
    store = job_store(settings)
    store.start(BackgroundScheduler(), STORE)
    job = store.lookup_job(JOB_ID)
    job.next_run_time = datetime.now(job.next_run_time.tzinfo) - timedelta(days=3)
    store.update_job(job)  # what the store holds after three nights with the machine off
    store.shutdown()

    executed, events = threading.Event(), []
    restarted = build_scheduler(settings, BackgroundScheduler)
    restarted.add_listener(
        lambda e: (events.append(e.code), executed.set()), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    )
    restarted.start()
    try:
        assert executed.wait(30), "the missed run did not start on restart"
        time.sleep(0.5)  # a second (uncoalesced) run would have been submitted by now
        assert events == [EVENT_JOB_EXECUTED]
        assert restarted.get_job(JOB_ID).next_run_time > datetime.now(job.next_run_time.tzinfo)
    finally:
        restarted.shutdown()
    assert [(r[1], r[2]) for r in runs(settings)] == [(date.today(), SKIPPED)]


def _stored_job(settings: Settings):
    """The nightly job as the persistent store holds it, read with a fresh store."""
    store = job_store(settings)
    store.start(BackgroundScheduler(), STORE)
    try:
        return store.lookup_job(JOB_ID)
    finally:
        store.shutdown()
