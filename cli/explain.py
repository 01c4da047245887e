"""`explain`: recompute a stored decision from the warehouse and the model registry, and say whether it is the same."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import console

app = typer.Typer()


@app.command()
def explain(
    ctx: typer.Context,
    client: Annotated[int, typer.Argument(help="The client (SK_ID_CURR) whose decision to recompute.")],
    run: Annotated[
        int | None, typer.Option("--run", help="The scoring run of the decision (default: the latest).")
    ] = None,
) -> None:
    """Recompute a client's stored decision with the same model version and features (probability, points, decision,
    SHAP contributions, principal reasons) and compare each with what was stored; exit code 1 when one differs."""
    from scoring.explain import ExplainError
    from scoring.explain import explain as reproduce

    try:
        result = reproduce(ctx.obj, client, run)
    except ExplainError as error:
        console.print(f"[bold red]{error}[/]")
        raise typer.Exit(code=2) from error
    table = Table(title=f"Client {result.client}: run {result.run_id}, model version {result.model_version}")
    for column in ("checked", "stored", "recomputed", "same"):
        table.add_column(column)
    for check in result.checks:
        table.add_row(check.name, check.stored, check.recomputed, "yes" if check.same else "[bold red]NO[/]")
    console.print(table)
    console.print(result.summary())
    if not result.reproduced:
        raise typer.Exit(code=1)
