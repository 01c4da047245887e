"""Data in: `generate` (the built-in data set or a nightly batch) and `ingest` (validated loading)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import console
from warehouse.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer()


@app.command()
def generate(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the CSVs (default: settings data_dir, or the inbox folder of --batch-date)."),
    ] = None,
    clients: Annotated[int | None, typer.Option(help="Number of clients, train and test together.")] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="'full' for the row counts of the real Kaggle data (307,511 + 48,744 clients, about 58 million rows)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same files.")] = None,
    batch_date: Annotated[
        str | None,
        typer.Option(
            help="Write a nightly batch of new applications for this date (YYYY-MM-DD) instead of a full data set."
        ),
    ] = None,
    applications: Annotated[int, typer.Option(help="Number of new applications in a nightly batch.")] = 2000,
    drift: Annotated[
        bool,
        typer.Option(help="Shift income, age and external scores in a nightly batch, as a changing population would."),
    ] = False,
    outcomes_delay: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --batch-date: also deliver outcomes.csv, the observed outcomes of the earlier batches (inbox "
            "and processed) scored this many days before, each batch once.",
        ),
    ] = None,
    deteriorate: Annotated[
        str | None,
        typer.Option(
            help="With --outcomes-delay: defaults rise in one segment, COLUMN=VALUE of the applications (e.g. "
            "NAME_INCOME_TYPE=Working): its odds of default are multiplied by 4."
        ),
    ] = None,
) -> None:
    """Write realistic data in the exact Kaggle file layout (built-in data when you lack the real files)."""
    from generator import dataset as gen

    cfg: Settings = ctx.obj
    seed = cfg.seed if seed is None else seed
    if batch_date is not None:
        day = date.fromisoformat(batch_date)
        target = out or cfg.inbox_dir / day.isoformat()
        arrived = _outcomes(cfg, day, outcomes_delay, deteriorate, seed, target.parent)
        summary = gen.generate_batch(target, day, applications, seed=seed, drift=drift, outcomes=arrived)
    else:
        if scale not in (None, "full"):
            raise typer.BadParameter("--scale only accepts 'full'", param_hint="--scale")
        n = gen.FULL_SCALE_CLIENTS if scale == "full" else (clients or cfg.clients)
        summary = gen.generate_dataset(out or cfg.data_dir, n, seed=seed)
    console.print(summary.as_table())


def _outcomes(
    cfg: Settings, day: date, delay: int | None, deteriorate: str | None, seed: int, beside: Path
) -> pd.DataFrame | None:
    """The outcomes a batch delivers (None without --outcomes-delay); a bad --deteriorate is a usage error."""
    from generator.outcomes import Deterioration, batch_folders, outcome_rows

    if delay is None:
        if deteriorate is not None:
            raise typer.BadParameter("needs --outcomes-delay", param_hint="--deteriorate")
        return None
    try:
        segment = Deterioration.parse(deteriorate) if deteriorate else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--deteriorate") from error
    earlier = batch_folders([beside, cfg.inbox_dir, cfg.processed_dir])
    return outcome_rows(day, earlier, delay, seed=seed, deteriorate=segment)


@app.command()
def ingest(
    ctx: typer.Context,
    source: Annotated[
        Path,
        typer.Argument(help="Folder holding the Kaggle CSV files (real or generated).", exists=True, file_okay=False),
    ],
) -> None:
    """Load the CSVs of a folder into the warehouse's raw schema, checking each against the schema contract."""
    from ingest.files import IngestError
    from ingest.load import ingest_folder

    try:
        report = ingest_folder(source, ctx.obj, progress=console.is_terminal)
    except IngestError as error:
        console.print(f"[bold red]Nothing loaded:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(report.as_table())
    if report.rejected_files:
        raise typer.Exit(code=1)


@app.command()
def manifest(
    folder: Annotated[
        Path,
        typer.Argument(help="A batch folder whose files are all in place.", exists=True, file_okay=False),
    ],
) -> None:
    """Write the folder's manifest.json (each Kaggle file's size and SHA-256), making the batch eligible.

    Run it LAST, once every file has been copied in full: a nightly run takes a batch only when its manifest
    is there and every file matches it (a batch still being copied waits for the next night)."""
    from ingest.files import IngestError, find_files
    from warehouse.delivery import write_manifest

    try:
        found, _ = find_files(folder)
    except IngestError as error:
        console.print(f"[bold red]No manifest written:[/] {error}")
        raise typer.Exit(code=1) from error
    path = write_manifest(folder, [p.name for _, p in found])
    console.print(f"{path} lists {len(found)} files: {', '.join(p.name for _, p in found)}")
