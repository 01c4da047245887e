"""Benchmark: the feature store and the scorer on DuckDB, on local Spark and on a local standalone Spark cluster, at
a series of data sizes (default: 1/4, 1/2 and full Kaggle scale), all in one run.

    python -m benchmarks.bench_spark                                  # 1/4, 1/2, full scale; every engine
    python -m benchmarks.bench_spark --scales 0.25 --engines duckdb spark

Per scale: the built-in data is generated and ingested into a DuckDB warehouse (not timed, kept in --workdir for
later runs); then, each in its own process and each timed with the peak resident memory of its whole process tree
(dbt, its JVM and Python workers; on the cluster the master, workers and executors too):
- the Parquet lake export of the raw tables (Spark's input);
- `credit-scoring build --full-refresh` of the models and their data tests, on DuckDB (the reference of every row),
  then on local Spark (local[2]), then on the cluster (a master and two one-core workers on 127.0.0.1);
- scoring every scored client with exact SHAP by the same champion (trained once, not timed, on the smallest scale)
  with the DuckDB scorer (the reference; its publication left out), then the Spark scorer locally and on the cluster.
The rows carry no time target (the issue asks for the figures and the scaling they show, docs/spark-scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.report import Row, TreePeak, emit, format_table
from warehouse.database import one_row
from warehouse.settings import Settings

WORK = Path(__file__).resolve().parent / ".work" / "spark"
FULL_SCALE_CLIENTS = 356_255
ENGINES = ("duckdb", "spark", "cluster")
MAX_PEAK_MB = 20 * 1024.0
"""Memory the Spark rows may take: the machine's, less a margin (the 6 GB of the other benchmarks is the
one-machine DuckDB product's budget; a Spark job is sized by its executors)."""


def main() -> int:
    """Measure every scale and engine asked for; emit one row per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--workdir", type=Path, default=WORK)
    parser.add_argument(
        "--champion",
        type=Path,
        help="project home whose registered champion scores (default: train one, 2 folds, on the smallest scale)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    scales = sorted(args.scales)
    champion_home = args.champion.resolve() if args.champion else None
    rows: list[Row] = []
    for scale in scales:
        home = prepared_home(args.workdir, round(FULL_SCALE_CLIENTS * scale))
        champion_home = champion_home or home
        scale_rows = measure_scale(home, scale, args.engines, champion_home)
        emit(scale_rows)
        rows += scale_rows
    print(f"\n=== every scale ===\n{format_table(rows)}")
    return 0


def prepared_home(workdir: Path, clients: int) -> Path:
    """A project home whose warehouse holds `clients` generated clients' raw tables (made once, then reused)."""
    home = workdir / f"home_{clients}"
    if (home / "warehouse" / "warehouse.duckdb").exists():
        return home
    data = workdir / f"data_{clients}"
    cli = str(Path(sys.executable).with_name("credit-scoring"))
    if not (data / "application_test.csv").exists():
        subprocess.run([cli, "generate", "--clients", str(clients), "--seed", "42", "--out", str(data)], check=True)
    subprocess.run([cli, "ingest", str(data)], check=True, env={**_env(), "CREDIT_SCORING_HOME": str(home)})
    return home


def measure_scale(home: Path, scale: float, engines: list[str], champion_home: Path) -> list[Row]:
    """The lake export, the builds and the scorings of one scale on every engine."""
    rows_note = f"{raw_rows(home) / 1e6:.1f}M raw rows"
    label = {0.25: "1/4", 0.5: "1/2", 1.0: "full"}.get(scale, f"{scale:g}x")
    out: list[Row] = []
    results: dict[tuple[str, str], tuple[dict, float]] = {}
    for engine in engines:
        with cluster_for(home, engine) as where:
            if engine == "spark":
                results[("export", engine)] = run_child(["export", str(home)], where)
            results[("build", engine)] = run_child(["build", str(home), engine, *where.master_args()], where)
            if engine == "duckdb" and home == champion_home and not has_champion(home):
                run_child(["train", str(home)], Placement())
            results[("score", engine)] = run_child(
                ["score", str(home), engine, str(champion_home), *where.master_args()], where
            )
    if ("export", "spark") in results:
        done, peak = results[("export", "spark")]
        out.append(Row(f"lake export, {label} scale", done["seconds"], peak, note=rows_note))
    for step in ("build", "score"):
        ref = results.get((step, "duckdb"))
        for engine in engines:
            done, peak = results[(step, engine)]
            what = "features build (models + data tests)" if step == "build" else "scoring + SHAP"
            out.append(
                Row(
                    f"{what}, {label} scale, {engine_name(engine)}",
                    done["seconds"],
                    peak,
                    None if engine == "duckdb" or ref is None else "DuckDB, same run",
                    None if engine == "duckdb" or ref is None else ref[0]["seconds"],
                    max_peak_mb=MAX_PEAK_MB,
                    note=done.get("note", rows_note),
                )
            )
    return out


