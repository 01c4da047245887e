"""What every command shares: the console, exit codes, reading a --date option, printing a job run."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from scheduler.history import JobRun

console = Console()

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
