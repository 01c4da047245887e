"""One night at scale: a batch of new applications from raw files to published tables, step by step.

    python -m benchmarks.bench_night --home PATH [--applications 2000] [--date YYYY-MM-DD]

PATH is a project home with the feature store built and a champion registered, for example the one
`python -m benchmarks.bench_train --clients 356255 --workdir PATH` leaves. If no client has been scored
there yet, every test client is scored and published first (`score --all`, timed and printed: the full-scale
scoring figure with the real champion). Then a batch is generated into the inbox (not timed) and the nightly
job runs it: the seconds of each step, the ingest-to-publish total (the target is 20 s for 2,000
applications) and the peak memory are printed. PATH keeps the batch: each run needs a new date (the
default is the day after the newest night already processed).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from benchmarks.report import Row, emit, peak_mb, reset_peak
from generator.dataset import generate_batch
from scheduler.history import SUCCEEDED
from scheduler.nightly import latest_processed_night, run_nightly
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
    from scoring.score import score  # here: the night's fresh step processes import this module, as the CLI's light

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


def run(home: Path, applications: int, night: date | None) -> None:
    """Generate a batch, run the night, print the figures."""
    settings = Settings(home=home)
    scored = ensure_scored(settings)
    night = night or (latest_processed_night(settings) or date(2030, 12, 31)) + timedelta(days=1)
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
        print(f"  {name:<9} {value:6.1f} s")
    timed = sum(seconds.get(name, 0.0) for name in TIMED_STEPS)
    print(f"ingest + features + score + publish: {timed:.1f} s; whole night {ended - started:.1f} s")
    own, largest = peak_mb(children=False), peak_mb()
    print(f"peak memory: {own:,.0f} MiB (this process), {largest:,.0f} MiB (with dbt)")
    night_row = Row(
        step=f"night of {applications:,} applications: ingest + features + score + publish",
        seconds=timed if result.status == SUCCEEDED else float("nan"),  # a failed night measures nothing
        peak_mb=largest,
        max_seconds=NIGHT_MAX_SECONDS,
        note=", ".join(f"{name} {seconds.get(name, 0.0):.1f} s" for name in TIMED_STEPS) + f"; {result.status}",
    )
    drift_row = Row(
        step=f"drift on top of that night of {applications:,}",
        seconds=seconds.get("drift", float("nan")),
        peak_mb=own,
        reference="the night (ingest to publish)",
        reference_seconds=timed,
        max_seconds=DRIFT_MAX_SECONDS,
    )
    emit([row for row in (scored, night_row, drift_row) if row is not None])


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="project home with features and a champion")
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--date", type=date.fromisoformat, default=None, help="the batch's night")
    args = parser.parse_args()
    run(args.home.resolve(), args.applications, args.date)


if __name__ == "__main__":
    main()
