"""Run every benchmark, one process each, in pipeline order (figures are printed by each).

    python -m benchmarks.run_all [NAME ...]      # names as in BENCHMARKS, e.g. bench_train_full bench_night

The full-scale training leaves its project home in benchmarks/.work/full (reused by later runs), where the
night benchmark then runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FULL_HOME = Path(__file__).resolve().parent / ".work" / "full"
BENCHMARKS: dict[str, list[str]] = {
    "bench_generate": [],
    "bench_ingest": [],
    "bench_features": [],
    "bench_train": [],
    "bench_train_full": ["--clients", "356255", "--workdir", str(FULL_HOME)],
    "bench_night": ["--home", str(FULL_HOME)],
    "bench_score": [],
    "bench_drift": [],
    "bench_dashboard": [],
    "bench_api": [],
}
"""Each benchmark and its arguments (bench_train_full is bench_train at full scale)."""


def main() -> int:
    """Run the benchmarks named on the command line (default: all); exit non-zero if one failed."""
    unknown = [name for name in sys.argv[1:] if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose among {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in sys.argv[1:] or list(BENCHMARKS):
        print(f"\n=== {name} ===", flush=True)
        module = name.removesuffix("_full")
        if subprocess.call([sys.executable, "-m", f"benchmarks.{module}", *BENCHMARKS[name]]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
