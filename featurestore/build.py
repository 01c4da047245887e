"""Building the feature store with dbt: `build_features` (models and tests), `generate_docs`, `serve_docs`.

dbt runs in a child process, so no connection outlives it and the warehouse file is free afterwards.
The same dbt project builds on DuckDB (the warehouse file, the default) or on Apache Spark (engine="spark": the
raw tables exported to the Parquet lake first, then dbt's `spark` target, its tables under Settings.spark_dir)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import duckdb
from rich.table import Table

from warehouse.database import private_dir
from warehouse.features import FEATURES_TABLE
from warehouse.processes import child_setup, kill_group
from warehouse.settings import Settings
from warehouse.spark import lake_dir, spark_conf, spark_environment

Engine = Literal["duckdb", "spark"]
"""Where dbt builds the feature store: the DuckDB warehouse, or Apache Spark (profiles.yml target `spark`)."""
DBT_TARGETS: dict[str, str] = {"duckdb": "warehouse", "spark": "spark"}
DBT_TARGET_DIR = "target"
DBT_LOG_DIR = "logs"
NIGHTLY_EXCLUDES = ("--exclude-resource-type", "unit_test", "--exclude", "tag:checked_at_ingest")
"""What an incremental build leaves out: unit tests check the SQL, not the data (they run in full builds and in
`make test`), and ingestion checks every new row for what the staging tests tagged checked_at_ingest look for."""
SPARK_EXCLUDES = ("--exclude-resource-type", "unit_test")
"""What a Spark build leaves out: the unit tests, which check the models' SQL on fixture rows and run on DuckDB (a
unit test has no raw table for union_all_by_name to read the columns of on Spark, which has no UNION BY NAME)."""
LAST_BUILD_DIR = "last_build"
"""Inside dbt's target folder: the manifest of the last complete, successful build (dbt's --state for the next)."""
_PROGRESS_LINE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|ERROR|FAIL|WARN|SKIP|NO-OP)\b.*?\b([\w.]+)\s")


class FeatureBuildError(RuntimeError):
    """dbt could not build the feature store: names the failing models / tests and why."""


@dataclass(frozen=True)
class NodeResult:
    """One model, test, unit test or hook that dbt ran."""

    name: str
    kind: str
    status: str
    seconds: float
    message: str = ""
    rows_processed: int | None = None
    """Keys (clients, credits, loans) the model (re)built in this run, from intermediate.dbt_build_log."""


@dataclass(frozen=True)
class BuildResult:
    """What one `dbt build` ran: every node with its status and timing, and the wall-clock total."""

    nodes: tuple[NodeResult, ...]
    seconds: float
    invocation_id: str
    cpu_seconds: float = 0.0
    """CPU time of the dbt process (all its threads)."""
    peak_mb: float = 0.0
    """Peak resident memory of the dbt process."""

    @property
    def models(self) -> list[NodeResult]:
        """The models built."""
        return [n for n in self.nodes if n.kind == "model"]

    @property
    def tests(self) -> list[NodeResult]:
        """The data tests and unit tests run."""
        return [n for n in self.nodes if n.kind in ("test", "unit_test")]

    @property
    def rows_processed(self) -> dict[str, int]:
        """Keys rebuilt per incremental model in this run."""
        return {n.name: n.rows_processed for n in self.models if n.rows_processed is not None}

    def as_table(self) -> Table:
        """A rich table: one line per model, then the test tally."""
        table = Table(title=f"dbt build: {len(self.models)} models, {len(self.tests)} tests in {self.seconds:.1f} s")
        for column in ("model", "status", "rows rebuilt", "seconds"):
            table.add_column(column, justify="right" if column in ("rows rebuilt", "seconds") else "left")
        for n in self.models:
            rows = "" if n.rows_processed is None else f"{n.rows_processed:,}"
            table.add_row(n.name, n.status, rows, f"{n.seconds:.2f}")
        passed = sum(n.status == "pass" for n in self.tests)
        table.caption = f"tests: {passed} passed, {len(self.tests) - passed} not passed"
        return table


ProgressCallback = Callable[[int, int, str], None]
"""Called as (nodes done, nodes in all, node name) while dbt runs."""


def dbt_dirs(settings: Settings, engine: Engine = "duckdb") -> tuple[Path, Path]:
    """dbt's target and log folders for this warehouse and engine, inside the dbt project.

    One pair per warehouse file and engine, so that builds of different warehouses (tests, benchmarks) or engines
    never read each other's run_results.json, and each keeps dbt's partial parsing (which restarts when the
    profile changes).
    """
    name = str(settings.warehouse_path) if engine == "duckdb" else f"{settings.spark_dir}:{engine}"
    key = hashlib.sha1(name.encode()).hexdigest()[:10]
    project = settings.dbt_project_dir
    return project / DBT_TARGET_DIR / key, project / DBT_LOG_DIR / key


def dbt_command(settings: Settings, *args: str, engine: Engine = "duckdb") -> list[str]:
    """The dbt command line for `args`, with this project's project, profiles, target and log folders."""
    target, logs = dbt_dirs(settings, engine)
    return [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--target",
        DBT_TARGETS[engine],
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_profiles_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
    ]


