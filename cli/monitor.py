"""Monitoring: `drift` (the test set or a night's batch against the training population)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import EXIT_ALERT, console, finish_run, night_option
from warehouse.settings import Settings

app = typer.Typer()


@app.command()
def drift(
    ctx: typer.Context,
    test_set: Annotated[
        bool,
        typer.Option(
            "--test-set",
            help="Compare the whole test set (clients without "
            "a known outcome, nightly batches excluded) with the training "
            "set.",
        ),
    ] = False,
    night: Annotated[
        str | None,
        typer.Option(
            "--date", help="Compare the batch processed for this night (default: the latest processed batch)."
        ),
    ] = None,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help=f"Exit with code {EXIT_ALERT} when the check raises a drift alert.")
    ] = False,
) -> None:
    """Check drift against the training population: evidently HTML report, PSI, alerts in monitoring.*."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from scheduler.nightly import latest_processed_night, run_drift_check

    cfg: Settings = ctx.obj
    if test_set and night:
        raise typer.BadParameter("give --test-set or --date, not both", param_hint="--test-set")
    day = None if test_set else (night_option(night) if night else latest_processed_night(cfg))
    if not test_set and day is None:
        console.print("[bold red]No processed batch yet:[/] run a night first, or use --test-set.")
        raise typer.Exit(code=1)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        bar.add_task(f"drift of {'the test set' if test_set else f'the batch of {day}'}", total=None)
        run = run_drift_check(cfg, day)
    if fail_on_alert and run.alerts:
        console.print(run.as_table())
        raise typer.Exit(code=EXIT_ALERT)
    finish_run(run)
