"""Run every full-scale benchmark, one process each, in pipeline order (figures are printed by each)."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench_generate", "bench_ingest", "bench_features", "bench_train", "bench_score", "bench_drift",
              "bench_dashboard"]


def main() -> int:
    """Run the benchmarks named on the command line (default: all); exit non-zero if one failed."""
    failed = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.call([sys.executable, "-m", f"benchmarks.{name}"]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
