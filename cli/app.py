"""The `credit-scoring` command: one sub-command per job, each defined in the module of its job."""

from __future__ import annotations

import os

import typer

from cli import api, dashboard, data, decisions, demo, explain, features, model, monitor, nightly, spark
from cli.common import console
from warehouse.settings import Settings

app = typer.Typer(
    help="Credit-scoring warehouse for the Home Credit Default Risk tables: "
    "generate or load data, build the feature store, train, score, monitor.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
for module in (data, features, model, monitor, nightly, decisions, explain, dashboard, api, demo, spark):
    app.add_typer(module.app)


@app.callback()
def load_settings(ctx: typer.Context) -> None:
    """Read the settings once per invocation and pass them down to the command (ctx.obj)."""
    if ctx.obj is None:
        ctx.obj = Settings.load()


def main() -> None:
    """The `credit-scoring` command: a warehouse busy in another process is a one-line message, not a traceback."""
    from warehouse.database import WarehouseBusyError

    os.umask(0o077)  # applicant data is personal: every file and folder a command creates is owner-only
    try:
        app()
    except WarehouseBusyError as error:
        console.print(f"[bold red]{error}[/]")
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
