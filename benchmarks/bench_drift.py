"""Drift check speed and HTML report size against the number of rows compared (`drift_sample_rows`).

Synthetic populations shaped like the monitored data: 15 numeric features with some missing values, and a
score. Prints, per sample size: rows per side, seconds for evidently + PSI + HTML, report size, peak memory.
Its row of the benchmark table is the comparison at the default drift_sample_rows (evidently imported
beforehand, as a night preloads it); the real check, on top of a night, is bench_night's.

    python -m benchmarks.bench_drift [--rows 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import Row, emit, peak_mb
from monitoring.drift import SCORE_COLUMN, compare, psi
from warehouse.settings import Settings

FEATURES = 15


def population(n: int, seed: int) -> pd.DataFrame:
    """n rows of FEATURES lognormal/normal features (10% missing) and a score in (0, 1)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {f"F{i:02d}": (rng.lognormal(10, 0.6, n) if i % 2 else rng.normal(0, 1, n)) for i in range(FEATURES)}
    )
    frame = frame.mask(rng.random(frame.shape) < 0.1)
    frame[SCORE_COLUMN] = 1 / (1 + np.exp(-rng.normal(-2.5, 1, n)))
    return frame


def main() -> None:
    """Time one drift comparison per sample size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,5000,20000", help="comma-separated rows per side")
    sizes = [int(x) for x in parser.parse_args().rows.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        compare(population(200, 0), population(200, 1), settings, run_id=0, scope="warmup")  # imports
        print(f"{'rows/side':>10} {'seconds':>8} {'PSI s':>7} {'HTML MB':>8} {'peak MB':>8}")
        for i, n in enumerate(sizes, start=1):
            reference, current = population(n, 2 * i), population(n, 2 * i + 1)
            started = time.perf_counter()
            result = compare(reference, current, settings, run_id=i, scope="bench")
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            for column in reference.columns:
                psi(reference[column].to_numpy(), current[column].to_numpy())
            psi_seconds = time.perf_counter() - started
            size = result.report_path.stat().st_size / 1e6
            print(f"{n:>10,} {seconds:>8.2f} {psi_seconds:>7.3f} {size:>8.1f} {peak_mb():>8.0f}")
            if n == settings.drift_sample_rows:
                rows.append(
                    Row(
                        step=f"drift comparison, {FEATURES + 1} columns x {n:,} rows per side (synthetic)",
                        seconds=seconds,
                        peak_mb=peak_mb(),
                        reference="its PSI alone",
                        reference_seconds=psi_seconds,
                        max_seconds=5.0,
                        note=f"HTML report {size:.1f} MB",
                    )
                )
    emit(rows)


if __name__ == "__main__":
    main()
