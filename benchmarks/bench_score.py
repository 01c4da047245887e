"""Scoring speed: clients/s for probabilities and for exact SHAP explanations, table writing and publication.

    python -m benchmarks.bench_score                # synthetic feature store: 48,744 test clients x 500
    python -m benchmarks.bench_score --home PATH           # a project home with features built and a champion

The synthetic mode builds a features.client_features table of the real layout (random values, 30% missing)
and a LightGBM model of champion size, so the scorer's cost can be measured before the pipeline exists;
it scores with that model directly (the registry is not involved). Prints rows, seconds, clients/s,
CPU seconds and peak memory, and its row of the benchmark table (the whole run beside its TreeSHAP
part; the 35-second target applies to a real champion, --home).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa

from benchmarks.report import Row, cpu_seconds, emit, peak_mb
from scoring.score import Model, score
from warehouse.features import NON_FEATURE_COLUMNS
from warehouse.settings import Settings

FULL_SCALE_TEST_CLIENTS = 48_744
MAX_SECONDS = 35.0
"""The issue's target for scoring, explaining and publishing the full-scale test set with the champion."""


def synthetic_home(home: Path, clients: int, features: int, trees: int, leaves: int, seed: int) -> Model:
    """A warehouse with a synthetic client_features table and a LightGBM model trained on it."""
    rng = np.random.default_rng(seed)
    train = min(clients, 10_000)
    X = rng.normal(size=(train + clients, features))
    X[rng.random(X.shape) < 0.3] = np.nan
    signal = np.nan_to_num(X[:, :20]) @ rng.normal(size=20)
    y = (rng.random(len(X)) < 1 / (1 + np.exp(3 - signal))).astype(float)
    names = [f"FEATURE_{i:03d}" for i in range(features)]
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": leaves,
            "learning_rate": 0.05,
            "verbose": -1,
            "seed": seed,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.5,
        },
        lgb.Dataset(X[:train], y[:train], feature_name=names),
        num_boost_round=trees,
    )
    dataset = np.where(np.arange(len(X)) < train, "train", "test")
    table = pa.table(
        {
            "SK_ID_CURR": np.arange(len(X), dtype=np.int64) + 100_000,
            "TARGET": pa.array(np.where(dataset == "train", y, np.nan), from_pandas=True),
            "DATASET": dataset,
            "APPLICATION_LOAD_ID": np.ones(len(X), dtype=np.int64),
            "FEATURE_HASH": rng.integers(0, 2**63, len(X), dtype=np.uint64),
            **{name: pa.array(X[:, i], from_pandas=True) for i, name in enumerate(names)},
        }
    )
    assert list(table.column_names[: len(NON_FEATURE_COLUMNS)]) == list(NON_FEATURE_COLUMNS)
    settings = Settings(home=home)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.register("synthetic", table)
        con.execute("CREATE SCHEMA features; CREATE TABLE features.client_features AS SELECT * FROM synthetic")
    return Model(booster, names, 0.5, settings.model_name, 1, "synthetic")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="Project home with features built and a registered champion.")
    parser.add_argument("--clients", type=int, default=FULL_SCALE_TEST_CLIENTS)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--trees", type=int, default=400)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.home:
            settings, model = Settings(home=args.home), None
            print(f"home {args.home} (registered champion)")
        else:
            tick = time.perf_counter()
            model = synthetic_home(Path(scratch), args.clients, args.features, args.trees, args.leaves, args.seed)
            settings = Settings(home=Path(scratch))
            print(
                f"synthetic: {args.clients:,} test clients x {args.features} features, "
                f"{args.trees} trees x {args.leaves} leaves (built in {time.perf_counter() - tick:.1f} s)"
            )
        cpu = cpu_seconds()
        summary = score(settings, mode="all", model=model)
        cpu = cpu_seconds() - cpu
        n = summary.clients_scored
        size = settings.serving_path.stat().st_size / 2**20
        with duckdb.connect(str(settings.serving_path), read_only=True) as con:
            explained = con.execute("SELECT count(*) FROM scores.explanations").fetchall()[0][0]
    print(f"clients scored        {n:,}")
    for name, wall, cpu_s in (
        ("probabilities", summary.proba_seconds, summary.proba_cpu_seconds),
        ("SHAP explanations", summary.shap_seconds, summary.shap_cpu_seconds),
    ):
        print(
            f"{name:<21} {wall:7.2f} s  {summary.rate(wall):10,.0f} clients/s   "
            f"({cpu_s:.1f} CPU s = {2 * n / cpu_s if cpu_s else float('nan'):,.0f} clients/s on 2 busy cores)"
        )
    print(f"writing tables        {summary.write_seconds:7.2f} s  ({explained:,} explanation rows)")
    print(f"publishing            {summary.publish_seconds:7.2f} s  (serving file {size:,.0f} MiB)")
    print(f"total                 {summary.total_seconds:7.2f} s  ({cpu:.1f} CPU s in this process)")
    print(f"peak memory           {peak_mb() / 1024:7.2f} GiB")
    what = "the champion of --home" if args.home else f"a synthetic model, {args.trees} trees x {args.leaves} leaves"
    emit(
        [
            Row(
                step=f"score + SHAP + tables + publication, {n:,} clients, {what}",
                seconds=summary.total_seconds,
                peak_mb=peak_mb(),
                reference="its TreeSHAP alone",
                reference_seconds=summary.shap_seconds,
                max_seconds=MAX_SECONDS if args.home else None,
                note=f"SHAP {summary.rate(summary.shap_seconds):,.0f} clients/s; {explained:,} explanation rows",
            )
        ]
    )


if __name__ == "__main__":
    main()
