"""The `credit-scoring` command line: one sub-command per job of the pipeline."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from warehouse.settings import Settings

if TYPE_CHECKING:
    from scheduler.history import JobRun

app = typer.Typer(
    help="Credit-scoring warehouse for the Home Credit Default Risk tables: "
    "generate or load data, build the feature store, train, score, monitor.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def settings() -> Settings:
    """The settings every command uses, read once per invocation."""
    return Settings.load()


@app.command()
def generate(
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
) -> None:
    """Write realistic data in the exact Kaggle file layout (built-in data when you lack the real files)."""
    from warehouse import generate as gen

    cfg = settings()
    seed = cfg.seed if seed is None else seed
    if batch_date is not None:
        day = date.fromisoformat(batch_date)
        target = out or cfg.inbox_dir / day.isoformat()
        summary = gen.generate_batch(target, day, applications, seed=seed, drift=drift)
    else:
        if scale not in (None, "full"):
            raise typer.BadParameter("--scale only accepts 'full'", param_hint="--scale")
        n = gen.FULL_SCALE_CLIENTS if scale == "full" else (clients or cfg.clients)
        summary = gen.generate_dataset(out or cfg.data_dir, n, seed=seed)
    console.print(summary.as_table())


@app.command()
def ingest(
    source: Annotated[
        Path,
        typer.Argument(help="Folder holding the Kaggle CSV files (real or generated).", exists=True, file_okay=False),
    ],
) -> None:
    """Load the CSVs of a folder into the warehouse's raw schema, checking each against the schema contract."""
    from warehouse.ingest import IngestError, ingest_folder

    try:
        report = ingest_folder(source, settings())
    except IngestError as error:
        console.print(f"[bold red]Ingest rejected:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(report.as_table())
    if report.rejected_files:
        raise typer.Exit(code=1)


dashboard_user = typer.Typer(help="Manage the dashboard's sign-in accounts.", no_args_is_help=True)
app.add_typer(dashboard_user, name="dashboard-user")


@dashboard_user.command("add")
def dashboard_user_add(
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
        path = add_user(settings(), name, password)
    except UserError as error:
        console.print(f"[bold red]Not saved:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Account [bold]{name}[/] saved in {path}")


@app.command()
def dashboard(
    port: Annotated[int | None, typer.Option(help="Port (default: settings dashboard_port).")] = None,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
) -> None:
    """Open the relationship managers' dashboard (Streamlit) on the published serving database."""
    import subprocess
    import sys

    from dashboard import APP_PATH

    cfg = settings()
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


EXIT_LOCKED = 75
"""Exit code of a run refused because another run holds the lock (EX_TEMPFAIL: try again later)."""
EXIT_ALERT = 3
"""Exit code of `drift --fail-on-alert` when the check raised an alert."""


def _night(value: str | None) -> date:
    """A --date option's value (YYYY-MM-DD), today by default."""
    try:
        return date.fromisoformat(value) if value else date.today()
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--date") from error


def _finish_run(run: JobRun) -> None:
    """Print a job run and exit with its code: 0 done or skipped, 1 failed, 75 refused (locked)."""
    from scheduler.history import FAILED, LOCKED

    console.print(run.as_table())
    if run.status == LOCKED:
        raise typer.Exit(code=EXIT_LOCKED)
    if run.status == FAILED:
        raise typer.Exit(code=1)


@app.command("run-nightly")
def run_nightly(
    night: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The night to run (YYYY-MM-DD); its batch waits in the inbox folder of that date. Default: today.",
        ),
    ] = None,
) -> None:
    """Run one night now: ingest its batch, build features, score the new clients, check drift, publish."""
    from rich.progress import Progress

    from scheduler.nightly import STEPS
    from scheduler.nightly import run_nightly as run

    day = _night(night)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"night {day}", total=len(STEPS))
        result = run(
            settings(),
            day,
            on_step=lambda step: bar.update(task, description=f"night {day}: {step}", completed=STEPS.index(step)),
        )
    _finish_run(result)


