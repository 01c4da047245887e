"""What readers and writers outside the pipeline see while a real night runs and publishes: human reviews written by
other processes are never lost, each is imported once, and scores.latest shows the final decision and who made it;
the read API (a real uvicorn process) answers throughout, each answer from one whole publication."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import httpx2 as httpx
import pytest

from api.keys import add_key
from generator.dataset import batch_first_id, generate_batch
from scheduler import steps
from scheduler.history import SUCCEEDED
from scoring.reviews import stored_reviews
from tests.conftest import copy_home
from tests.integration.test_nightly import ROOT, settings_env
from warehouse.clock import utc_now
from warehouse.settings import Settings

NIGHT = date(2026, 3, 1)
WRITERS = 3
REVIEW_WRITER = """
import json, sys, time
from pathlib import Path
from scoring.reviews import record_review
from warehouse.settings import Settings

settings, stop, name = Settings.load(), Path(sys.argv[1]), sys.argv[2]
targets, written, i = json.loads(Path(sys.argv[3]).read_text()), [], 0
while not stop.exists():
    client, run_id, decision = targets[i % len(targets)]
    override = i % 3 == 0
    saved = record_review(
        settings, client=client, run_id=run_id, model_decision=decision, action="override" if override else "confirm",
        reason_code="OVERRIDE_DATA_ERROR" if override else "CONFIRM_ASSESSMENT",
        comment=f"review {i} by {name}", reviewer=name,
    )
    written.append(saved.review_id)
    i += 1
    time.sleep(0.02)
print(json.dumps(written))
"""
NIGHT_RUNNER = """
import sys
from datetime import date
from scheduler.nightly import run_nightly
from warehouse.settings import Settings

