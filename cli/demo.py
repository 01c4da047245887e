"""`demo`: the whole pipeline end to end on built-in data, through the same commands a user types."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console
from warehouse.settings import Settings

app = typer.Typer()


DEMO_NIGHT = "2026-11-24"
"""The night of the demo's nightly batch (a fixed date, so a second `make demo` finds it processed)."""


@app.command()
def demo(
    ctx: typer.Context,
    clients: Annotated[int, typer.Option(help="Clients in the generated data set (train + test).")] = 20_000,
    search_iterations: Annotated[int, typer.Option(min=0, help="LightGBM search budget for training.")] = 2,
) -> None:
    """Run the whole pipeline end to end on built-in data, then say where to look at the results."""
    import secrets

    from dashboard.auth import add_user

    cfg: Settings = ctx.obj
    steps = [
        ("Generate the data set", ["generate", "--clients", str(clients)]),
        ("Load it into the warehouse", ["ingest", str(cfg.data_dir)]),
        ("Build the feature store (dbt)", ["build"]),
        ("Train and register the model", ["train", "--search-iterations", str(search_iterations)]),
        ("Score, explain and publish the test clients", ["score", "--new"]),
        ("Check drift: test set against training", ["drift", "--test-set"]),
        ("Check fairness: decisions per gender, age band and family status", ["fairness"]),
    ]
    if not (cfg.processed_dir / DEMO_NIGHT).exists():
        steps += [
            (f"Receive a nightly batch for {DEMO_NIGHT}", ["generate", "--batch-date", DEMO_NIGHT]),
            (f"Run the night of {DEMO_NIGHT}", ["run-nightly", "--date", DEMO_NIGHT]),
        ]
    steps.append(("Write the notices of the latest refusals", ["notices"]))
    command = ctx.find_root().command
    for number, (title, args) in enumerate(steps, start=1):
        console.rule(f"[bold]{number}/{len(steps)} {title}")
        console.print(f"[dim]$ credit-scoring {' '.join(args)}[/]")
        code = command.main(args, prog_name="credit-scoring", obj=cfg, standalone_mode=False)
        if code:
            console.print(f"[bold red]The demo stopped: `credit-scoring {' '.join(args)}` exited with code {code}.[/]")
            raise typer.Exit(code=code)
    password = secrets.token_urlsafe(12)
    add_user(cfg, "demo", password)
    console.rule("[bold green]Done")
    console.print(f"""Everything lives under {cfg.home / "warehouse"}:
  warehouse   {cfg.warehouse_path}  (pipeline jobs write it)
  serving     {cfg.serving_path}  (read-only copy for analysts and the dashboard)
  MLflow      {cfg.tracking_uri}
  reports     {cfg.reports_dir}

Look at it:
  .venv/bin/credit-scoring dashboard          then sign in as [bold]demo[/] / [bold]{password}[/]
  .venv/bin/python -c "import duckdb; duckdb.connect('{cfg.serving_path}', read_only=True).sql(
      'SELECT decision, count(*) AS clients, avg(probability) FROM scores.latest GROUP BY ALL').show()"
  .venv/bin/mlflow ui --backend-store-uri {cfg.tracking_uri}
  .venv/bin/credit-scoring docs               (the feature store's documentation)""")
