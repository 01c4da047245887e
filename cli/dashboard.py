"""The relationship managers' dashboard: `dashboard` (the Streamlit app) and `dashboard-user` (its accounts)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console
from warehouse.settings import Settings

app = typer.Typer()


dashboard_user = typer.Typer(help="Manage the dashboard's sign-in accounts.", no_args_is_help=True)
app.add_typer(dashboard_user, name="dashboard-user")


@dashboard_user.command("add")
def dashboard_user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '_', '.', '-').")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Password (asked for when not given)."
        ),
    ],
) -> None:
    """Create a dashboard account (or change its password); only an scrypt hash is stored."""
    from dashboard.auth import UserError, add_user

    try:
        path = add_user(ctx.obj, name, password)
    except UserError as error:
        console.print(f"[bold red]Not saved:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Account [bold]{name}[/] saved in {path}")


@app.command()
def dashboard(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: settings dashboard_port).")] = None,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
) -> None:
    """Open the relationship managers' dashboard (Streamlit) on the published serving database."""
    import subprocess
    import sys

    from dashboard import APP_PATH

    cfg: Settings = ctx.obj
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.port",
        str(port or cfg.dashboard_port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    raise typer.Exit(code=subprocess.call(command))