def dbt_environment(settings: Settings, engine: Engine = "duckdb") -> dict[str, str]:
    """The environment for dbt: the warehouse path profiles.yml reads, no usage tracking; for Spark, the
    warehouse's Spark configuration (warehouse.spark.spark_conf, as JSON) and the lake's folder."""
    env = dict(os.environ)
    env.update(
        {
            "CREDIT_SCORING_WAREHOUSE": str(settings.warehouse_path),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_NO_VERSION_CHECK": "true",
        }
    )
    if engine == "spark":
        env.update(
            {
                "CREDIT_SCORING_SPARK_CONF": json.dumps(spark_conf(settings)),
                "CREDIT_SCORING_LAKE": str(lake_dir(settings).resolve()),
                **spark_environment(env),
            }
        )
    return env


@dataclass(frozen=True)
class DbtRun:
    """One dbt child process: its exit code, output, CPU seconds and peak resident memory."""

    code: int
    output: str
    cpu_seconds: float
    peak_mb: float


def run_dbt(
    settings: Settings,
    *args: str,
    on_progress: ProgressCallback | None = None,
    timeout_s: float | None = None,
    engine: Engine = "duckdb",
) -> DbtRun:
    """Run dbt in a child process (so no connection outlives it: the warehouse file is free afterwards).

    dbt dies with this process (it never writes the warehouse without its parent's lock), and is stopped,
    with every process it started, after `timeout_s` seconds (settings' time limit of the features step)."""
    private_dir(settings.warehouse_path.parent)
    limit = settings.timeout_s("features") if timeout_s is None else timeout_s
    lines = []
    pid, output = _start_dbt(
        dbt_command(settings, *args, engine=engine), dbt_environment(settings, engine), settings.dbt_project_dir
    )
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        kill_group(pid)

    watchdog = threading.Timer(limit, stop)
    watchdog.start()
    try:
        with output:
            for line in output:
                lines.append(line)
                match = _PROGRESS_LINE.search(line)
                if match and on_progress is not None:
                    on_progress(int(match.group(1)), int(match.group(2)), match.group(4))
    except BaseException:
        kill_group(pid)  # interrupted while dbt runs: stop it too
        os.waitpid(pid, 0)
        raise
    finally:
        watchdog.cancel()
    _, status, usage = os.wait4(pid, 0)  # this child's own resource use, unlike RUSAGE_CHILDREN
    if expired.is_set():
        raise FeatureBuildError(
            f"dbt was stopped after {limit:,.0f} s, its time limit (settings step_timeout_s / step_timeouts); "
            "the models it had not finished are rebuilt by the next build"
        )
    code = os.waitstatus_to_exitcode(status)
    return DbtRun(code, "".join(lines), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def _start_dbt(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, IO[str]]:
    """Start `command` (dbt) in a child process that leads its own group and dies with this one: its pid, and
    its output (stdout and stderr) to read line by line.

    A process that already imported dbt (a nightly step: the scheduler's fork server preloads it) forks, and the
    child runs dbt's command line in place; that saves the two seconds a new interpreter spends importing dbt.
    Any other process starts the `dbt` executable."""
    if "dbt.cli.main" not in sys.modules:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=child_setup(),
        )
        assert process.stdout is not None
        process.returncode = 0  # reaped by run_dbt's os.wait4: Popen must not wait for it again
        return process.pid, process.stdout
    setup = child_setup()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        _dbt_in_place(command[1:], env, cwd, write, setup)
    os.close(write)
    return pid, os.fdopen(read, "r", buffering=1)


