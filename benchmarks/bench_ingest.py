"""Ingest speed at full scale, beside its reference: a plain DuckDB `read_csv` of the same files into a file database.

Both run in the same invocation, each in a fresh process (so each one's peak memory is its own), on the same
folder: --data if given, else /work/data/full or /tmp/fullscale when they hold the eight files, else the
full-scale data set (356,255 clients, about 58 million rows) generated into a temporary folder first.
Prints, per file: rows, MB, seconds and the time of each phase of `credit-scoring ingest`; then both jobs as
benchmark rows (seconds, peak memory, CPU seconds) with the ratio and the target (ingest <= 1.4 x the reference,
peak <= 6 GB), and a reload of the same folder (every file skipped by checksum).

    python -m benchmarks.bench_ingest [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import Row, emit
from warehouse.schema import tables

CANDIDATES = (Path("/work/data/full"), Path("/tmp/fullscale"))
SEED = 42
TARGET_RATIO = 1.4
PHASES = ("checksum", "read", "checks", "store")

REFERENCE = """
import json, sys, time, duckdb
from benchmarks.bench_ingest import usage
database, files = sys.argv[1], json.loads(sys.argv[2])
start = time.perf_counter()
with duckdb.connect(database) as con:
    for name, path in files.items():
        con.execute(f"CREATE TABLE \\"{name}\\" AS SELECT * FROM read_csv('{path}')")
print(json.dumps({"seconds": time.perf_counter() - start, **usage()}))
"""

INGEST = """
import json, sys, time
from pathlib import Path
from benchmarks.bench_ingest import usage
from ingest.load import ingest_folder
from warehouse.settings import Settings
settings = Settings(home=Path(sys.argv[1]))
start = time.perf_counter()
report = ingest_folder(Path(sys.argv[2]), settings, progress=False)
seconds = time.perf_counter() - start
again = time.perf_counter()
skipped = ingest_folder(Path(sys.argv[2]), settings, progress=False)
print(json.dumps({
    "seconds": seconds, "commit": report.commit_seconds, "reload": time.perf_counter() - again,
    "all_skipped": all(f.status == "skipped" for f in skipped.files),
    "files": [[f.file_name, f.rows_read, f.rows_quarantined, f.file_bytes, f.seconds, f.timings] for f in report.files],
    **usage(),
}))
"""


def full_scale_data(scratch: Path) -> Path:
    """A folder with the full-scale data set: an existing one if complete, else freshly generated."""
    for folder in CANDIDATES:
        if all((folder / t.file_name).is_file() for t in tables().values()):
            return folder
    from generator.dataset import FULL_SCALE_CLIENTS, generate_dataset

    out = scratch / "data"
    print(f"generating {FULL_SCALE_CLIENTS:,} clients into {out} (seed {SEED}) ...")
    generate_dataset(out, FULL_SCALE_CLIENTS, seed=SEED)
    return out


def usage() -> dict[str, float]:
    """This process's CPU seconds (all threads) and peak resident memory (MB) so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": own.ru_utime + own.ru_stime, "peak_mb": own.ru_maxrss / 1024}


def measured(code: str, *args: str) -> dict:
    """Run Python code in a fresh process; its JSON output (with its own CPU seconds and peak memory)."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_files(result: dict) -> None:
    """Per-file figures and the time of each phase."""
    phases = " ".join(f"{p:>8}" for p in PHASES)
    print(f"{'file':<26} {'rows':>11} {'quarant.':>8} {'MB':>7} {'seconds':>8} {'MB/s':>5}  {phases}")
    for name, rows, quarantined, size, seconds, timings in result["files"]:
        mb = size / 1e6
        times = " ".join(f"{timings.get(p, 0):>8.2f}" for p in PHASES)
        rate = mb / max(seconds, 1e-9)
        print(f"{name:<26} {rows:>11,} {quarantined:>8,} {mb:>7.1f} {seconds:>8.2f} {rate:>5.0f}  {times}")
    print(f"{'commit':<26} {'':>11} {'':>8} {'':>7} {result['commit']:>8.2f}")


def main() -> None:
    """Run the reference, then the ingest, on the same files; print both and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder of Kaggle CSVs (default: full-scale data)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = (args.data or full_scale_data(Path(scratch))).resolve()
        files = {t.name: str(data / t.file_name) for t in tables().values() if (data / t.file_name).is_file()}
        ref = measured(REFERENCE, str(Path(scratch) / "reference.duckdb"), json.dumps(files))
        (Path(scratch) / "reference.duckdb").unlink()
        home = Path(scratch) / "home"
        run = measured(INGEST, str(home), str(data))
        print_files(run)
        emit(
            [
                Row(
                    "plain DuckDB read_csv into a file", ref["seconds"], ref["peak_mb"], note=f"CPU {ref['cpu']:,.1f} s"
                ),
                Row(
                    "credit-scoring ingest, full scale",
                    run["seconds"],
                    run["peak_mb"],
                    "plain DuckDB read_csv",
                    ref["seconds"],
                    max_ratio=TARGET_RATIO,
                    note=f"CPU {run['cpu']:,.1f} s ({run['cpu'] / ref['cpu']:.2f}x the reference's)",
                ),
            ]
        )
        print(
            f"reload (all skipped: {run['all_skipped']}): {run['reload']:.2f} s; warehouse file "
            f"{(home / 'warehouse' / 'warehouse.duckdb').stat().st_size / 1e6:,.0f} MB; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (CPU seconds compare fairly on a busy machine)"
        )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
