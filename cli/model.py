"""The model: `train` (cross-validation, threshold, registry), `score` (probabilities, reasons, publication) and
`promote` (the challenger to champion, by rule)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import ENGINE_HELP, MASTER_HELP, console, engine_option
from warehouse.settings import Settings

app = typer.Typer()


@app.command()
def score(
    ctx: typer.Context,
    new: Annotated[
        bool,
        typer.Option(
            "--new/--all",
            help="--new (default): only clients whose features changed or who have no score "
            "from the champion's version; --all: everyone.",
        ),
    ] = True,
    engine: Annotated[str, typer.Option(help=f"Where to score: {ENGINE_HELP}")] = "duckdb",
    master: Annotated[str | None, typer.Option(help=MASTER_HELP)] = None,
) -> None:
    """Score clients with the champion model, explain each score (SHAP), publish the serving database (on Spark:
    write the Spark tables scores.runs, scores.predictions and scores.explanations)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if engine_option(engine) == "spark":
        _score_on_spark(ctx.obj, "new" if new else "all", master)
        return

    from scoring.score import ScoringError
    from scoring.score import score as run_scoring

    with Progress(
        TextColumn("Scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("score", total=None)
        try:
            summary = run_scoring(
                ctx.obj,
                mode="new" if new else "all",
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except ScoringError as error:
            console.print(f"[bold red]Scoring failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(summary.as_table())


def _score_on_spark(settings: Settings, mode: str, master: str | None) -> None:
    """Score the Spark feature store's clients on Spark (settings spark_master, or `master`) and print the run."""
    from scoring.registry import NoChampionError
    from scoring.score import ScoringError
    from scoring.spark_score import score_on_spark
    from warehouse.spark import spark_session

    with console.status("Scoring on Spark"):
        spark = spark_session(settings.replace(spark_master=master or settings.spark_master))
        try:
            summary = score_on_spark(spark, settings, mode=mode)
        except (ScoringError, NoChampionError) as error:
            console.print(f"[bold red]Scoring on Spark failed:[/] {error}")
            raise typer.Exit(code=1) from error
        finally:
            spark.stop()
    console.print(summary.as_table())


@app.command()
def train(
    ctx: typer.Context,
    search_iterations: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="LightGBM hyperparameter sets tried by the random search, each one more "
            "cross-validation (default: a budget sized for the demo data).",
        ),
    ] = None,
    folds: Annotated[int | None, typer.Option(min=2, help="Cross-validation folds (default: settings).")] = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new version the champion even if it does not beat the current one.",
        ),
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Seed of folds, samples and models (default: settings).")] = None,
    as_challenger: Annotated[
        bool,
        typer.Option(
            "--as-challenger",
            help="Register the new version as the challenger: scored every night in shadow beside the champion, "
            "never deciding; `credit-scoring promote` makes it champion by rule.",
        ),
    ] = False,
    with_outcomes: Annotated[
        bool,
        typer.Option(
            "--with-outcomes",
            help="Also learn from the scored clients whose outcome has arrived (raw.outcomes), labelled with it.",
        ),
    ] = False,
) -> None:
    """Compare models by cross-validation, pick the cost-minimising threshold, register the best model."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scoring.data import FeatureStoreError
    from scoring.train import DEFAULT_SEARCH_ITERATIONS
    from scoring.train import train as run_training

    cfg: Settings = ctx.obj
    if promote and as_challenger:
        raise typer.BadParameter("give --promote or --as-challenger, not both", param_hint="--as-challenger")
    cfg = cfg.replace(cv_folds=folds or cfg.cv_folds, seed=cfg.seed if seed is None else seed)
    with Progress(
        TextColumn("[bold]Training[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading the feature store", total=None)
        try:
            budget = DEFAULT_SEARCH_ITERATIONS if search_iterations is None else search_iterations
            summary = run_training(
                cfg,
                search_iterations=budget,
                promote=promote,
                as_challenger=as_challenger,
                with_outcomes=with_outcomes,
                progress=lambda text, done, total: bar.update(task, description=text, completed=done, total=total),
            )
        except FeatureStoreError as error:
            bar.stop()
            console.print(f"[bold red]Training failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(summary.as_table())
    verdict = (
        "[bold green]is the new champion[/]"
        if summary.decision.promoted
        else "[blue]is the challenger[/]"
        if as_challenger
        else "[yellow]is not champion[/]"
    )
    console.print(
        f"Registered {cfg.model_name} version {summary.version} ({summary.chosen.name}, "
        f"threshold {summary.threshold:.4f}, OOF cost {summary.chosen.cost:.4f}/client, "
        f"AUC {summary.chosen.auc:.4f}) {verdict}: {summary.decision.reason}."
    )
    console.print(f"Report: {summary.report_path}")


@app.command()
def promote(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote even when the rule says no (recorded as forced in ops.promotions)."),
    ] = False,
    version: Annotated[
        int | None, typer.Option(help="The version to consider (default: the challenger scored in shadow).")
    ] = None,
) -> None:
    """Make the challenger the champion if it beat it on realised outcomes and business cost (or --force); report."""
    from monitoring.challenger import PromotionError
    from monitoring.challenger import promote as decide

    try:
        done = decide(ctx.obj, force=force, version=version)
    except PromotionError as error:
        console.print(f"[bold red]Nothing promoted:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(done.report_path.read_text(), markup=False, highlight=False)
    verdict = "[bold green]promoted[/]" if done.promoted else "[yellow]not promoted[/]"
    console.print(f"v{done.candidate_version} {verdict}. Report: {done.report_path}")