def _dbt_in_place(args: list[str], env: dict[str, str], cwd: Path, output: int, setup: Callable[[], None]) -> None:
    """In a forked child: run dbt's command line with `args`, its output to the `output` descriptor, then exit with
    the `dbt` executable's exit code."""
    code = 2
    try:
        setup()
        os.dup2(output, 1)
        os.dup2(output, 2)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (until os._exit)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        # As multiprocessing's own children do: the parent's finalizers are not ours to run, and ours (dbt's
        # semaphores) must run before os._exit, or the shared resource tracker reports them leaked.
        multiprocessing.util._finalizer_registry.clear()  # type: ignore[attr-defined]
        from dbt.cli.main import cli

        try:
            cli.main(args, prog_name="dbt")  # as the executable: it ends in SystemExit with dbt's exit code
            code = 0
        except SystemExit as done:
            code = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
        multiprocessing.util._exit_function()  # type: ignore[attr-defined]
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


def build_features(
    settings: Settings,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    on_progress: ProgressCallback | None = None,
    engine: Engine = "duckdb",
    master: str | None = None,
) -> BuildResult:
    """Run `dbt build` (models, tests) on the warehouse; raise FeatureBuildError naming what failed.

    Once the feature store exists, a plain build is a night's incremental build: it rebuilds only the changed
    clients and runs the data tests of the models, not the unit tests nor the checks ingestion already made.
    On Spark (at `master`, default Settings.spark_master) the new loads of the raw tables are exported to the
    Parquet lake first; dbt's process is then the only one holding Spark's metastore."""
    if not settings.warehouse_path.exists():
        raise FeatureBuildError(f"No warehouse at {settings.warehouse_path}: run `credit-scoring ingest` first.")
    if engine == "spark":
        from featurestore.lake import export_lake

        settings = settings.replace(spark_master=master or settings.spark_master)
        export_lake(settings)
    args = ["build", *(["--select", select] if select else []), *(["--full-refresh"] if full_refresh else [])]
    if select is None and not full_refresh and features_built(settings, engine):
        args += [*NIGHTLY_EXCLUDES, *unchanged_left_alone(settings, engine)]
    elif engine == "spark":
        args += SPARK_EXCLUDES
    result = run_build(settings, *args, on_progress=on_progress, engine=engine)
    if select is None:
        keep_last_build(settings, engine)
    return result


def unchanged_left_alone(settings: Settings, engine: Engine = "duckdb") -> list[str]:
    """The selection of an incremental build: the incremental models (new rows arrive every night), and whatever
    changed since the last complete build (dbt's state:modified: a seed, a view, a macro, a model's SQL) with
    everything downstream of it. Unchanged seeds and staging views, and their tests, are left as they are; without
    the last build's manifest, everything is selected."""
    state = dbt_dirs(settings, engine)[0] / LAST_BUILD_DIR
    if not (state / "manifest.json").exists():
        return []
    return [
        "--select",
        "config.materialized:incremental",
        "state:modified+",
        "--state",
        str(state),
        # a night with nothing changed is the usual case, not a warning worth a line in every night's log
        "--warn-error-options",
        '{"silence": ["NoNodesForSelectionCriteria"]}',
    ]


def keep_last_build(settings: Settings, engine: Engine = "duckdb") -> None:
    """Keep the manifest of the build that just succeeded, for the next incremental build to compare with."""
    target = dbt_dirs(settings, engine)[0]
    state = target / LAST_BUILD_DIR
    state.mkdir(exist_ok=True)
    shutil.copy2(target / "manifest.json", state / "manifest.json")


def spark_table_dir(settings: Settings, table: str) -> Path:
    """The folder of a Spark managed table `schema.table` (Spark's warehouse layout: tables/<schema>.db/<table>)."""
    schema, name = table.split(".")
    return settings.spark_dir / "tables" / f"{schema}.db" / name


def features_built(settings: Settings, engine: Engine = "duckdb") -> bool:
    """Whether the warehouse already holds the feature store (the next build is incremental)."""
    if engine == "spark":
        return any(spark_table_dir(settings, FEATURES_TABLE).glob("**/*.parquet"))
    schema, table = FEATURES_TABLE.split(".")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        found = con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, table]
        ).fetchone()
    return bool(found and found[0])