def has_champion(home: Path) -> bool:
    """Whether a home's MLflow registry exists (a champion was trained there by an earlier run)."""
    return Settings(home=home).mlflow_dir.joinpath("mlflow.db").exists()


def engine_name(engine: str) -> str:
    """An engine in words."""
    return {"duckdb": "DuckDB", "spark": "Spark local[2]", "cluster": "Spark cluster 2x1 core"}[engine]


@dataclass(frozen=True)
class Placement:
    """Where a step runs: a cluster's daemons (their trees' memory counts too) and its master URL; empty off it."""

    pids: tuple[int, ...] = ()
    master: str | None = None

    def master_args(self) -> list[str]:
        """The master URL argument of a child step (none off the cluster)."""
        return [self.master] if self.master else []


@contextmanager
def cluster_for(home: Path, engine: str) -> Iterator[Placement]:
    """For the cluster engine, a running standalone cluster; else nowhere in particular."""
    if engine != "cluster":
        yield Placement()
        return
    from warehouse.spark_cluster import SparkCluster

    with SparkCluster(Settings(home=home)) as cluster:
        yield Placement(tuple(daemon.process.pid for daemon in cluster.processes), cluster.master_url)


def run_child(arguments: list[str], where: Placement) -> tuple[dict, float]:
    """Run one measured step in its own process; its JSON result and the peak memory of its tree (and the
    cluster's)."""
    command = [sys.executable, "-m", "benchmarks.bench_spark", "--child", *arguments]
    print(f"--- {' '.join(arguments)}", flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env())
    with TreePeak(process.pid, *where.pids) as peak:
        output, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"step {' '.join(arguments)} failed (exit {process.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    print(f"    {result['seconds']:.1f} s, peak {peak.peak_mb / 1024:.2f} GB", flush=True)
    return result, peak.peak_mb


def child(step: str, home: str, *rest: str) -> dict:
    """One measured step (in a child process): export, build, train or score."""
    settings = Settings(home=Path(home), cv_folds=2)
    if step == "export":
        from featurestore.lake import export_lake

        shutil.rmtree(settings.spark_dir / "lake", ignore_errors=True)
        started = time.perf_counter()
        export_lake(settings)
        return {"seconds": time.perf_counter() - started}
    if step == "train":
        from scoring.train import train

        train(settings, search_iterations=0, promote=True)
        return {"seconds": 0.0}
    engine, master = rest[0], (rest[-1] if rest[-1].startswith("spark://") else None)
    if master:
        settings = settings.replace(spark_master=master)
    if step == "build":
        return build(settings, engine)
    return score(settings.replace(mlflow_dir=Settings(home=Path(rest[1])).mlflow_dir), engine)


def build(settings: Settings, engine: str) -> dict:
    """The feature store's models, full refresh, on one engine."""
    from featurestore.build import build_features

    started = time.perf_counter()
    result = build_features(
        settings, select="resource_type:model", full_refresh=True, engine="duckdb" if engine == "duckdb" else "spark"
    )
    return {"seconds": time.perf_counter() - started, "note": f"{len(result.models)} models"}


def score(settings: Settings, engine: str) -> dict:
    """Every scored client of the feature store, with SHAP, on one engine (DuckDB: without publishing)."""
    if engine == "duckdb":
        from scoring.score import score as score_duckdb

        started = time.perf_counter()
        scored = score_duckdb(settings, mode="all", publish_results=False, shadow=False).clients_scored
        return {"seconds": time.perf_counter() - started, "note": f"{scored:,} clients"}
    from scoring.spark_score import score_on_spark
    from warehouse.spark import spark_session

    opened = time.perf_counter()
    spark = spark_session(settings)
    started = time.perf_counter()
    summary = score_on_spark(spark, settings, mode="all")
    seconds = time.perf_counter() - started
    spark.stop()
    note = f"{summary.clients_scored:,} clients; session start {started - opened:.1f} s not counted"
    return {"seconds": seconds, "note": note}


def raw_rows(home: Path) -> int:
    """Rows of every raw table of a home's warehouse."""
    with duckdb.connect(str(home / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
        return sum(one_row(con, f'select count(*) from raw."{name}"')[0] for (name,) in tables)


def _env() -> dict[str, str]:
    """The environment of the children: this one's."""
    return dict(os.environ)


if __name__ == "__main__":
    sys.exit(main())
