"""The nightly run: simulated nights, run history, the run lock, deliveries, kills and time limits, the scheduler."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from featurestore.build import dbt_dirs
from generator.dataset import generate_batch
from scheduler import steps
from scheduler.history import FAILED, LOCKED, RUNNING, SKIPPED, SUCCEEDED, JobRun, RunHistory
from scheduler.lock import lock_path, run_lock
from scheduler.nightly import STEPS, run_nightly
from scheduler.schedule import JOB_ID, build_scheduler, last_run, missed_run, nightly_job, save_last_run
from warehouse.delivery import MANIFEST, write_manifest
from warehouse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BATCH_APPLICATIONS = 2000
NIGHTS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
"""Night 1: a normal batch; night 2: a batch with a corrupt file; night 3: a drifted batch, gzipped, in latin-1,
with an application whose id is not a number."""


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


def batch_ids(folder: Path) -> set[int]:
    """The application ids a generated batch holds (read by the test, independently of the pipeline)."""
    return set(pd.read_csv(folder / "application_test.csv", usecols=["SK_ID_CURR"])["SK_ID_CURR"].tolist())


def reseal(folder: Path) -> None:
    """Write the batch's manifest again (the sender delivers the files as they now are)."""
    write_manifest(folder, sorted(p.name for p in folder.iterdir() if p.name.endswith((".csv", ".csv.gz"))))


def corrupt(folder: Path) -> None:
    """Break a batch file at file level: a header that renames a column (missing + unknown column)."""
    path = folder / "bureau.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace("CREDIT_ACTIVE", "CREDIT_ACTIV")
    path.write_text("".join(lines))
    reseal(folder)


def as_exported(folder: Path) -> None:
    """The applications file as another system exports it: latin-1, gzipped, with one more row whose id is text."""
    path = folder / "application_test.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    extra = rows[1][:]
    extra[0], extra[rows[0].index("ORGANIZATION_TYPE")] = "id-99", "Caf\u00e9"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0], extra, *rows[1:]])
    path.with_suffix(".csv.gz").write_bytes(gzip.compress(out.getvalue().encode("latin-1")))
    path.unlink()
    reseal(folder)


