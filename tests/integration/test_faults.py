"""Faults outside the nightly run: a load killed half-way, a disk that fills up during a load or a publication.

Real processes: the command is SIGKILLed, or runs with a file-size limit (RLIMIT_FSIZE, what a full disk
looks like to a writer: EFBIG), and the warehouse and the serving database are then opened as they were left.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ingest.load import ingest_folder
from scoring.publish import publish
from scoring.serving import connect_serving
from warehouse.schema import tables
from warehouse.settings import Settings

CLI = str(Path(sys.executable).parent / "credit-scoring")


def raw_counts(settings: Settings) -> dict[str, int]:
    """Rows per raw table (the tables absent count 0)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        found = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()
        present = {row[0] for row in found}
        return {t: one(con, f'SELECT count(*) FROM raw."{t}"') if t in present else 0 for t in tables()}


def one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The single number a query returns."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def file_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn capping the size of any file the command writes (and reporting, not dying, on EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def cli(settings: Settings, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """Run `credit-scoring ARGS` on these settings' home, output captured as a log would."""
    env = {**os.environ, "CREDIT_SCORING_HOME": str(settings.home)}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, **options)  # type: ignore[call-overload]


@pytest.fixture
def loaded(small_dataset: Path, settings: Settings) -> Settings:
    """A fresh home whose warehouse holds the small data set's raw tables, in a file with no free blocks (so a
    new load must grow it: a copy with the feature store dropped would take a batch in its freed space)."""
    assert ingest_folder(small_dataset, settings, progress=False).committed
    return settings


def test_a_load_killed_half_way_leaves_nothing_and_the_next_one_completes(
    small_dataset: Path, settings: Settings, tmp_path: Path
) -> None:
    clean = settings.replace(warehouse_path=tmp_path / "clean" / "warehouse.duckdb")
    started = time.perf_counter()
    assert ingest_folder(small_dataset, clean, progress=False).committed
    took = time.perf_counter() - started
    expected = raw_counts(clean)
    env = {**os.environ, "CREDIT_SCORING_HOME": str(settings.home)}
    load = subprocess.Popen([CLI, "ingest", str(small_dataset)], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(settings.warehouse_path.parent.glob(".ingest-*")) and time.monotonic() < deadline:
        time.sleep(0.02)  # the load has begun once its scratch folder exists
    time.sleep(took / 2)
    os.kill(load.pid, signal.SIGKILL)
    assert load.wait() == -signal.SIGKILL
    if settings.warehouse_path.exists():
        assert sum(raw_counts(settings).values()) in (0, sum(expected.values())), "all of the load or none of it"
    again = cli(settings, "ingest", str(small_dataset))
    assert again.returncode == 0, again.stdout + again.stderr
    assert raw_counts(settings) == expected


def test_a_full_disk_during_a_load_says_so_and_changes_nothing(loaded: Settings, tmp_path: Path) -> None:
    from datetime import date

    from generator.dataset import generate_batch

    batch = tmp_path / "batch"
    generate_batch(batch, date(2026, 3, 1), 3000, seed=5, drift=False)
    before = raw_counts(loaded)
    size = loaded.warehouse_path.stat().st_size
    full = cli(loaded, "ingest", str(batch), preexec_fn=file_limit(size + 2**18))
    assert full.returncode == 1, full.stdout + full.stderr
    assert "not enough disk space" in full.stdout and "the warehouse is as it was" in full.stdout
    assert "Traceback" not in full.stdout + full.stderr and "IO Error" not in full.stdout
    assert raw_counts(loaded) == before
    done = cli(loaded, "ingest", str(batch))
    assert done.returncode == 0, done.stdout + done.stderr
    assert raw_counts(loaded)["application_test"] == before["application_test"] + 3000


def test_a_full_disk_during_a_publication_keeps_the_last_one(served_warehouse: Settings, settings: Settings) -> None:
    home = settings.replace(
        warehouse_path=served_warehouse.warehouse_path,  # read only: the publication attaches it read-only
        mlflow_tracking_uri=served_warehouse.tracking_uri,
    )
    publish(home)
    with connect_serving(home) as con:
        before = con.execute("SELECT * FROM scores.latest ORDER BY ALL").fetchall()
    code = (
        "import sys; from scoring.publish import publish, PublishError; from warehouse.settings import Settings\n"
        "try:\n    publish(Settings.load(), rebuild=True)\nexcept PublishError as error:\n    print(error); sys.exit(1)"
    )
    env = {
        **os.environ,
        "CREDIT_SCORING_HOME": str(home.home),
        "CREDIT_SCORING_WAREHOUSE_PATH": str(home.warehouse_path),
    }
    full = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, preexec_fn=file_limit(2**20)
    )
    assert full.returncode == 1, full.stdout + full.stderr
    assert "not enough disk space" in full.stdout and "the last publication is intact" in full.stdout
    with connect_serving(home) as con:
        assert con.execute("SELECT * FROM scores.latest ORDER BY ALL").fetchall() == before
    assert not list(home.serving_path.parent.glob("*.tmp*")), "the staging file is removed"
