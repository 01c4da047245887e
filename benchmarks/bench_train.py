"""Training quality and speed: generate -> ingest -> build features -> train, against the generator's truth.

Prints the out-of-fold AUC of the chosen model, the AUC of the true default probabilities (TRUE_PD of
the generator's truth file) on the same clients, their ratio (the target is >= 0.97), the business cost,
the threshold, the seconds of each stage and the peak memory.

    python -m benchmarks.bench_train [--clients N] [--search-iterations K] [--folds F] [--workdir DIR]

With --workdir, a warehouse already built there for the same --clients and seed is reused (only
training is timed again).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from featurestore.build import build_features
from generator.dataset import TRUTH_FILE, generate_dataset
from ingest.load import ingest_folder
from scoring.train import DEFAULT_SEARCH_ITERATIONS, train
from warehouse.settings import Settings

SEED = 42


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (a load-independent proxy of the cost)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its children (dbt), in MB."""
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def build_warehouse(home: Path, clients: int) -> tuple[Settings, dict[str, float]]:
    """Generate, ingest and build the feature store under home (reused when already built)."""
    settings = Settings(home=home, seed=SEED)
    marker = home / f"built-{clients}-{SEED}"
    seconds: dict[str, float] = {}
    if marker.exists():
        return settings, seconds
    data = home / "data"
    for stage, job in (
        ("generate", lambda: generate_dataset(data, clients, seed=SEED)),
        ("ingest", lambda: ingest_folder(data, settings, progress=False)),
        ("build features", lambda: build_features(settings)),
    ):
        start = time.perf_counter()
        job()
        seconds[stage] = time.perf_counter() - start
    marker.touch()
    return settings, seconds


def true_pd_auc(home: Path, ids: pd.Series) -> float:
    """AUC of the generator's true default probabilities on the given training clients."""
    truth = pd.read_csv(home / "data" / TRUTH_FILE).set_index("SK_ID_CURR").loc[ids]
    return float(roc_auc_score(truth["TARGET"], truth["TRUE_PD"]))


def run(home: Path, clients: int, folds: int, search_iterations: int) -> None:
    """Build (or reuse) the warehouse, train, and print the figures."""
    settings, seconds = build_warehouse(home, clients)
    settings = settings.replace(cv_folds=folds)
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = train(settings, search_iterations=search_iterations, promote=True, progress=_print_progress)
    seconds["train"] = time.perf_counter() - start
    seconds["train CPU"] = cpu_seconds() - cpu
    oof = pd.read_parquet(_oof_path(settings, summary.run_id))
    oof_auc = summary.chosen.auc
    truth_auc = true_pd_auc(home, oof["SK_ID_CURR"])
    print(
        f"clients generated: {clients:,}; training rows: {summary.data['rows']:,}; "
        f"features: {summary.data['features']}; default rate: {summary.data['default_rate']:.4f}"
    )
    print(f"folds: {folds}; search iterations: {search_iterations}; chosen: {summary.chosen.name}")
    for ev in summary.evaluations:
        print(f"  {ev.name:<24} AUC {ev.auc:.4f}  cost/client {ev.cost:.4f}  {ev.result.seconds:7.1f} s")
    print(f"OOF AUC {oof_auc:.4f}; true-PD AUC {truth_auc:.4f}; ratio {oof_auc / truth_auc:.4f} (target >= 0.97)")
    print(
        f"cost/client {summary.chosen.cost:.4f} at threshold {summary.threshold:.4f} "
        f"(at 0.5: {summary.chosen.metrics['cost_per_client_at_0_5']:.4f})"
    )
    print("seconds: " + ", ".join(f"{stage} {value:.1f}" for stage, value in seconds.items()))
    own, children = peak_mb()
    print(f"peak memory: {own:,.0f} MB (this process), {children:,.0f} MB (children)")


STARTED = time.perf_counter()


def _print_progress(description: str, done: int, total: int) -> None:
    """One line per training step with the seconds since start, so a long run shows where it is."""
    print(f"  {time.perf_counter() - STARTED:6.0f} s [{done}/{total}] {description}", flush=True)


def _oof_path(settings: Settings, run_id: str) -> Path:
    """Local path of a run's logged out-of-fold predictions."""
    import mlflow

    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="oof_predictions.parquet", tracking_uri=settings.tracking_uri
        )
    )


def main() -> None:
    """Parse the options and run the benchmark in a scratch or given folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000, help="clients to generate (train + test)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--search-iterations", type=int, default=DEFAULT_SEARCH_ITERATIONS)
    parser.add_argument("--workdir", type=Path, help="keep the warehouse here and reuse it next time")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.workdir.resolve(), args.clients, args.folds, args.search_iterations)
        return
    with tempfile.TemporaryDirectory() as scratch:
        run(Path(scratch), args.clients, args.folds, args.search_iterations)


if __name__ == "__main__":
    main()
