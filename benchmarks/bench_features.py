"""Benchmark: raw tables -> features.client_features with dbt, at full Kaggle scale.

    python -m benchmarks.bench_features --warehouse PATH   # a warehouse whose raw tables are loaded
    python -m benchmarks.bench_features --data DIR          # ingest DIR's CSVs first (not timed)

Runs a full rebuild of the models (`dbt build --select resource_type:model --full-refresh`, then the tests
separately) in a dbt child process, and prints rows, number of features, seconds per model layer and in total,
and the dbt process's peak memory (RUSAGE_CHILDREN max RSS).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from featurestore.build import build_features
from warehouse.database import one_row
from warehouse.features import FEATURES_TABLE, NON_FEATURE_COLUMNS
from warehouse.settings import Settings

TARGET_SECONDS = 120
TARGET_PEAK_GB = 6.0


def layer(model: str) -> str:
    """The dbt layer (staging, intermediate, marts) of a model name."""
    return "staging" if model.startswith("stg_") else "intermediate" if model.startswith("int_") else "marts"


def raw_rows(warehouse: Path) -> dict[str, int]:
    """Row count of every raw table."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
        ]
        return {n: one_row(con, f'select count(*) from raw."{n}"')[0] for n in names}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 when it misses the time or memory target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--warehouse", type=Path, help="DuckDB file with the raw tables loaded.")
    source.add_argument("--data", type=Path, help="Folder of Kaggle CSVs to ingest first (not timed).")
    parser.add_argument("--skip-tests", action="store_true", help="Do not run the dbt tests after the models.")
    args = parser.parse_args(argv)

    settings = Settings.load()
    if args.warehouse:
        settings = settings.replace(warehouse_path=args.warehouse.resolve())
    else:
        from ingest.load import ingest_folder

        home = args.data.resolve().parent / f"{args.data.name}_bench_home"
        settings = settings.replace(warehouse_path=home / "warehouse.duckdb")
        if not settings.warehouse_path.exists():
            print(f"ingesting {args.data} into {settings.warehouse_path} (not timed)")
            ingest_folder(args.data, settings)

    counts = raw_rows(settings.warehouse_path)
    print(
        f"raw rows: {sum(counts.values()):,} in {len(counts)} tables "
        f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})"
    )

    started = time.perf_counter()
    models = build_features(settings, select="resource_type:model", full_refresh=True)
    model_seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_gb = children.ru_maxrss / 1024**2
    cpu_seconds = children.ru_utime + children.ru_stime

    per_layer: dict[str, float] = defaultdict(float)
    for node in models.models:
        per_layer[layer(node.name)] += node.seconds
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = one_row(con, f"select count(*) from {FEATURES_TABLE}")[0]
        n_columns = len(con.execute(f"describe {FEATURES_TABLE}").fetchall())

    print(f"client_features: {rows:,} rows, {n_columns - len(NON_FEATURE_COLUMNS)} features")
    for name in ("staging", "intermediate", "marts"):
        print(f"  {name:<13} {per_layer[name]:7.1f} s (sum of model times; 2 dbt threads)")
    for node in sorted(models.models, key=lambda n: -n.seconds)[:6]:
        print(f"    {node.name:<32} {node.seconds:6.1f} s")
    print(f"models, wall clock incl. dbt start-up and parsing: {model_seconds:.1f} s (target {TARGET_SECONDS} s)")
    print(
        f"CPU time of the dbt process: {cpu_seconds:.1f} s (on 2 otherwise idle cores the wall clock "
        f"is at least {cpu_seconds / 2:.1f} s)"
    )
    print(f"peak memory of the dbt process: {peak_gb:.2f} GB (target < {TARGET_PEAK_GB} GB)")

    if not args.skip_tests:
        started = time.perf_counter()
        tests = build_features(settings, select="resource_type:test resource_type:unit_test")
        print(f"tests: {len(tests.tests)} passed in {time.perf_counter() - started:.1f} s (not in the target)")
    return 0 if model_seconds <= TARGET_SECONDS and peak_gb < TARGET_PEAK_GB else 1


if __name__ == "__main__":
    sys.exit(main())
