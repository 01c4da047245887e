"""Run every benchmark, one process each, in pipeline order, then print ONE table of all their rows.

    python -m benchmarks.run_all [NAME ...]      # names as in BENCHMARKS, e.g. bench_train_full bench_night

Each benchmark prints its own figures as it goes and emits its rows (benchmarks/report.py); the final
table gives, per step: seconds, the reference measured in the same run and the ratio, peak memory, the
target and whether it is met. The table is also written to benchmarks/.work/last_run.txt with the date
and the machine. bench_generate leaves the full-scale files in benchmarks/.work/data for bench_ingest;
the full-scale training leaves its project home in benchmarks/.work/full (reused by later runs), where
the night benchmark then runs. bench_spark keeps its 1/4, 1/2 and full-scale homes in benchmarks/.work/spark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from benchmarks.report import ROWS_ENV, format_table, machine, read_rows

WORK = Path(__file__).resolve().parent / ".work"
FULL_HOME = WORK / "full"
FULL_DATA = WORK / "data"
"""bench_generate's full-scale files, kept for bench_ingest (so the data is generated once per run)."""
LAST_RUN = WORK / "last_run.txt"
BENCHMARKS: dict[str, list[str]] = {
    "bench_generate": ["--out", str(FULL_DATA)],
    "bench_ingest": ["--data", str(FULL_DATA)],
    "bench_features": ["--data", str(FULL_DATA)],
    "bench_train": [],
    "bench_train_full": ["--clients", "356255", "--workdir", str(FULL_HOME)],
    "bench_night": ["--home", str(FULL_HOME)],
    "bench_score": [],
    "bench_drift": [],
    "bench_dashboard": [],
    "bench_api": [],
    "bench_spark": [],
}
"""Each benchmark and its arguments (bench_train_full is bench_train at full scale)."""


def main() -> int:
    """Run the benchmarks named on the command line (default: all), print the table; non-zero if one failed."""
    unknown = [name for name in sys.argv[1:] if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose among {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    with tempfile.TemporaryDirectory() as scratch:
        rows_file = Path(scratch) / "rows.jsonl"
        environment = {**os.environ, ROWS_ENV: str(rows_file)}
        for name in sys.argv[1:] or list(BENCHMARKS):
            print(f"\n=== {name} ===", flush=True)
            module = name.removesuffix("_full")
            command = [sys.executable, "-m", f"benchmarks.{module}", *BENCHMARKS[name]]
            if subprocess.call(command, env=environment) != 0:
                failed.append(name)
        rows = read_rows(rows_file)
    summary = "\n".join(
        [
            f"Benchmarks of {datetime.now():%Y-%m-%d %H:%M} on {machine()}",
            format_table(rows) if rows else "(no benchmark emitted a row)",
            *([f"failed: {', '.join(failed)}"] if failed else []),
        ]
    )
    print(f"\n=== summary ===\n{summary}", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    LAST_RUN.write_text(summary + "\n")
    return 1 if failed or not all(row.met for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
