"""Ingest speed at full scale: every Kaggle file loaded and checked into a fresh DuckDB warehouse.

Uses --data if given, else /tmp/fullscale when it holds the eight files, else generates the full-scale
data set (356,255 clients, about 58 million rows) into a temporary folder first. Prints, per file: rows,
MB, seconds, MB/s; then the total, a reload of the same folder (all files skipped by checksum) and the
peak memory of this process (DuckDB runs in it).

    python -m benchmarks.bench_ingest [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from ingest.audit import IngestReport
from ingest.load import ingest_folder
from warehouse.schema import tables
from warehouse.settings import Settings

DEFAULT_DATA = Path("/tmp/fullscale")
SEED = 42


def peak_mb() -> float:
    """Peak resident memory of this process, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_scale_data(scratch: Path) -> Path:
    """A folder with the full-scale data set: /tmp/fullscale if complete, else freshly generated."""
    if all((DEFAULT_DATA / t.file_name).is_file() for t in tables().values()):
        return DEFAULT_DATA
    from generator.dataset import FULL_SCALE_CLIENTS, generate_dataset

    out = scratch / "data"
    print(f"generating {FULL_SCALE_CLIENTS:,} clients into {out} (seed {SEED}) ...")
    generate_dataset(out, FULL_SCALE_CLIENTS, seed=SEED)
    return out


PHASES = ("checksum", "read", "checks", "store")


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (DuckDB's threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_report(report: IngestReport, seconds: float) -> None:
    """Per-file figures, time per phase, and the total."""
    phases = " ".join(f"{p:>8}" for p in PHASES)
    print(f"{'file':<26} {'rows':>11} {'quarant.':>8} {'MB':>7} {'seconds':>8} {'MB/s':>5}  {phases}")
    for f in report.files:
        mb = f.file_bytes / 1e6
        timings = " ".join(f"{f.timings.get(p, 0):>8.2f}" for p in PHASES)
        print(
            f"{f.file_name:<26} {f.rows_read:>11,} {f.rows_quarantined:>8,} {mb:>7.1f} {f.seconds:>8.2f} "
            f"{mb / max(f.seconds, 1e-9):>5.0f}  {timings}"
        )
    rows, mb = sum(f.rows_read for f in report.files), sum(f.file_bytes for f in report.files) / 1e6
    print(f"{'commit':<26} {'':>11} {'':>8} {'':>7} {report.commit_seconds:>8.2f}")
    print(f"{'total':<26} {rows:>11,} {'':>8} {mb:>7.1f} {seconds:>8.2f} {mb / seconds:>5.0f}")


def main() -> None:
    """Load the folder into an empty warehouse, then again (a no-op), and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder of Kaggle CSVs (default: full-scale data)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or full_scale_data(Path(scratch))
        settings = Settings(home=Path(scratch))
        start, cpu = time.perf_counter(), cpu_seconds()
        report = ingest_folder(data, settings)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        print_report(report, seconds)
        print(
            f"CPU time {cpu:.1f} s (user + system, all threads); load average now "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        start = time.perf_counter()
        again = ingest_folder(data, settings, progress=False)
        print(
            f"reload (all skipped: {all(f.status == 'skipped' for f in again.files)}): "
            f"{time.perf_counter() - start:.2f} s"
        )
        print(
            f"warehouse file: {settings.warehouse_path.stat().st_size / 1e6:,.0f} MB; peak memory: {peak_mb():,.0f} MB"
        )


if __name__ == "__main__":
    main()
