"""One night at scale: a batch of new applications from raw files to published tables, step by step.

    python -m benchmarks.bench_night --home PATH [--applications 2000] [--sizes 200,2000,20000] [--date YYYY-MM-DD]

PATH is a project home with the feature store built and a champion registered, for example the one
`python -m benchmarks.bench_train --clients 356255 --workdir PATH` leaves. If no client has been scored
there yet, every test client is scored and published first (`score --all`, timed and printed: the full-scale
scoring figure with the real champion). Then batches are generated into the inbox (not timed) and the nightly
job runs them: first a night of --applications as a one-shot `credit-scoring run-nightly` (cron) runs it, whose
fork server imports the jobs while the night waits; then one night of each of --sizes as the scheduler runs
them, its fork server warm. For each: the seconds of each step, the ingest-to-publish total (the target is 20 s
for the scheduler's night of 2,000 applications, drift 5 s on top) and the peak memory. PATH keeps the batches:
each run needs new dates (the default starts the day after the newest night already processed).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from benchmarks.report import Row, emit, peak_mb, reset_peak
from generator.dataset import generate_batch
from scheduler.history import SUCCEEDED
from scheduler.isolation import warm_fork_server
from scheduler.nightly import latest_processed_night, run_nightly
from scoring.score import score
from warehouse.database import one_row
from warehouse.settings import Settings

TIMED_STEPS = ("ingest", "features", "score", "publish")
"""The steps the issue's 20-second target counts (drift and archive are timed and shown apart)."""
NIGHT_MAX_SECONDS, DRIFT_MAX_SECONDS, SCORE_ALL_MAX_SECONDS = 20.0, 5.0, 35.0


def ensure_scored(settings: Settings) -> Row | None:
    """Score and publish every test client once if nothing was scored yet, printing the figures; its row."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        scored = (
            one_row(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'scores' AND table_name = 'runs'")[0]
            and one_row(con, "SELECT count(*) FROM scores.runs WHERE status = 'succeeded'")[0]
        )
    if scored:
        return None
    reset_peak()
    summary = score(settings, mode="all")
    print(
        f"score --all: {summary.clients_scored:,} clients; probabilities {summary.proba_seconds:.1f} s "
        f"({summary.rate(summary.proba_seconds):,.0f}/s); SHAP {summary.shap_seconds:.1f} s "
        f"({summary.rate(summary.shap_seconds):,.0f}/s); writing {summary.write_seconds:.1f} s; "
        f"publish {summary.publish_seconds:.1f} s; total {summary.total_seconds:.1f} s"
    )
    return Row(
        step=f"score --all {summary.clients_scored:,} clients: probabilities, SHAP, tables, publication",
        seconds=summary.total_seconds,
        peak_mb=peak_mb(children=False),
        reference="its TreeSHAP alone",
        reference_seconds=summary.shap_seconds,
        max_seconds=SCORE_ALL_MAX_SECONDS,
        note=f"SHAP {summary.rate(summary.shap_seconds):,.0f} clients/s; writing {summary.write_seconds:.1f} s; "
        f"publication {summary.publish_seconds:.1f} s",
    )


@dataclass(frozen=True)
class Night:
    """One measured night: its size, status, seconds of each step and of the timed steps, peak memory."""

    applications: int
    status: str
    steps: dict[str, float]
    timed: float
    peak_mb: float

    def row(self, how: str, max_seconds: float | None) -> Row:
        """Its row of the benchmark table (a failed night measures nothing)."""
        return Row(
            step=f"night of {self.applications:,} applications ({how}): ingest + features + score + publish",
            seconds=self.timed if self.status == SUCCEEDED else float("nan"),
            peak_mb=self.peak_mb,
            max_seconds=max_seconds,
            note=", ".join(f"{name} {self.steps.get(name, 0.0):.1f} s" for name in TIMED_STEPS) + f"; {self.status}",
        )


def run_night(settings: Settings, night: date, applications: int) -> Night:
    """Generate a batch for `night` (not timed), run the nightly job on it, print and return its figures."""
    generate_batch(settings.inbox_dir / night.isoformat(), night, applications, seed=settings.seed, drift=False)
    marks: list[tuple[str, float]] = []
    reset_peak()
    started = time.perf_counter()
    result = run_nightly(settings, night, on_step=lambda name: marks.append((name, time.perf_counter())))
    ended = time.perf_counter()
    seconds = {name: (marks[i + 1][1] if i + 1 < len(marks) else ended) - at for i, (name, at) in enumerate(marks)}
    print(f"night {night}: {applications:,} applications, status {result.status}")
    if result.error:
        print(f"error: {result.error}")
    for name, value in seconds.items():
        print(f"  {name:<11} {value:6.1f} s")
    timed = sum(seconds.get(name, 0.0) for name in TIMED_STEPS)
    print(f"ingest + features + score + publish: {timed:.1f} s; whole night {ended - started:.1f} s")
    own, largest = peak_mb(children=False), peak_mb()
    print(f"peak memory: {own:,.0f} MiB (this process), {largest:,.0f} MiB (with dbt)", flush=True)
    return Night(applications, result.status, seconds, timed, largest)


def run(home: Path, applications: int, sizes: list[int], night: date | None) -> None:
    """The first night as a one-shot `credit-scoring run-nightly` runs it (cron: the fork server starts cold), then
    one night of each size as the scheduler runs them (its fork server started long before); print the table."""
    settings = Settings(home=home)
    scored = ensure_scored(settings)
    night = night or (latest_processed_night(settings) or date(2030, 12, 31)) + timedelta(days=1)
    print("\nThe first night, as a one-shot `credit-scoring run-nightly` (the fork server imports the jobs first):")
    cold = run_night(settings, night, applications)
    print("\nNights as `credit-scoring schedule` runs them (its fork server imported the jobs when it started):")
    warm_fork_server()
    warm = {size: run_night(settings, night + timedelta(days=1 + i), size) for i, size in enumerate(sizes)}
    rows = [] if scored is None else [scored]
    rows.append(cold.row("one-shot, fork server cold", None))
    for size, measured in warm.items():
        rows.append(measured.row("scheduler", NIGHT_MAX_SECONDS if size == applications else None))
    measured = warm.get(applications, cold)
    rows.append(
        Row(
            step=f"drift on top of that night of {applications:,}",
            seconds=measured.steps.get("drift", float("nan")),
            peak_mb=measured.peak_mb,
            reference="the night (ingest to publish)",
            reference_seconds=measured.timed,
            max_seconds=DRIFT_MAX_SECONDS,
        )
    )
    emit(rows)


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="project home with features and a champion")
    parser.add_argument("--applications", type=int, default=2000, help="the size of the night with the target")
    parser.add_argument(
        "--sizes", default="200,2000,20000", help="the scheduler's nights, comma-separated sizes (the series)"
    )
    parser.add_argument("--date", type=date.fromisoformat, default=None, help="the first batch's night")
    args = parser.parse_args()
    run(args.home.resolve(), args.applications, [int(size) for size in args.sizes.split(",")], args.date)


if __name__ == "__main__":
    main()
