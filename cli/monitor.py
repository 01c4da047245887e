"""Monitoring: `drift` (the test set or a night's batch against the training population) and `performance`
(backtesting on observed outcomes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_ALERT, console, finish_run, night_option
from warehouse.settings import Settings

if TYPE_CHECKING:
    import pandas
    import rich.table

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


@app.command()
def performance(
    ctx: typer.Context,
    compute: Annotated[
        bool,
        typer.Option(
            "--compute",
            help="Backtest now on the outcomes loaded so far (the nightly run does it every night; its alerts go to "
            "monitoring.alerts, a check by hand only prints them).",
        ),
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help=f"With --compute: exit with code {EXIT_ALERT} on an alert.")
    ] = False,
) -> None:
    """Print the backtesting of the champion's decisions (monitoring.performance): per cohort and score band."""
    from monitoring.performance import check_performance, latest_performance, performance_alerts, takeaways

    cfg: Settings = ctx.obj
    if compute:
        table = check_performance(cfg).table
    else:
        from warehouse.database import open_warehouse
        from warehouse.outcomes import present_tables

        with open_warehouse(cfg.warehouse_path) as con:
            present = "monitoring.performance" in present_tables(con)
            table = latest_performance(con) if present else None
    if table is None or table.empty:
        console.print("No cohort backtested yet: outcomes of scored clients must arrive (outcomes.csv in a batch).")
        return
    alerts = performance_alerts(table, cfg)
    console.print(performance_table(table))
    for line in takeaways(table):
        console.print(f"• {line}")
    for alert in alerts:
        console.print(f"[bold red]Alert ({alert.kind}):[/] {alert.message}")
    if compute and fail_on_alert and alerts:
        raise typer.Exit(code=EXIT_ALERT)


def performance_table(table: pandas.DataFrame) -> rich.table.Table:
    """A rich table of backtesting rows: cohort, band, counts, rates, tests."""
    import pandas as pd
    from rich.table import Table

    shown = Table(title="Backtesting (monitoring.performance)")
    columns = {
        "cohort": "{}",
        "model_version": "v{}",
        "score_band": "{}",
        "clients": "{:,}",
        "outcomes": "{:,}",
        "defaults": "{:,}",
        "observed_default_rate": "{:.1%}",
        "predicted_default_rate": "{:.1%}",
        "jeffreys_low": "{:.1%}",
        "jeffreys_high": "{:.1%}",
        "binomial_p": "{:.3g}",
        "calibration": "{}",
        "gini": "{:.3f}",
        "expected_gini": "{:.3f}",
        "ks": "{:.3f}",
        "hosmer_lemeshow_p": "{:.3g}",
        "score_psi": "{:.3f}",
    }
    for name in columns:
        shown.add_column(name.replace("_", " "), justify="left" if name in ("cohort", "score_band") else "right")
    for row in table.itertuples():
        shown.add_row(*("" if pd.isna(v := getattr(row, c)) else f.format(v) for c, f in columns.items()))
    return shown