@app.command()
def schedule() -> None:
    """Run the nightly job every night (settings nightly_cron) until stopped; missed runs catch up.

    The job store persists in settings scheduler_db_path: a run missed while the machine was off starts
    when the scheduler comes back, if within nightly_misfire_grace_s, and runs every batch still waiting.
    """
    import logging

    from scheduler.schedule import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = settings()
    scheduler = build_scheduler(cfg)
    console.print(
        f"Nightly job scheduled at cron '{cfg.nightly_cron}' (job store {cfg.scheduler_db_path}); Ctrl-C to stop."
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        console.print("Scheduler stopped.")


@app.command()
def drift(
    test_set: Annotated[
        bool,
        typer.Option(
            "--test-set",
            help="Compare the whole test set (clients without "
            "a known outcome, nightly batches excluded) with the training "
            "set.",
        ),
    ] = False,
    night: Annotated[
        str | None,
        typer.Option(
            "--date", help="Compare the batch processed for this night (default: the latest processed batch)."
        ),
    ] = None,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help=f"Exit with code {EXIT_ALERT} when the check raises a drift alert.")
    ] = False,
) -> None:
    """Check drift against the training population: evidently HTML report, PSI, alerts in monitoring.*."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from scheduler.nightly import latest_processed_night, run_drift_check

    cfg = settings()
    if test_set and night:
        raise typer.BadParameter("give --test-set or --date, not both", param_hint="--test-set")
    day = None if test_set else (_night(night) if night else latest_processed_night(cfg))
    if not test_set and day is None:
        console.print("[bold red]No processed batch yet:[/] run a night first, or use --test-set.")
        raise typer.Exit(code=1)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        bar.add_task(f"drift of {'the test set' if test_set else f'the batch of {day}'}", total=None)
        run = run_drift_check(cfg, day)
    if fail_on_alert and run.alerts:
        console.print(run.as_table())
        raise typer.Exit(code=EXIT_ALERT)
    _finish_run(run)


@app.command()
def score(
    new: Annotated[
        bool,
        typer.Option(
            "--new/--all",
            help="--new (default): only clients whose features changed or who have no score "
            "from the champion's version; --all: everyone.",
        ),
    ] = True,
) -> None:
    """Score clients with the champion model, explain each score (SHAP), publish the serving database."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scoring.score import ScoringError
    from scoring.score import score as run_scoring

    with Progress(
        TextColumn("Scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("score", total=None)
        try:
            summary = run_scoring(
                settings(),
                mode="new" if new else "all",
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except ScoringError as error:
            console.print(f"[bold red]Scoring failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(summary.as_table())


@app.command()
def train(
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
) -> None:
    """Compare models by cross-validation, pick the cost-minimising threshold, register the best model."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scoring.data import FeatureStoreError
    from scoring.train import DEFAULT_SEARCH_ITERATIONS
    from scoring.train import train as run_training

    cfg = settings()
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
                progress=lambda text, done, total: bar.update(task, description=text, completed=done, total=total),
            )
        except FeatureStoreError as error:
            bar.stop()
            console.print(f"[bold red]Training failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(summary.as_table())
    verdict = "[bold green]is the new champion[/]" if summary.decision.promoted else "[yellow]is not champion[/]"
    console.print(
        f"Registered {cfg.model_name} version {summary.version} ({summary.chosen.name}, "
        f"threshold {summary.threshold:.4f}, OOF cost {summary.chosen.cost:.4f}/client, "
        f"AUC {summary.chosen.auc:.4f}) {verdict}: {summary.decision.reason}."
    )
    console.print(f"Report: {summary.report_path}")


@app.command()
def build(
    select: Annotated[
        str | None, typer.Option(help="dbt selection, e.g. 'int_bureau__per_client+' (default: every model and test).")
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Rebuild every incremental model from all raw rows instead of only the new clients."
        ),
    ] = False,
) -> None:
    """Build the feature store (features.client_features) with dbt: models, then their tests."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from warehouse.features import FeatureBuildError, build_features

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
            result = build_features(settings(), select=select, full_refresh=full_refresh, on_progress=advance)
        except FeatureBuildError as error:
            progress.stop()
            console.print(f"[bold red]Feature build failed:[/] {error}")
            raise typer.Exit(code=1) from error
    console.print(result.as_table())


@app.command()
def docs(
    port: Annotated[int, typer.Option(help="Port of the documentation site.")] = 8080,
    serve: Annotated[
        bool, typer.Option(help="Serve the site after generating it (--no-serve: only write dbt/target/index.html).")
    ] = True,
) -> None:
    """Generate dbt's documentation of the feature store (every model and column, lineage) and serve it."""
    from warehouse.features import FeatureBuildError, generate_docs, serve_docs

    cfg = settings()
    try:
        index = generate_docs(cfg)
    except FeatureBuildError as error:
        console.print(f"[bold red]Docs failed:[/] {error}")
        raise typer.Exit(code=1) from error
    console.print(f"Documentation written to {index}")
    if serve:
        console.print(f"Serving on http://localhost:{port} (Ctrl+C to stop)")
        raise typer.Exit(code=serve_docs(cfg, port))


DEMO_NIGHT = "2026-11-24"
"""The night of the demo's nightly batch (a fixed date, so a second `make demo` finds it processed)."""


@app.command()
def demo(
    clients: Annotated[int, typer.Option(help="Clients in the generated data set (train + test).")] = 20_000,
    search_iterations: Annotated[int, typer.Option(min=0, help="LightGBM search budget for training.")] = 2,
) -> None:
    """Run the whole pipeline end to end on built-in data, then say where to look at the results."""
    import secrets

    from dashboard.auth import add_user

    cfg = settings()
    steps = [
        ("Generate the data set", lambda: generate(None, clients, None, None, None, 2000, False)),
        ("Load it into the warehouse", lambda: ingest(cfg.data_dir)),
        ("Build the feature store (dbt)", lambda: build(None, False)),
        ("Train and register the model", lambda: train(search_iterations, None, False, None)),
        ("Score, explain and publish the test clients", lambda: score(True)),
        ("Check drift: test set against training", lambda: drift(True, None, False)),
    ]
    if not (cfg.processed_dir / DEMO_NIGHT).exists():
        steps += [
            (
                f"Receive a nightly batch for {DEMO_NIGHT}",
                lambda: generate(None, None, None, None, DEMO_NIGHT, 2000, False),
            ),
            (f"Run the night of {DEMO_NIGHT}", lambda: run_nightly(DEMO_NIGHT)),
        ]
    for number, (title, step) in enumerate(steps, start=1):
        console.rule(f"[bold]{number}/{len(steps)} {title}")
        step()
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


def main() -> None:
    """The `credit-scoring` command: a warehouse busy in another process is a one-line message, not a traceback."""
    from warehouse.database import WarehouseBusyError

    try:
        app()
    except WarehouseBusyError as error:
        console.print(f"[bold red]{error}[/]")
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
