"""What every command shares: the console, exit codes, reading a --date option, printing a job run."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.console import Console
from rich.measure import Measurement

if TYPE_CHECKING:
    from featurestore.build import Engine
    from scheduler.history import JobRun

UNBOUNDED = 100_000
"""Columns a table may take in a log: as many as its content needs."""


class LogConsole(Console):
    """rich's console, readable in a log too: when the output is not a terminal (cron, CI, a file), tables and
    other renderables take their natural width (never squeezed to 80 columns) and messages stay on one line."""

    def print(self, *objects: Any, **options: Any) -> None:
        """Print as rich does, with a log's width when not writing to a terminal."""
        if self.is_terminal:
            super().print(*objects, **options)
            return
        options.setdefault("soft_wrap", True)
        wide = self.options.update_width(UNBOUNDED)
        widths = [Measurement.get(self, wide, o).maximum for o in objects if not isinstance(o, str)]
        usual = self.width
        self.width = max([usual, *widths])  # rich never prints wider than the console
        try:
            super().print(*objects, **options)
        finally:
            self.width = usual


console = LogConsole()

ENGINES = ("duckdb", "spark")
"""Where `build` and `score` run: the DuckDB warehouse file, or Apache Spark (tables under settings spark_dir)."""
ENGINE_HELP = "duckdb (the warehouse file) or spark (Spark tables under settings spark_dir)."
MASTER_HELP = "Spark master with --engine spark, e.g. spark://host:7077 (default: settings spark_master)."


def engine_option(name: str) -> Engine:
    """The engine named on the command line; exit with a message for an unknown one."""
    if name not in ENGINES:
        console.print(f"[bold red]Unknown engine {name!r}:[/] choose one of {', '.join(ENGINES)}")
        raise typer.Exit(code=2)
    return cast("Engine", name)


EXIT_LOCKED = 75
"""Exit code of a run refused because another run holds the lock (EX_TEMPFAIL: try again later)."""
EXIT_ALERT = 3
"""Exit code of `drift --fail-on-alert` when the check raised an alert."""


def night_option(value: str | None) -> date:
    """A --date option's value (YYYY-MM-DD), today by default."""
    try:
        return date.fromisoformat(value) if value else date.today()
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--date") from error


def finish_run(run: JobRun) -> None:
    """Print a job run and exit with its code: 0 done or skipped, 1 failed, 75 refused (locked)."""
    from scheduler.history import FAILED, LOCKED

    console.print(run.as_table())
    if run.status == LOCKED:
        raise typer.Exit(code=EXIT_LOCKED)
    if run.status == FAILED:
        raise typer.Exit(code=1)
