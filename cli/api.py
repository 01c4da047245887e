"""The read API for other systems: `api` (served by uvicorn) and `api-key` (its keys)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console
from warehouse.settings import Settings

app = typer.Typer()
api_key = typer.Typer(help="Manage the read API's keys (only scrypt hashes are stored).", no_args_is_help=True)
app.add_typer(api_key, name="api-key")
LOCAL = ("127.0.0.1", "localhost", "::1")


@api_key.command("add")
def api_key_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who uses the key, e.g. crm (letters, digits, '_', '-').")],
) -> None:
    """Make a new key for NAME (replacing its previous one) and print it once: it is never stored, only its hash,
    and it is never typed on a command line."""
    from api.keys import ApiKeyError, add_key

    try:
        path, key = add_key(ctx.obj, name)
    except ApiKeyError as error:
        console.print(f"[bold red]Not saved:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Key [bold]{name}[/] saved (hashed) in {path}. Hand it over now; it cannot be shown again:")
    print(key)


@api_key.command("remove")
def api_key_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the key to remove.")]) -> None:
    """Remove a key: the API refuses it from the next request on."""
    from api.keys import ApiKeyError, remove_key

    try:
        path = remove_key(ctx.obj, name)
    except ApiKeyError as error:
        console.print(f"[bold red]Not removed:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Key [bold]{name}[/] removed from {path}")


@api_key.command("list")
def api_key_list(ctx: typer.Context) -> None:
    """The names of the keys and when each was made (never the keys)."""
    from api.keys import ApiKeyError, load_keys

    cfg: Settings = ctx.obj
    try:
        keys = load_keys(cfg.api_keys_file)
    except ApiKeyError as error:
        console.print(f"[bold red]{error}[/]")
        raise typer.Exit(code=1) from error
    if not keys:
        console.print(f"No API key in {cfg.api_keys_file}: `credit-scoring api-key add NAME` makes one.")
    for key in sorted(keys.values(), key=lambda k: k.name):
        console.print(f"{key.name}  made {key.created_at}")


@app.command("api")
def serve_api(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: settings api_host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings api_port).")] = None,
) -> None:
    """Serve the read API (decisions, score history, model card) on the published serving database; the
    OpenAPI documentation is at /docs."""
    import uvicorn

    from api.app import create_app

    cfg: Settings = ctx.obj
    host, port = host or cfg.api_host, port or cfg.api_port
    if host not in LOCAL:
        console.print(
            f"[bold yellow]Listening on {host}:[/] other machines can reach the API; put it behind TLS (a reverse "
            "proxy): its keys travel in a header."
        )
    console.print(f"Read API on http://{host}:{port} (documentation: /docs), serving {cfg.serving_path}")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info")
