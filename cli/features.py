"""The feature store: `build` (dbt models and tests) and `docs` (its documentation site)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import MASTER_HELP, console, engine_option
from warehouse.settings import Settings

app = typer.Typer()


@app.command()
def build(
    ctx: typer.Context,
    select: Annotated[
        str | None, typer.Option(help="dbt selection, e.g. 'int_bureau__per_client+' (default: every model and test).")
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Rebuild every incremental model from all raw rows instead of only the new clients."
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="Where dbt builds: duckdb (the warehouse file) or spark (the raw tables exported to the Parquet "
            "lake, the feature store as Spark tables under spark_dir)."
        ),
    ] = "duckdb",
    master: Annotated[
        str | None,
        typer.Option(help=MASTER_HELP),
    ] = None,
) -> None:
    """Build the feature store (features.client_features) with dbt: models, then their tests."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from featurestore.build import FeatureBuildError, build_features

    chosen = engine_option(engine)
    with Progress(
        TextColumn("[bold]dbt build[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("parsing the project", total=None)

        def advance(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, description=name)

        try:
            result = build_features(
                ctx.obj,
                select=select,
                full_refresh=full_refresh,
                on_progress=advance,
                engine=chosen,
                master=master,
            )
        except FeatureBuildError as error:
            progress.stop()
            console.print(f"[bold red]Feature build failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(result.as_table())


@app.command()
def docs(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the documentation site.")] = 8080,
    serve: Annotated[
        bool, typer.Option(help="Serve the site after generating it (--no-serve: only write dbt/target/index.html).")
    ] = True,
) -> None:
    """Generate dbt's documentation of the feature store (every model and column, lineage) and serve it."""
    from featurestore.build import FeatureBuildError, generate_docs, serve_docs

    cfg: Settings = ctx.obj
    try:
        index = generate_docs(cfg)
    except FeatureBuildError as error:
        console.print(f"[bold red]Docs failed:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Documentation written to {index}")
    if serve:
        console.print(f"Serving on http://localhost:{port} (Ctrl+C to stop)")
        raise typer.Exit(code=serve_docs(cfg, port))