def run_build(
    settings: Settings,
    command: str,
    *args: str,
    on_progress: ProgressCallback | None = None,
    engine: Engine = "duckdb",
) -> BuildResult:
    """Run a dbt command that builds or tests (build, run, test) and read what it did; raise naming what failed."""
    started = time.perf_counter()
    run = run_dbt(settings, command, *args, on_progress=on_progress, engine=engine)
    seconds = time.perf_counter() - started
    results_file = dbt_dirs(settings, engine)[0] / "run_results.json"
    if not results_file.exists() or results_file.stat().st_mtime < time.time() - seconds - 1:
        raise FeatureBuildError(f"dbt {command} did not run (exit code {run.code}):\n{_tail(run.output)}")
    result = _read_results(settings, json.loads(results_file.read_text()), seconds, engine)
    result = dataclasses.replace(result, cpu_seconds=run.cpu_seconds, peak_mb=run.peak_mb)
    failed = [n for n in result.nodes if n.status in ("error", "fail", "runtime error")]
    if failed or run.code != 0:
        details = "\n".join(f"- {n.kind} {n.name}: {n.status}: {n.message}" for n in failed) or _tail(run.output)
        raise FeatureBuildError(f"dbt {command} failed on {settings.warehouse_path}:\n{details}")
    return result


def _read_results(settings: Settings, run_results: dict, seconds: float, engine: Engine = "duckdb") -> BuildResult:
    """A BuildResult from dbt's run_results.json and the build log of this invocation."""
    invocation = run_results["metadata"]["invocation_id"]
    processed = _rows_processed(settings, invocation, engine)
    names = _node_names(settings, engine)
    nodes = []
    for item in run_results["results"]:
        kind = item["unique_id"].split(".")[0]
        name = names.get(item["unique_id"], item["unique_id"])
        nodes.append(
            NodeResult(
                name=name,
                kind=kind,
                status=str(item["status"]),
                seconds=float(item.get("execution_time") or 0.0),
                message=(item.get("message") or "").strip(),
                rows_processed=processed.get(name),
            )
        )
    return BuildResult(tuple(nodes), seconds, invocation)


def _node_names(settings: Settings, engine: Engine = "duckdb") -> dict[str, str]:
    """Readable name of each dbt node ('model_name', 'test_name (file)'), from dbt's manifest."""
    manifest_file = dbt_dirs(settings, engine)[0] / "manifest.json"
    if not manifest_file.exists():
        return {}
    manifest = json.loads(manifest_file.read_text())
    names = {}
    for unique_id, node in {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}.items():
        kind = unique_id.split(".")[0]
        where = f" ({node['original_file_path']})" if kind != "model" else ""
        names[unique_id] = node["name"] + where
    return names


def _rows_processed(settings: Settings, invocation: str, engine: Engine = "duckdb") -> dict[str, int]:
    """Rows each incremental model logged in intermediate.dbt_build_log for this invocation."""
    if engine == "spark":
        return _spark_rows_processed(settings, invocation)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'intermediate' and table_name = 'dbt_build_log'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = con.execute(
            "select model, rows_processed from intermediate.dbt_build_log "
            "where invocation_id = ? and rows_processed is not null",
            [invocation],
        ).fetchall()
    return {model: int(count) for model, count in rows}


def _spark_rows_processed(settings: Settings, invocation: str) -> dict[str, int]:
    """The Spark build log's counts, read from its Parquet files by DuckDB (no Spark session: dbt's has ended)."""
    files = sorted(spark_table_dir(settings, "intermediate.dbt_build_log").glob("*.parquet"))
    if not files:
        return {}
    rows = duckdb.execute(
        "select model, rows_processed from read_parquet(?) where invocation_id = ? and rows_processed is not null",
        [[str(f) for f in files], invocation],
    ).fetchall()
    return {model: int(count) for model, count in rows}


def _tail(output: str, lines: int = 40) -> str:
    """The last lines of dbt's output, for error messages."""
    return "\n".join(output.strip().splitlines()[-lines:])


def generate_docs(settings: Settings) -> Path:
    """Describe every feature in its column comment, then build dbt's documentation site; return its index.html."""
    from featurestore.docs import comment_features

    if not settings.warehouse_path.exists():
        raise FeatureBuildError(f"No warehouse at {settings.warehouse_path}: run `credit-scoring ingest` first.")
    comment_features(settings.warehouse_path)
    run = run_dbt(settings, "docs", "generate")
    if run.code != 0:
        raise FeatureBuildError(f"dbt docs generate failed:\n{_tail(run.output)}")
    return dbt_dirs(settings)[0] / "index.html"


def serve_docs(settings: Settings, port: int = 8080) -> int:
    """Serve the generated documentation site on `port` until interrupted; return dbt's exit code."""
    command = dbt_command(settings, "docs", "serve", "--port", str(port), "--no-browser")
    return subprocess.call(command, env=dbt_environment(settings), cwd=settings.dbt_project_dir)
