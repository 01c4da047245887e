"""A hand-built serving database with the published layout and known edge cases.

The dashboard's edge-case tests need clients the pipeline does not reliably produce (one without any history,
one never scored, two nights of runs, a failed run, drift results); everything about reasons, points and notices is
tested on the real pipeline's output (`served_warehouse` in conftest). This stand-in publishes no reasons, points
or bands: the pages must say so instead of failing. A module of its own (light imports) so that a separate
process can publish it in a loop.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from warehouse.vocabulary import catalogue, feature_code

STANDIN_WEIGHTS = {  # feature -> (log-odds weight per standard deviation, mean, sd); linear model: exact SHAP
    "EXT_SOURCE_2": (-0.55, 0.5, 0.2),
    "EXT_SOURCE_3": (-0.5, 0.5, 0.2),
    "DAYS_BIRTH": (0.3, -15000, 4000),
    "DAYS_EMPLOYED": (0.2, -2500, 2000),
    "AMT_INCOME_TOTAL": (-0.1, 170000, 60000),
    "AMT_CREDIT": (0.15, 600000, 300000),
    "PAYMENT_RATE": (0.25, 0.05, 0.02),
    "BURO_DAYS_CREDIT_MEAN": (0.2, -1000, 400),
    "BURO_AMT_CREDIT_SUM_DEBT_MEAN": (0.1, 80000, 50000),
    "PREV_CNT_PAYMENT_MEAN": (0.1, 15, 6),
    "INSTAL_DPD_MAX": (0.35, 5, 8),
    "CC_CNT_DRAWINGS_ATM_CURRENT_MEAN": (0.2, 1, 1),
}
STANDIN_BASE, STANDIN_THRESHOLD = -2.2, 0.12
STANDIN_START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
HISTORY_PREFIXES = ("BURO_", "PREV_", "INSTAL_", "CC_")
NO_HISTORY_CLIENT = 100_003
UNSCORED_CLIENT = 100_001
DRIFT_RUN = 7


def build_standin_serving(
    path: Path, *, clients: int = 600, seed: int = 11, nights: int = 2, extra_features: int = 0
) -> None:
    """Publish a serving DuckDB file with the agreed layout, atomically (new file, then os.replace).

    `extra_features` adds weak features (PREV_EXTRA_<i>_MEAN) to reach a realistic width for benchmarks.
    """
    weights = {**STANDIN_WEIGHTS, **{f"PREV_EXTRA_{i}_MEAN": (0.02, 0.0, 1.0) for i in range(extra_features)}}
    rng = np.random.default_rng(seed)
    ids = np.arange(100_001, 100_001 + clients)
    features = pd.DataFrame({f: rng.normal(mean, sd, clients) for f, (_, mean, sd) in weights.items()})
    features["INSTAL_DPD_MAX"] = features["INSTAL_DPD_MAX"].clip(lower=0).round()
    features.loc[ids == NO_HISTORY_CLIENT, [c for c in features if c.startswith(HISTORY_PREFIXES)]] = np.nan
    contributions = pd.DataFrame(
        {f: (w * (features[f] - mean) / sd).fillna(0.0) for f, (w, mean, sd) in weights.items()}
    )
    probability = 1 / (1 + np.exp(-(STANDIN_BASE + contributions.sum(axis=1).to_numpy())))
    train = np.arange(clients) < clients * 2 // 3
    report = path.parent / f"drift-{DRIFT_RUN}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    client_features = pd.DataFrame(
        {
            "SK_ID_CURR": ids,
            "TARGET": np.where(train, (rng.random(clients) < probability).astype(float), np.nan),
            "DATASET": np.where(train, "train", "test"),
            "APPLICATION_LOAD_ID": 1,
            "FEATURE_HASH": [f"h{i}" for i in ids],
        }
    ).join(features)
    night_of = np.minimum(np.arange(clients) * nights // clients, nights - 1)
    night_of[ids == UNSCORED_CLIENT] = -1
    runs = [_standin_night(n, ids, features, contributions, probability, night_of == n) for n in range(nights)]
    failed = {
        "run_id": nights + 1,
        "model_name": "credit_default",
        "model_version": 3,
        "threshold": STANDIN_THRESHOLD,
        "mode": "new",
        "started_at": STANDIN_START + timedelta(days=nights),
        "finished_at": None,
        "clients_scored": 0,
        "status": "failed",
        "error": "ingest rejected application_test.csv: column AMT_CREDIT, rows 4, 9",
    }
    tables = {
        "features.client_features": client_features,
        "features.client_profile": _standin_profile(rng, ids, features),
        "scores.runs": pd.DataFrame([r[0] for r in runs] + [failed]),
        "scores.predictions": pd.concat([r[1] for r in runs]),
        "scores.explanations": pd.concat([r[2] for r in runs]),
        "scores.global_importance": contributions.abs()
        .mean()
        .rename("mean_abs_shap")
        .rename_axis("feature")
        .reset_index()
        .assign(model_version=3, rank=lambda d: d["mean_abs_shap"].rank(ascending=False)),
        "scores.feature_codes": pd.DataFrame({"feature": list(weights), "code": [feature_code(f) for f in weights]}),
        "scores.reason_codes": pd.DataFrame(
            [
                {
                    "code": c.code,
                    "theme": c.theme,
                    "title": c.title,
                    "key_feature": c.key_feature or None,
                    "key_unit": c.key_unit or None,
                    "client_template": c.client_template,
                    "features": 0,
                }
                for c in catalogue().values()
            ]
        ),
        **_standin_model_and_monitoring(int(train.sum()), len(features.columns), report),
    }
    report.write_text("<html><body><h1>Data drift report</h1></body></html>")
    _write_atomically(path, tables)


def _standin_night(
    night: int,
    ids: np.ndarray,
    features: pd.DataFrame,
    contributions: pd.DataFrame,
    probability: np.ndarray,
    chosen: np.ndarray,
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """One scoring run: its runs row, predictions and long-format explanations."""
    run_id, at = night + 1, STANDIN_START + timedelta(days=night)
    run = {
        "run_id": run_id,
        "model_name": "credit_default",
        "model_version": 3,
        "threshold": STANDIN_THRESHOLD,
        "mode": "all" if night == 0 else "new",
        "started_at": at,
        "finished_at": at + timedelta(minutes=2),
        "clients_scored": int(chosen.sum()),
        "status": "succeeded",
        "error": None,
    }
    predictions = pd.DataFrame(
        {
            "run_id": run_id,
            "SK_ID_CURR": ids[chosen],
            "model_version": 3,
            "probability": probability[chosen],
            "decision": np.where(probability[chosen] >= STANDIN_THRESHOLD, "refuse", "accept"),
            "threshold": STANDIN_THRESHOLD,
            "FEATURE_HASH": [f"h{i}" for i in ids[chosen]],
            "scored_at": at + timedelta(minutes=1),
            "base_value": STANDIN_BASE,
        }
    )
    long = (
        contributions[chosen]
        .assign(SK_ID_CURR=ids[chosen])
        .melt("SK_ID_CURR", var_name="feature", value_name="contribution")
    )
    values = features[chosen].assign(SK_ID_CURR=ids[chosen]).melt("SK_ID_CURR", var_name="feature")
    long = long.merge(values, on=["SK_ID_CURR", "feature"]).assign(run_id=run_id)
    long["rank"] = long.groupby("SK_ID_CURR")["contribution"].transform(
        lambda c: c.abs().rank(ascending=False, method="first")
    )
    return run, predictions, long[["run_id", "SK_ID_CURR", "feature", "value", "contribution", "rank"]]


def _standin_profile(rng: np.random.Generator, ids: np.ndarray, features: pd.DataFrame) -> pd.DataFrame:
    """Raw application columns for the profile."""
    n = len(ids)
    return pd.DataFrame(
        {
            "SK_ID_CURR": ids,
            "CODE_GENDER": rng.choice(["F", "M"], n),
            "DAYS_BIRTH": features["DAYS_BIRTH"],
            "NAME_FAMILY_STATUS": rng.choice(["Married", "Single / not married"], n),
            "CNT_CHILDREN": rng.integers(0, 3, n),
            "NAME_INCOME_TYPE": rng.choice(["Working", "Pensioner"], n),
            "OCCUPATION_TYPE": rng.choice(["Laborers", "Core staff", None], n),
            "AMT_INCOME_TOTAL": features["AMT_INCOME_TOTAL"],
            "NAME_CONTRACT_TYPE": "Cash loans",
            "AMT_CREDIT": features["AMT_CREDIT"],
            "FLAG_OWN_CAR": rng.choice(["Y", "N"], n),
        }
    )


def _standin_model_and_monitoring(train_rows: int, n_features: int, report_path: Path) -> dict[str, pd.DataFrame]:
    """The model card, drift results and report, an alert and a nightly job run."""
    start = STANDIN_START
    return {
        "scores.model_card": pd.DataFrame(
            [
                {
                    "model_name": "credit_default",
                    "model_version": 3,
                    "run_id": "abc123",
                    "trained_at": start - timedelta(days=3),
                    "train_rows": train_rows,
                    "features": n_features,
                    "metrics": json.dumps({"roc_auc": 0.761, "business_cost": 0.49, "recall_defaults": 0.67}),
                    "threshold": STANDIN_THRESHOLD,
                    "cost_false_negative": 10.0,
                    "cost_false_positive": 1.0,
                    "report_path": "warehouse/reports/train_3.html",
                }
            ]
        ),
        "monitoring.feature_drift": pd.DataFrame(
            {
                "run_id": DRIFT_RUN,
                "feature": list(STANDIN_WEIGHTS)[:4],
                "method": "wasserstein",
                "score": [0.02, 0.31, 0.05, 0.2],
                "threshold": 0.1,
                "drifted": [False, True, False, True],
            }
        ),
        "monitoring.drift_reports": pd.DataFrame(
            {
                "run_id": [DRIFT_RUN],
                "computed_at": [start],
                "scope": ["batch"],
                "night": [start.date()],
                "reference_rows": [5000],
                "current_rows": [2000],
                "features": [4],
                "drifted_features": [2],
                "drift_share": [0.5],
                "score_psi": [0.08],
                "report_path": [str(report_path)],
            }
        ),
        "monitoring.psi": pd.DataFrame(
            {"run_id": DRIFT_RUN, "variable": ["score", "EXT_SOURCE_2"], "psi": [0.08, 0.31], "band": ["stable", "act"]}
        ),
        "monitoring.alerts": pd.DataFrame(
            {
                "run_id": [DRIFT_RUN],
                "kind": ["feature_drift"],
                "value": [0.5],
                "threshold": [0.3],
                "message": ["50% of monitored features drifted"],
            }
        ),
        "ops.job_runs": pd.DataFrame(
            {
                "run_id": [DRIFT_RUN],
                "job": ["nightly"],
                "night": [start.date()],
                "started_at": [start],
                "finished_at": [start + timedelta(minutes=3)],
                "status": ["succeeded"],
                "error": [None],
                "message": ["2,000 applications scored"],
                "batch_folder": ["warehouse/inbox/2026-11-01"],
            }
        ),
    }


def _write_atomically(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write the tables (plus scores.latest) to a new DuckDB file, then move it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for schema_name in {name.split(".")[0] for name in tables}:
            con.execute(f"CREATE SCHEMA {schema_name}")
        for name, frame in tables.items():
            con.register("frame", frame)
            order = " ORDER BY SK_ID_CURR, run_id" if name == "scores.explanations" else ""  # fast lookups
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame{order}")
            con.unregister("frame")
        con.execute("""CREATE TABLE scores.latest AS
            SELECT p.SK_ID_CURR, p.run_id, p.model_version, p.probability, p.decision, p.threshold,
                   p.FEATURE_HASH, p.scored_at
            FROM scores.predictions p
            QUALIFY row_number() OVER (PARTITION BY SK_ID_CURR ORDER BY scored_at DESC) = 1""")
        con.execute("CHECKPOINT")
    os.replace(tmp, path)


def publish_repeatedly(path: str, times: int) -> None:
    """Publish the stand-in again and again, alternating 2 and 3 nights (run in a separate process)."""
    for i in range(times):
        build_standin_serving(Path(path), nights=2 + i % 2, clients=200)
