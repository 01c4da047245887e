"""Benchmark: raw tables -> features.client_features with dbt at full Kaggle scale, and nights in proportion.

    python -m benchmarks.bench_features --warehouse PATH   # a warehouse whose raw tables are loaded (left as is)
    python -m benchmarks.bench_features --data DIR          # ingest DIR's CSVs first, beside the pandas kernel
    python -m benchmarks.bench_features --warehouse PATH --batches 200 2000 20000

Works on a copy of the warehouse in --workdir. Prints, in one run:
- with --data, CSV files to features end to end: `credit-scoring ingest` and the full build's models, beside the
  pandas notebook the feature store replaces (benchmarks.pandas_kernel, in a process of its own);
- the reference: the heaviest aggregations written as plain DuckDB SQL over the raw tables (no dbt), each timed
  here and set beside the model that computes them;
- the full build: `dbt run --full-refresh` (models only), then `dbt test` (data and unit tests) apart;
- its reference: the SQL dbt compiled for that build, run as one plain DuckDB statement on a copy of the built
  warehouse (every intermediate model inlined as a view, only client_features written): what the features cost
  without dbt and without storing the intermediate tables;
- for each batch size, a night's features: a batch generated (not timed), ingested into a copy of the built
  warehouse (timed), then the incremental `dbt build` of models and tests, beside the full build as reference;
  dbt runs as in a nightly step, forked from a process that imported it (the full build starts the dbt program,
  as `credit-scoring build` does).
Each row: step, seconds, reference, ratio, dbt's CPU seconds and peak memory, the target, and whether it is met.
Exit 1 when a target is missed. The machine may be shared: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from benchmarks.report import Row, emit, peak_mb, reset_peak
from featurestore.build import (
    LAST_BUILD_DIR,
    BuildResult,
    build_features,
    dbt_dirs,
    keep_last_build,
    run_build,
    run_dbt,
)
from warehouse.database import one_row
from warehouse.features import FEATURES_TABLE, NON_FEATURE_COLUMNS
from warehouse.settings import Settings

MODELS_TARGET_S = 20.0
MODELS_AND_TESTS_TARGET_S = 30.0
NIGHT_FEATURES_TARGET_S = 5.0
"""A night of 2,000 applications must fit ingest + features + score + publish in 20 s: features get a few."""
BATCH_DATE = date(2027, 1, 4)
AS_DBT_RUNS = "set threads = 2; set memory_limit = '4GB'; set preserve_insertion_order = false"
"""The DuckDB settings of profiles.yml's warehouse target, for the references timed without dbt."""

REFERENCES = {
    "int_bureau_balance__per_credit": """
        select SK_ID_BUREAU, min(MONTHS_BALANCE), max(MONTHS_BALANCE), count(*),
               avg(case when STATUS = 'C' then 1 else 0 end), avg(case when STATUS = 'X' then 1 else 0 end),
               avg(case when STATUS = '0' then 1 else 0 end), avg(case when STATUS = '1' then 1 else 0 end),
               avg(case when STATUS = '2' then 1 else 0 end), avg(case when STATUS = '3' then 1 else 0 end),
               avg(case when STATUS = '4' then 1 else 0 end), avg(case when STATUS = '5' then 1 else 0 end)
        from raw.bureau_balance group by SK_ID_BUREAU""",
    "int_installments__per_client": """
        with p as (
            select *, greatest(DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT, 0) as DPD,
                   greatest(DAYS_INSTALMENT - DAYS_ENTRY_PAYMENT, 0) as DBD,
                   AMT_PAYMENT / nullif(AMT_INSTALMENT, 0) as PAYMENT_PERC, AMT_INSTALMENT - AMT_PAYMENT as PAYMENT_DIFF
            from raw.installments_payments)
        select SK_ID_CURR, count(*), count(distinct NUM_INSTALMENT_VERSION),
               max(DPD), avg(DPD), sum(DPD), max(DBD), avg(DBD), sum(DBD),
               max(PAYMENT_PERC), avg(PAYMENT_PERC), sum(PAYMENT_PERC), var_samp(PAYMENT_PERC),
               max(PAYMENT_DIFF), avg(PAYMENT_DIFF), sum(PAYMENT_DIFF), var_samp(PAYMENT_DIFF),
               max(AMT_INSTALMENT), avg(AMT_INSTALMENT), sum(AMT_INSTALMENT),
               min(AMT_PAYMENT), max(AMT_PAYMENT), avg(AMT_PAYMENT), sum(AMT_PAYMENT),
               max(DAYS_ENTRY_PAYMENT), avg(DAYS_ENTRY_PAYMENT)
        from p group by SK_ID_CURR""",
}
"""The plain-SQL reference of a model: the issue's heaviest aggregations, over the raw tables, without dbt."""