def private_settings(champion: Settings, home: Path) -> Settings:
    """Settings on a private copy of the champion warehouse (its MLflow registry is shared, read-only)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(champion.warehouse_path, home / "warehouse.duckdb")
    return champion.replace(
        warehouse_path=home / "warehouse.duckdb",
        serving_path=home / "serving.duckdb",
        scheduler_state_path=home / "scheduler.json",
        reviews_path=home / "reviews.sqlite",
        **{f"{name}_dir": home / name for name in ("inbox", "processed", "rejected", "reports", "log")},
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """CREDIT_SCORING_* variables that make Settings.load() in another process give these settings."""
    return {f"CREDIT_SCORING_{f.name.upper()}": str(getattr(settings, f.name)) for f in fields(settings)}


@dataclass(frozen=True)
class Published:
    """What a night leaves for its users: raw row counts and the published decisions."""

    raw: dict[str, int]
    latest: list[tuple]
    scores_per_client: dict[int, int]

    @classmethod
    def of(cls, settings: Settings) -> Published:
        """Read it from the warehouse and the serving database."""
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            names = [
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()
            ]
            raw = {name: con.execute(f'SELECT count(*) FROM raw."{name}"').fetchone()[0] for name in names}
        with duckdb.connect(str(settings.serving_path), read_only=True) as con:
            latest = con.execute(
                "SELECT SK_ID_CURR, round(probability, 12), decision FROM scores.latest ORDER BY ALL"
            ).fetchall()
        return cls(raw, latest, steps.score_counts(settings))


@dataclass(frozen=True)
class FirstNight:
    """A clean first night on a private warehouse: its settings, what it published, its batch and timings."""

    settings: Settings
    published: Published
    batch: Path
    step_seconds: dict[str, float]


@pytest.fixture(scope="module")
def first_night(champion_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> FirstNight:
    """Night 1 run cleanly: the reference the killed nights must reach, and the start of the three nights."""
    home = tmp_path_factory.mktemp("nights")
    cfg = private_settings(champion_warehouse, home / "home")
    folder = cfg.inbox_dir / NIGHTS[0].isoformat()
    generate_batch(folder, NIGHTS[0], BATCH_APPLICATIONS, seed=100, drift=False)
    batch = shutil.copytree(folder, home / "batch-copy")
    (run,) = nightly_job(cfg, today=NIGHTS[0])
    assert run.status == SUCCEEDED, run.error
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        seconds = con.execute(
            "SELECT step, epoch(finished_at - started_at) FROM ops.job_steps WHERE run_id = ?", [run.run_id]
        ).fetchall()
    return FirstNight(cfg, Published.of(cfg), Path(batch), dict(seconds))


def test_three_nights(first_night: FirstNight) -> None:
    """A normal, a corrupt and a drifted night: scored once each, history right, alert only when drifted."""
    cfg = first_night.settings
    folders = [cfg.inbox_dir / night.isoformat() for night in NIGHTS]
    for i, (night, folder) in enumerate(zip(NIGHTS[1:], folders[1:], strict=True), start=1):
        generate_batch(folder, night, BATCH_APPLICATIONS, seed=100 + i, drift=i == 2)
    ids = [batch_ids(first_night.batch), *(batch_ids(folder) for folder in folders[1:])]
    corrupt(folders[1])
    as_exported(folders[2])
    first = runs(cfg)[-1]
    assert not folders[0].exists() and (cfg.processed_dir / NIGHTS[0].isoformat()).is_dir()
    assert run_steps(cfg, first[0]) == [(step, SUCCEEDED) for step in STEPS]
    assert set(steps.score_counts(cfg)) >= ids[0]
    published = file_digest(cfg.serving_path)

    (second,) = nightly_job(cfg, today=NIGHTS[1])
    assert second.status == FAILED
    assert "step 'ingest' failed" in second.error and "bureau.csv" in second.error
    assert "Error" not in second.error, "plain words, no exception class names"
    assert run_steps(cfg, second.run_id) == [("ingest", FAILED)]
    assert folders[1].is_dir(), "the corrupt batch must stay in the inbox to be retried"
    assert file_digest(cfg.serving_path) == published, "a failed night leaves the published results alone"

    retried, third = nightly_job(cfg, today=NIGHTS[2])
    assert (retried.night, retried.status) == (NIGHTS[1], FAILED), "the corrupt batch is retried first"
    assert (third.night, third.status) == (NIGHTS[2], SUCCEEDED), third.error
    assert folders[1].is_dir() and not folders[2].exists()
    assert third.message.startswith(f"{BATCH_APPLICATIONS} new applications"), "the row with a text id is not one"

    scored = steps.score_counts(cfg)
    assert all(scored.get(client) == 1 for client in ids[0] | ids[2]), "each new client scored exactly once"
    assert not ids[1] & scored.keys(), "the corrupt night's clients are not scored"
    assert steps.night_clients(cfg, cfg.processed_dir / NIGHTS[2].isoformat()).tolist() == sorted(ids[2])
    assert [(r[1], r[2]) for r in runs(cfg)] == [
        (NIGHTS[0], SUCCEEDED),
        (NIGHTS[1], FAILED),
        (NIGHTS[1], FAILED),
        (NIGHTS[2], SUCCEEDED),
    ]
    assert set(alerts_by_run(cfg)) == {third.run_id}, "an alert on the drifted night only"
    assert third.alerts


# --- kills and time limits: real processes, real SIGKILLs ---------------------------------------------

NIGHT_DRIVER = """
import os, signal, sys, threading
from datetime import date
from scheduler.nightly import run_nightly
from warehouse.settings import Settings

target, delay = sys.argv[1], float(sys.argv[2])
begun = []

def kill_during(step):
    if step == target:
        begun.append(step)
        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
    elif begun:  # the target ended before its timer (a retried step is quicker): die as the next one starts
        os.kill(os.getpid(), signal.SIGKILL)

run = run_nightly(Settings.load(), date.fromisoformat(sys.argv[3]), on_step=kill_during)
print(run.status, run.error, run.message)
"""


def _command_line(proc: Path) -> str:
    """The start of a /proc process's command line, readable."""
    return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]


