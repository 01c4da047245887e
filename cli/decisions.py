"""Decisions a lender can defend: `notices` (the letters of a night's refusals) and `fairness` (per-group checks)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, night_option
from warehouse.settings import Settings

app = typer.Typer()


@app.command()
def notices(
    ctx: typer.Context,
    night: Annotated[
        str | None,
        typer.Option("--date", help="Refusals scored on this day, YYYY-MM-DD (default: those of the latest run)."),
    ] = None,
) -> None:
    """Write the notice (HTML and PDF) of every refusal of a night, from the published serving database."""
    from notices.letters import write_notices
    from scoring.serving import ServingNotPublished

    cfg: Settings = ctx.obj
    try:
        folder, files = write_notices(cfg, night_option(night) if night else None)
    except ServingNotPublished as error:
        console.print(f"[bold red]No notices:[/] {error}")
        raise typer.Exit(code=1) from error
    refusals = len(files) // 2
    console.print(f"{refusals:,} refusal notice{'' if refusals == 1 else 's'} (HTML and PDF) written to {folder}")


@app.command()
def fairness(ctx: typer.Context) -> None:
    """Measure every latest decision per gender, age band and family status (monitoring.fairness), publish."""
    from rich.table import Table

    from monitoring.fairness import check_fairness
    from scoring.fairness import ATTRIBUTES
    from scoring.publish import publish
    from scoring.registry import NoChampionError

    cfg: Settings = ctx.obj
    try:
        result = check_fairness(cfg)
    except NoChampionError as error:
        console.print(f"[bold red]No fairness check:[/] {error}")
        raise typer.Exit(code=1) from error
    publish(cfg)
    for scope, rows in result.table.groupby("scope", sort=False):
        table = Table(title=f"Fairness check {result.check_id}: {scope}")
        for column in ("attribute", "group", "clients", "approved", "impact", "rule"):
            numeric = column in ("clients", "approved", "impact")
            table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
        for r in rows.itertuples():
            impact = "" if r.disparate_impact != r.disparate_impact else f"{r.disparate_impact:.3f}"
            rule = r.four_fifths_rule.replace(" clients", "")
            table.add_row(ATTRIBUTES[r.attribute], r.group, f"{r.clients:,}", f"{r.approval_rate:.1%}", impact, rule)
        console.print(table)
    console.print("impact: approval rate over the most approved group's; rule: the four-fifths rule fails below 0.8.")
    console.print(result.summary())