def previous_reference(con: duckdb.DuckDBPyConnection) -> str:
    """Previous applications with about 200 aggregates: min/max/mean of every numeric column for all, approved and
    refused applications, and the share of every category value."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = 'raw' "
        "and table_name = 'previous_application' and column_name not in ('SK_ID_PREV', 'SK_ID_CURR', '_load_id')"
    ).fetchall()
    numeric = [name for name, kind in columns if kind != "VARCHAR"]
    items = [f"{f}({c})" for c in numeric for f in ("min", "max", "avg")]
    for status in ("Approved", "Refused"):
        items += [f"avg(case when NAME_CONTRACT_STATUS = '{status}' then {c} end)" for c in numeric]
    for name in [name for name, kind in columns if kind == "VARCHAR"]:
        values = [
            r[0] for r in con.execute(f"select distinct {name} from raw.previous_application limit 12").fetchall()
        ]
        items += [f"avg(case when {name} = '{str(v).replace(chr(39), chr(39) * 2)}' then 1 else 0 end)" for v in values]
    return f"select SK_ID_CURR, {', '.join(items[:200])} from raw.previous_application group by SK_ID_CURR"


def time_references(warehouse: Path) -> dict[str, float]:
    """Seconds of each plain-SQL reference, run like dbt runs (2 threads, 4 GB) into a throwaway table."""
    out = {}
    with duckdb.connect(str(warehouse)) as con:
        con.execute(AS_DBT_RUNS)
        queries = {**REFERENCES, "int_previous__per_client": previous_reference(con)}
        for model, sql in queries.items():
            started = time.perf_counter()
            con.execute(f"create or replace temp table reference as {sql}")
            out[model] = time.perf_counter() - started
    return out


def one_statement_reference(settings: Settings, workdir: Path) -> float:
    """Seconds of the full build's compiled SQL as one DuckDB statement (2 threads, 4 GB, like dbt), on a copy of
    the built warehouse: the intermediate models become views and only client_features is written."""
    target = dbt_dirs(settings)[0]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    tables = {
        key: node
        for key, node in nodes.items()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "view"
    }
    graph = TopologicalSorter({key: set(tables[key]["depends_on"]["nodes"]) & set(tables) for key in tables})
    *intermediate, features = [tables[key] for key in graph.static_order()]  # client_features needs all the others
    inlined: dict[str, str] = {}  # relation in the compiled SQL -> the view standing for it

    def compiled(node: dict) -> str:
        """The node's compiled SQL, reading the views instead of the intermediate tables."""
        sql = (target / "compiled" / node["package_name"] / node["original_file_path"]).read_text()
        for relation, view in inlined.items():
            sql = sql.replace(relation, view)
        return sql

    copy = workdir / "one_statement" / settings.warehouse_path.name  # same file name: same catalog name
    copy.parent.mkdir(exist_ok=True)
    shutil.copy2(settings.warehouse_path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(AS_DBT_RUNS)
        con.execute("create schema one_statement")
        for node in intermediate:
            con.execute(f'create view one_statement."{node["name"]}" as {compiled(node)}')
            inlined[node["relation_name"]] = f'one_statement."{node["name"]}"'
        started = time.perf_counter()
        con.execute(f'create table one_statement."{features["name"]}" as {compiled(features)}')
        con.execute("checkpoint")  # as dbt's commit does
        seconds = time.perf_counter() - started
    shutil.rmtree(copy.parent)
    return seconds


def pandas_kernel(data: Path) -> dict[str, float]:
    """The pandas kernel's figures on the CSV files in `data` (seconds, peak_mb, clients, features)."""
    command = [sys.executable, "-m", "benchmarks.pandas_kernel", str(data)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def csv_rows(kernel: dict[str, float], ingest: Row, models: BuildResult) -> list[Row]:
    """CSV to features: the pandas kernel, and the ingest + full build's models beside it."""
    return [
        Row(
            f"reference: pandas kernel, CSV to {kernel['features']:.0f} features of {kernel['clients']:,.0f} clients",
            kernel["seconds"],
            kernel["peak_mb"],
        ),
        ingest,
        Row(
            "CSV to features: ingest + full build's models",
            ingest.seconds + models.seconds,
            max(ingest.peak_mb, models.peak_mb),
            "pandas kernel",
            kernel["seconds"],
            max_ratio=1.0,  # the title: beat the notebook the feature store replaces
        ),
    ]


def _cpu(result: BuildResult) -> str:
    """dbt's own CPU time, for the note column."""
    return f"dbt CPU {result.cpu_seconds:,.1f} s"


def model_rows(result: BuildResult, references: dict[str, float]) -> list[Row]:
    """A row per model with a reference, and the slowest others."""
    rows = []
    for node in sorted(result.models, key=lambda n: -n.seconds)[:8]:
        ref = references.get(node.name)
        rows.append(Row(f"  {node.name}", node.seconds, 0.0, "plain SQL" if ref else None, ref))
    return rows


def night(built: Path, last_build: Path, workdir: Path, applications: int, full_build: float) -> list[Row]:
    """Ingest a batch of `applications` into a copy of the built warehouse and build incrementally (with the full
    build's manifest, `last_build`, as a night has its last build's)."""
    from generator.dataset import generate_batch
    from ingest.load import ingest_folder

    home = workdir / f"night_{applications}"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copy2(built, settings.warehouse_path)
    run_dbt(settings, "parse")  # a new warehouse path parses the project once; the nightly one is parsed already
    shutil.copytree(last_build, dbt_dirs(settings)[0] / LAST_BUILD_DIR, dirs_exist_ok=True)  # as a night has it
    batch = workdir / f"batch_{applications}"
    if not batch.exists():
        generate_batch(batch, BATCH_DATE, applications, seed=7, drift=False)
    started = time.perf_counter()
    ingest_folder(batch, settings, progress=False)
    ingest = time.perf_counter() - started
    result = build_features(settings)
    rebuilt = result.rows_processed.get("client_features", 0)
    models = sum(n.seconds for n in result.models)
    target = NIGHT_FEATURES_TARGET_S if applications <= 2000 else None
    rows = [
        Row(f"night {applications:,}: ingest", ingest, 0.0),
        Row(
            f"night {applications:,}: features, {rebuilt:,} clients rebuilt",
            result.seconds,
            result.peak_mb,
            "full build + tests",
            full_build,
            max_seconds=target,
            note=_cpu(result),
        ),
        Row("  of which model run times (sum)", models, 0.0),
    ]
    shutil.rmtree(home, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 when it misses a target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--warehouse", type=Path, help="DuckDB file with the raw tables loaded (copied, not changed).")
    source.add_argument("--data", type=Path, help="Folder of Kaggle CSVs to ingest first (not timed).")
    parser.add_argument("--workdir", type=Path, help="Where the copies go (default: a temporary folder).")
    parser.add_argument("--batches", type=int, nargs="*", default=[200, 2000, 20000], help="Night batch sizes.")
    parser.add_argument("--skip-tests", action="store_true", help="Do not run the dbt tests of the full build.")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_features_"))
    settings = Settings(home=workdir / "full")
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    kernel, ingest = None, None
    if args.warehouse:
        shutil.copy2(args.warehouse, settings.warehouse_path)
    else:
        from ingest.load import ingest_folder

        kernel = pandas_kernel(args.data)
        reset_peak()
        started = time.perf_counter()
        ingest_folder(args.data, settings, progress=False)
        ingest = Row("ingest of the CSV files", time.perf_counter() - started, peak_mb(children=False))

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        names = [
            r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
        ]
        counts = {n: one_row(con, f'select count(*) from raw."{n}"')[0] for n in names}
    tables = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"raw rows: {sum(counts.values()):,} in {len(counts)} tables ({tables})")

    references = time_references(settings.warehouse_path)
    rows = [Row(f"reference: plain SQL of {model}", seconds, 0.0) for model, seconds in references.items()]
    run_build(settings, "seed")  # the reference tables, which the tests read (under a second, not timed)
    models = run_build(settings, "run", "--full-refresh")
    one_statement = one_statement_reference(settings, workdir)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        clients = one_row(con, f"select count(*) from {FEATURES_TABLE}")[0]
        features = len(con.execute(f"describe {FEATURES_TABLE}").fetchall()) - len(NON_FEATURE_COLUMNS)
    rows.append(
        Row(
            f"full build: {len(models.models)} models ({clients:,} clients, {features} features)",
            models.seconds,
            models.peak_mb,
            "its SQL as one statement",
            one_statement,
            max_seconds=MODELS_TARGET_S,
            note=f"{_cpu(models)}; the plain SQL above sums to {sum(references.values()):.1f} s",
        )
    )
    rows += model_rows(models, references)
    if kernel and ingest:
        rows += csv_rows(kernel, ingest, models)
    full = models.seconds
    if not args.skip_tests:
        tests = run_build(settings, "test")
        rows.append(
            Row(
                f"full build: {len(tests.tests)} tests",
                tests.seconds,
                tests.peak_mb,
                "models",
                models.seconds,
                note=_cpu(tests),
            )
        )
        rows.append(
            Row(
                "full build: models + tests",
                models.seconds + tests.seconds,
                max(models.peak_mb, tests.peak_mb),
                max_seconds=MODELS_AND_TESTS_TARGET_S,
            )
        )
        full += tests.seconds
    built = workdir / "built.duckdb"
    shutil.copy2(settings.warehouse_path, built)
    keep_last_build(settings)
    import dbt.cli.main  # noqa: F401  (as the scheduler's fork server: a night's dbt runs in a fork of its step)

    for applications in args.batches:
        rows += night(built, dbt_dirs(settings)[0] / LAST_BUILD_DIR, workdir, applications, full)
    print()
    emit(rows)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