def _alive(matches: Callable[[Path], bool]) -> list[str]:
    """Command lines of the live processes, this one aside, whose /proc entry `matches`."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if matches(proc):
                alive.append(_command_line(proc))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return alive


def descendants_alive(marker: str) -> list[str]:
    """Command lines of the live processes whose environment holds the marker (a run's step and dbt children)."""
    return _alive(lambda proc: marker.encode() in (proc / "environ").read_bytes())


def holding(paths: tuple[Path, ...]) -> list[str]:
    """Command lines of the live processes with a file open under one of `paths`: a dbt forked by a night's step
    has its fork server's environment in /proc, not its own, but it holds its log and the warehouse."""

    def opened_one(proc: Path) -> bool:
        opened = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        return any(name.startswith(str(path)) for name in opened for path in paths)

    return _alive(opened_one)


def wait_gone(marker: str, seconds: float = 20, files: tuple[Path, ...] = ()) -> list[str]:
    """Wait until no process holds the marker or a file under `files`; those still alive after `seconds`."""
    deadline = time.monotonic() + seconds
    while (alive := descendants_alive(marker) + holding(files)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def killed_step(settings: Settings) -> str | None:
    """The step the last (killed) run was in: the one still 'running' in ops.job_steps."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        row = con.execute(
            "SELECT step FROM ops.job_steps WHERE status = 'running' AND run_id = (SELECT max(run_id) FROM "
            "ops.job_runs)"
        ).fetchone()
    return row[0] if row else None


@pytest.mark.timeout(900)
def test_kills_and_time_limits_lose_nothing_and_the_next_run_completes(
    first_night: FirstNight, champion_warehouse: Settings, tmp_path: Path
) -> None:
    """Night 1 again on a fresh copy, SIGKILLing the run's process during every step in turn (and, once the batch
    is loaded, running its features step past a time limit). Each time the step's process and dbt die with it; the
    last run completes, and the raw tables and published decisions equal those of the clean night."""
    cfg = private_settings(champion_warehouse, tmp_path / "home")
    shutil.copytree(first_night.batch, cfg.inbox_dir / NIGHTS[0].isoformat())
    killed: list[str | None] = []
    tried: set[str] = set()
    while set(STEPS) - set(killed) and len(killed) < 2 * len(STEPS):
        target = next(step for step in STEPS if step not in killed)
        # a step of a second or two could end before any timer: it is killed as it starts; so is a step that
        # ended before its timer once (a retry finds its work done)
        at_start = target in tried or first_night.step_seconds[target] < 2
        tried.add(target)
        killed.append(kill_night_during(cfg, first_night, target, f"{tmp_path.name}-{len(killed)}", at_start))
        if killed[-1] == "ingest":  # the batch is loaded now: stop the next features step at a time limit
            timed_out = run_nightly(cfg.replace(step_timeouts="features=3"), NIGHTS[0])
            assert timed_out.status == FAILED and "step 'features' failed" in timed_out.error
            assert "timed out after 3 s" in timed_out.error or "stopped after 3 s" in timed_out.error
            assert run_steps(cfg, timed_out.run_id)[-1] == ("features", FAILED)
            dbt_files = (dbt_dirs(cfg)[1], cfg.warehouse_path)  # dbt's log folder and the warehouse
            assert wait_gone(f"CREDIT_SCORING_WAREHOUSE={cfg.warehouse_path}", files=dbt_files) == [], "dbt stopped"
    assert set(killed) >= set(STEPS), f"{len(killed)} kills landed in the steps {killed}"

    final = run_nightly(cfg, NIGHTS[0])
    assert final.status in (SUCCEEDED, SKIPPED), final.error
    if final.status == SKIPPED:  # the archive step had moved the batch before the kill landed
        assert "already processed" in final.message
    assert (cfg.processed_dir / NIGHTS[0].isoformat()).is_dir()
    assert Published.of(cfg) == first_night.published
    statuses = [r[2] for r in runs(cfg)]
    assert RUNNING not in statuses and statuses.count(FAILED) == len(killed) + 1


def kill_night_during(
    cfg: Settings, first_night: FirstNight, target: str, name: str, at_start: bool = False
) -> str | None:
    """Run the night in a process SIGKILLed inside `target` (by then, in the clean night, the step had not ended;
    `at_start`: as soon as it starts); check that none of its processes outlives it; the step it was in."""
    marker = f"NIGHT_KILL_TEST={name}"
    env = {**os.environ, **settings_env(cfg), "NIGHT_KILL_TEST": name}
    delay = 0.0 if at_start else min(0.3 * first_night.step_seconds[target], 20)
    driver = subprocess.run(
        [sys.executable, "-c", NIGHT_DRIVER, target, f"{delay:.2f}", NIGHTS[0].isoformat()],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert driver.returncode == -signal.SIGKILL, (target, driver.stdout, driver.stderr[-2000:])
    assert wait_gone(marker) == [], f"processes of the run killed during {target} outlived it"
    return killed_step(cfg)


def test_a_batch_still_arriving_waits_for_the_next_night(settings: Settings) -> None:
    """No manifest yet, or a file shorter than its manifest says: the night is skipped and the batch waits."""
    folder = settings.inbox_dir / NIGHTS[0].isoformat()
    generate_batch(folder, NIGHTS[0], 20, seed=1, drift=False)
    manifest = (folder / MANIFEST).read_bytes()
    (folder / MANIFEST).unlink()
    first = run_nightly(settings, NIGHTS[0])
    assert first.status == SKIPPED and "no manifest.json yet" in first.message and folder.is_dir()
    (folder / MANIFEST).write_bytes(manifest)
    bureau = folder / "bureau.csv"
    data = bureau.read_bytes()
    bureau.write_bytes(data[: data.rindex(b"\n", 0, -1) + 1])  # still being copied, cut at a line boundary
    second = run_nightly(settings, NIGHTS[0])
    assert second.status == SKIPPED
    assert f"bureau.csv has {bureau.stat().st_size:,} of its {len(data):,} bytes" in second.message
    assert runs(settings)[-1][2] == SKIPPED and folder.is_dir() and not settings.processed_dir.exists()


def test_a_batch_of_quarantined_applications_fails_once_and_is_set_aside(settings: Settings) -> None:
    """Every application quarantined: a recorded failure with its reason, the batch moved out of the inbox."""
    folder = settings.inbox_dir / NIGHTS[0].isoformat()
    generate_batch(folder, NIGHTS[0], 20, seed=1, drift=False)
    path = folder / "application_test.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["CODE_GENDER"] = "?"
    frame.to_csv(path, index=False)
    reseal(folder)
    run = run_nightly(settings, NIGHTS[0])
    assert run.status == FAILED
    assert "all 20 applications of the batch were quarantined (first: line 2, CODE_GENDER" in run.error
    assert not folder.exists() and (settings.rejected_dir / NIGHTS[0].isoformat()).is_dir()
    again = run_nightly(settings, NIGHTS[0])
    assert again.status == SKIPPED, "it does not fail again every night"


def test_a_batch_without_applications_has_no_clients_to_check(settings: Settings) -> None:
    """The night's clients are the applications stored from its batch: none when it brings no application file."""
    folder = settings.inbox_dir / NIGHTS[0].isoformat()
    generate_batch(folder, NIGHTS[0], 20, seed=1, drift=False)
    for path in folder.glob("*.csv"):
        if path.name != "bureau.csv":
            path.unlink()
    reseal(folder)
    counts = steps.ingest_batch(settings, folder, settings.processed_dir / NIGHTS[0].isoformat())
    assert counts.value.tolist() == []
    run = JobRun(1, "nightly", NIGHTS[0], RUNNING, datetime.now())
    assert steps.check_drift(settings, run, counts.value).value is None


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


def test_lock_refuses_a_second_run_records_it_and_dies_with_its_holder(settings: Settings) -> None:
    """A run while another process holds the lock is refused and recorded by the next run holding it; once the
    holder is SIGKILLed, runs go on."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path(settings))], stdout=subprocess.PIPE, text=True, cwd=ROOT
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
    assert [(r[1], r[2], r[3]) for r in runs(settings)] == [
        (NIGHTS[0], LOCKED, refused.error),
        (NIGHTS[0], SKIPPED, None),
    ]


def test_lock_is_exclusive_within_a_process_and_old_histories_learn_the_locked_status(settings: Settings) -> None:
    """Two holders in one process exclude each other too; a history table of an earlier version is migrated."""
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # ops.job_runs as earlier versions made it
        con.execute(
            "CREATE SCHEMA ops; CREATE SEQUENCE ops.run_id_seq START 1; CREATE TABLE ops.job_runs (run_id BIGINT "
            "PRIMARY KEY, job VARCHAR NOT NULL, night DATE NOT NULL, started_at TIMESTAMP NOT NULL, finished_at "
            "TIMESTAMP, status VARCHAR NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')), "
            "error VARCHAR, message VARCHAR, batch_folder VARCHAR, load_id BIGINT)"
        )
        con.execute(
            "INSERT INTO ops.job_runs VALUES (nextval('ops.run_id_seq'), 'nightly', ?, now(), now(), "
            "'skipped', NULL, 'old', NULL, NULL)",
            [NIGHTS[1]],
        )
    with run_lock(lock_path(settings)):
        assert run_nightly(settings, NIGHTS[0]).status == LOCKED
    assert run_nightly(settings, NIGHTS[0]).status == SKIPPED
    assert [r[2] for r in runs(settings)] == [SKIPPED, LOCKED, SKIPPED]


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
    assert "is in use by another process; retry later" in cli.stdout and "Traceback" not in cli.stdout + cli.stderr
    assert len(cli.stdout.strip().splitlines()) == 1, "one line, not wrapped, in a log"


# --- the scheduler --------------------------------------------------------------------------------------


def test_scheduler_configuration_keeps_no_pickled_code(settings: Settings) -> None:
    """Cron trigger from settings, one instance, coalesced, misfire grace; between restarts only a JSON time."""
    cfg = settings.replace(nightly_cron="30 3 * * *")
    scheduler = build_scheduler(cfg, BackgroundScheduler)
    scheduler.start()
    try:
        job = scheduler.get_job(JOB_ID)
        assert isinstance(job.trigger, CronTrigger)
        fields_ = {f.name: str(f) for f in job.trigger.fields}
        assert (fields_["hour"], fields_["minute"]) == ("3", "30")
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == cfg.nightly_misfire_grace_s
        assert job.func is nightly_job and job.args == (cfg,)
        assert (job.next_run_time.hour, job.next_run_time.minute) == (3, 30)
        assert all(isinstance(store, MemoryJobStore) for store in scheduler._jobstores.values())
    finally:
        scheduler.shutdown()
    state = json.loads(cfg.scheduler_state_path.read_text())
    assert set(state) == {"last_run"} and last_run(cfg) is not None, "plain data: nothing to unpickle"
    assert oct(cfg.scheduler_state_path.stat().st_mode)[-3:] == "600"
    assert Settings().nightly_cron == "0 2 * * *", "02:00 by default"


def test_a_run_missed_while_off_runs_once_on_restart(settings: Settings) -> None:
    """Three nights missed (machine off): on restart the job runs once, then waits for the next night."""
    # the nightly time is earlier today, so the latest missed night is within the grace period at any hour (at the
    # default 02:00, a restart after 22:00 is more than 20 hours after the latest missed night: nothing runs)
    now = datetime.now().astimezone()
    earlier = now - (now - now.replace(hour=0, minute=0, second=0, microsecond=0)) / 2
    settings = settings.replace(nightly_cron=f"{earlier.minute} {earlier.hour} * * *")
    save_last_run(settings, now - timedelta(days=3))
    executed, events = threading.Event(), []
    restarted = build_scheduler(settings, BackgroundScheduler)
    restarted.add_listener(
        lambda e: (events.append(e.code), executed.set()), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    )
    restarted.start()
    try:
        assert executed.wait(60), "the missed run did not start on restart"
        time.sleep(0.5)  # a second (uncoalesced) run would have been submitted by now
        assert events == [EVENT_JOB_EXECUTED]
        next_run = restarted.get_job(JOB_ID).next_run_time
        assert next_run > datetime.now(next_run.tzinfo)
    finally:
        restarted.shutdown()
    assert [(r[1], r[2]) for r in runs(settings)] == [(date.today(), SKIPPED)]
    now = datetime.now().astimezone()
    assert now - last_run(settings) < timedelta(minutes=5)
    assert missed_run(settings, CronTrigger.from_crontab(settings.nightly_cron), now) is None, "nothing missed now"