run = run_nightly(Settings.load(), date.fromisoformat(sys.argv[1]))
print(run.status, run.run_id, run.error)
"""


@dataclass(frozen=True)
class Answer:
    """One answer of the API during the night: when it was asked, how long it took, its status and body."""

    asked: datetime
    """When (UTC, as the pipeline's clock records its steps)."""
    seconds: float
    status: int
    body: dict


@dataclass
class ApiPoller:
    """Asks a running API for a client's decision and the health, again and again, until stopped."""

    base: str
    key: str
    client: int
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Poll until stopped (each answer recorded, a connection failure too, as status 0)."""
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=60) as http:
            while not self.stop.is_set():
                for path in (f"/clients/{self.client}/decision", "/health"):
                    asked, started = utc_now(), time.monotonic()
                    try:
                        reply = http.get(path)
                        status, body = reply.status_code, reply.json()
                    except httpx.HTTPError as error:
                        status, body = 0, {"detail": str(error)}
                    self.answers.append(Answer(asked, time.monotonic() - started, status, body))
                time.sleep(0.05)


@dataclass(frozen=True)
class BusyNight:
    """A night run while managers recorded reviews and a CRM asked the API: its settings, its run id, the ids each
    writer was told were saved, when its steps ran (UTC), the API's answers, and the night's new client."""

    settings: Settings
    run_id: int
    written: list[int]
    steps: dict[str, tuple[datetime, datetime]]
    answers: list[Answer]
    new_client: int


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`credit-scoring api` in a process of its own, once it answers /health."""
    cli = str(Path(sys.executable).parent / "credit-scoring")
    server = subprocess.Popen(
        [cli, "api", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"the API did not start: {server.communicate()[0][-2000:]}")


@pytest.fixture(scope="module")
def busy_night(served_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> BusyNight:
    """A published warehouse whose next night runs (in a process of its own) while three other processes record
    reviews of published decisions, from before the night starts until after it ends."""
    home = tmp_path_factory.mktemp("busy_night")
    cfg = copy_home(served_warehouse, home).replace(
        reviews_path=home / "reviews" / "reviews.sqlite", api_keys_file=home / "api_keys.toml"
    )
    _, key = add_key(cfg, "crm")
    generate_batch(cfg.inbox_dir / NIGHT.isoformat(), NIGHT, 500, seed=31, drift=False)
    with duckdb.connect(str(cfg.serving_path), read_only=True) as con:
        targets = con.execute("SELECT SK_ID_CURR, run_id, decision FROM scores.latest ORDER BY SK_ID_CURR LIMIT 40")
        (home / "targets.json").write_text(json.dumps(targets.fetchall()))
    env = {**os.environ, **settings_env(cfg)}
    stop = home / "stop"
    port = free_port()
    server = start_api(env, port)
    poller = ApiPoller(f"http://127.0.0.1:{port}", key, batch_first_id(NIGHT))
    polling = threading.Thread(target=poller.run)
    polling.start()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", REVIEW_WRITER, str(stop), f"manager{n}", str(home / "targets.json")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    try:
        night = subprocess.run(
            [sys.executable, "-c", NIGHT_RUNNER, NIGHT.isoformat()],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        time.sleep(1)  # a few answers from the new publication
    finally:
        stop.touch()
        poller.stop.set()
        polling.join(timeout=120)
        server.terminate()
        log = server.communicate(timeout=60)[0]
        outputs = [writer.communicate(timeout=60)[0] for writer in writers]
    assert "Traceback" not in log, log[-3000:]
    status, run_id, *_ = night.stdout.split()
    assert status == SUCCEEDED, night.stdout + night.stderr[-2000:]
    assert all(w.returncode == 0 for w in writers), outputs
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        timings = con.execute(
            "SELECT step, started_at, finished_at FROM ops.job_steps WHERE run_id = ?", [int(run_id)]
        ).fetchall()
    written = [review_id for output in outputs for review_id in json.loads(output)]
    steps_run = {step: (start, end) for step, start, end in timings}
    return BusyNight(cfg, int(run_id), written, steps_run, poller.answers, poller.client)


def test_reviews_written_while_a_night_publishes_are_all_kept_and_imported_once(busy_night: BusyNight) -> None:
    cfg = busy_night.settings
    stored = stored_reviews(cfg)
    assert sorted(r.review_id for r in stored) == sorted(busy_night.written), "every review saved is in the file"
    assert len(set(busy_night.written)) == len(busy_night.written)
    start, end = busy_night.steps["publish"]
    during = [r for r in stored if start <= r.reviewed_at <= end]
    assert during, "some reviews were recorded while the night published"

    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        imported = {row[0] for row in con.execute("SELECT review_id FROM scores.reviews").fetchall()}
    before_import = {r.review_id for r in stored if r.reviewed_at < busy_night.steps["reviews"][0]}
    assert before_import and before_import <= imported, "the night imported the reviews recorded before its step"

    assert steps.import_reviews(cfg).rows_out == len(stored) - len(imported)
    assert steps.import_reviews(cfg).rows_out == 0, "each review is imported once"
    steps.publish(cfg)
    with duckdb.connect(str(cfg.serving_path), read_only=True) as con:
        served = con.execute("SELECT review_id FROM scores.reviews ORDER BY review_id").fetchall()
        latest = con.execute(
            "SELECT SK_ID_CURR, run_id, decision, final_decision, overridden, reviewed_by, reviewed_at "
            "FROM scores.latest"
        ).fetchall()
    assert [row[0] for row in served] == sorted(busy_night.written)

    last = {(r.SK_ID_CURR, r.run_id): r for r in stored}  # oldest first: the last one of each score wins
    for client, run_id, decision, final, overridden, reviewer, reviewed_at in latest:
        review = last.get((client, run_id))
        if review is None:
            assert (final, overridden, reviewer) == (decision, False, None)
        else:
            expected = (review.final_decision, review.action == "override", review.reviewer, review.reviewed_at)
            assert (final, overridden, reviewer, reviewed_at) == expected
    assert sum(1 for row in latest if row[4]) == sum(1 for r in last.values() if r.action == "override") > 0


def test_the_api_answers_during_the_night_each_answer_from_one_whole_publication(busy_night: BusyNight) -> None:
    cfg, answers = busy_night.settings, busy_night.answers
    assert answers and all(a.status in (200, 404) for a in answers), {
        a.status: a.body for a in answers if a.status not in (200, 404)
    }
    publish_start, publish_end = busy_night.steps["publish"]
    during = [a for a in answers if publish_start <= a.asked <= publish_end]
    assert during, "the API was asked while the night published"
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as con:
        (night_run,) = con.execute(
            "SELECT run_id FROM scores.predictions WHERE SK_ID_CURR = ?", [busy_night.new_client]
        ).fetchone()
    published = [a.body["publication"] for a in answers if "publication" in a.body]
    assert len({p["published_at"] for p in published}) >= 2, "answers came from the last publication and the night's"
    assert published == sorted(published, key=lambda p: p["published_at"]), "never an older publication after a newer"
    decisions = [a for a in answers if a.status == 404 or "run_id" in a.body]  # the new client's, in asking order
    statuses = [a.status for a in decisions]
    assert statuses == sorted(statuses, reverse=True) and statuses[0] == 404 and statuses[-1] == 200, (
        "the night's client is unknown until its publication, then known for good"
    )
    for answer in decisions:
        if answer.status == 200:
            assert answer.body["run_id"] == night_run <= answer.body["publication"]["last_run_id"]
    slowest = max(a.seconds for a in answers)
    print(f"{len(answers)} answers, {len(during)} during the publication; slowest {slowest:.2f} s")
    assert slowest < 10, "no answer waited for the publication"
