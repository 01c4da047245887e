"""The nightly job: `run-nightly` (one night now) and `schedule` (every night, with APScheduler)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, finish_run, night_option
from warehouse.settings import Settings

app = typer.Typer()


@app.command("run-nightly")
def run_nightly(
    ctx: typer.Context,
    night: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The night to run (YYYY-MM-DD); its batch waits in the inbox folder of that date. Default: today.",
        ),
    ] = None,
) -> None:
    """Run one night now: ingest its batch, build features, score the new clients, check drift, publish."""
    from rich.progress import Progress

    from scheduler.nightly import STEPS
    from scheduler.nightly import run_nightly as run

    day = night_option(night)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"night {day}", total=len(STEPS))
        result = run(
            ctx.obj,
            day,
            on_step=lambda step: bar.update(task, description=f"night {day}: {step}", completed=STEPS.index(step)),
        )
    finish_run(result)


@app.command()
def schedule(ctx: typer.Context) -> None:
    """Run the nightly job every night (settings nightly_cron) until stopped; missed runs catch up.

    The time of the last run is kept in settings scheduler_state_path (JSON, no code): a run missed while the
    machine was off starts when the scheduler comes back, if within nightly_misfire_grace_s, and runs every
    batch still waiting.
    """
    import logging

    from scheduler.schedule import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg: Settings = ctx.obj
    scheduler = build_scheduler(cfg)
    console.print(
        f"Nightly job scheduled at cron '{cfg.nightly_cron}' (last run noted in {cfg.scheduler_state_path}); "
        "Ctrl-C to stop."
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        console.print("Scheduler stopped.")
