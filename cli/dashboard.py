"""The relationship managers' dashboard: `dashboard` (the Streamlit app) and `dashboard-user` (its accounts)."""

from __future__ import annotations

import sys
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
) -> None:
    """Create a dashboard account (or change its password); only an scrypt hash is stored.

    The password is asked for (typed twice, not shown) or, when the input is not a terminal, read from the
    first line of standard input: never from the command line, which every local user can see."""
    from dashboard.auth import UserError, add_user

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        path = add_user(ctx.obj, name, password)
    except UserError as error:
        console.print(f"[bold red]Not saved:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Account [bold]{name}[/] saved in {path}")


@dashboard_user.command("remove")
def dashboard_user_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name of the account to remove.")]
) -> None:
    """Remove a dashboard account; its open sessions end at their next page view."""
    from dashboard.auth import UserError, remove_user

    try:
        path = remove_user(ctx.obj, name)
    except UserError as error:
        console.print(f"[bold red]Not removed:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Account [bold]{name}[/] removed from {path}")


STREAMLIT_OPTIONS = (
    ("server.headless", "true"),
    ("browser.gatherUsageStats", "false"),
    ("client.toolbarMode", "viewer"),
    ("client.showErrorDetails", "none"),  # an unexpected error shows a plain message, never a traceback
)


def streamlit_options(port: int, address: str) -> list[str]:
    """The options `dashboard` gives Streamlit, as command-line arguments."""
    options = (("server.port", str(port)), ("server.address", address), *STREAMLIT_OPTIONS)
    return [part for name, value in options for part in (f"--{name}", value)]


@app.command()
def dashboard(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: settings dashboard_port).")] = None,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
) -> None:
    """Open the relationship managers' dashboard (Streamlit) on the published serving database."""
    import subprocess

    from dashboard import APP_PATH

    cfg: Settings = ctx.obj
    options = streamlit_options(port or cfg.dashboard_port, address)
    raise typer.Exit(code=subprocess.call([sys.executable, "-m", "streamlit", "run", str(APP_PATH), *options]))
