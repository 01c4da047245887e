"""Benchmark the built-in data generator: rows and GB per file, seconds, peak memory, TRUE_PD quality.

    python -m benchmarks.bench_generate [--clients N] [--out DIR] [--seed S]

Without --out the files go to a temporary folder that is deleted afterwards. Its row of the benchmark
table sets generation beside a plain DuckDB read_csv of the files it wrote (into a file database, no
checks), measured in the same run; the target is 30 s at full scale.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import duckdb
from rich.console import Console

from benchmarks.references import plain_csv_load_seconds
from benchmarks.report import Row, cpu_seconds, emit, peak_mb
from generator.dataset import FULL_SCALE_CLIENTS, TRUTH_FILE, generate_dataset

MAX_SECONDS = 30.0
"""The issue's target for full-scale generation."""


def truth_figures(out_dir: Path) -> tuple[float, float, float]:
    """Target rate and AUC of TRUE_PD over the train clients, and the mean TRUE_PD (from the truth file)."""
    con = duckdb.connect()
    truth = out_dir / TRUTH_FILE
    train = out_dir / "application_train.csv"
    rate, auc_sum, mean_pd = con.sql(f"""
        with t as (
            select t.TRUE_PD as pd, a.TARGET as y
            from read_csv('{truth}') t join read_csv('{train}') a using (SK_ID_CURR)
        ), ranked as (
            select y, rank() over (order by pd) + (count(*) over (partition by pd) - 1) / 2.0 as r from t
        )
        select avg(y),
               (sum(r) filter (where y = 1) - sum(y) * (sum(y) + 1) / 2) / (sum(y) * (count(*) - sum(y))),
               (select avg(pd) from t)
        from ranked
    """).fetchall()[0]
    return float(rate), float(auc_sum), float(mean_pd)


def main() -> None:
    """Generate, print the figures, clean up unless --out was given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=FULL_SCALE_CLIENTS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="bench_generate_"))
    console = Console(width=120)
    try:
        cpu_before = cpu_seconds()
        summary = generate_dataset(out_dir, args.clients, seed=args.seed)
        cpu = cpu_seconds() - cpu_before
        own, largest = peak_mb(children=False), peak_mb()
        console.print(summary.as_table())
        console.print(
            f"clients: {args.clients:,}  rows: {summary.total_rows:,}  "
            f"size: {summary.total_bytes / 1e9:.2f} GB  seconds: {summary.seconds:.1f}  "
            f"rows/s: {summary.total_rows / summary.seconds:,.0f}  CPU seconds (all processes): {cpu:.1f}"
        )
        console.print(f"peak memory: main process {own:,.0f} MB, largest process {largest:,.0f} MB")
        rate, auc, mean_pd = truth_figures(out_dir)
        console.print(f"train target rate: {rate:.4f}  mean TRUE_PD: {mean_pd:.4f}  AUC of TRUE_PD: {auc:.4f}")
        reference = plain_csv_load_seconds(out_dir)
        emit(
            [
                Row(
                    step=f"generate {args.clients:,} clients ({summary.total_bytes / 1e9:.1f} GB of CSV)",
                    seconds=summary.seconds,
                    peak_mb=largest,
                    reference="plain DuckDB read_csv of its files",
                    reference_seconds=reference,
                    max_seconds=MAX_SECONDS if args.clients >= FULL_SCALE_CLIENTS else None,
                    note=f"{cpu:,.0f} CPU s in all processes; {summary.total_rows:,} rows",
                )
            ]
        )
    finally:
        if args.out is None:
            shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
