"""Drift monitoring: does tonight's population (or the test set) still look like the one the model learned?

Two views, both restricted to the champion's most important features (mean |SHAP| over the reference
sample, as training ranks them) plus the score:
- evidently 0.7's DataDriftPreset, one statistical test per column (its default choice: Wasserstein distance
  for numeric columns of more than 1,000 rows, Jensen-Shannon or chi-square for categorical-looking ones),
  saved as an HTML report under `reports_dir`; its verdicts go to `monitoring.feature_drift`;
- the population stability index (PSI), computed here on reference deciles, into `monitoring.psi` (evidently's
  PSI bins both samples on equal-width bins, where one outlier hides a shift: tests/unit/test_drift.py).
The reference is a seeded sample of training clients; both sides are capped at `settings.drift_sample_rows`
rows to bound time and memory (benchmarks/bench_drift.py). The score is the champion's probability of
default, recomputed here so both sides come from the same model. On training clients it is an in-sample
prediction, more spread out than on new clients (a small model overfits: on 2,600 training clients the
score PSI of an undrifted batch against it was 0.24), so a batch's scores are compared with the scores of
the test set instead (clients never trained on) when it holds MIN_SCORE_REFERENCE_ROWS clients or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from scoring import score_tables
from scoring.registry import IMPORTANCE_KEY, Model, load_champion
from warehouse.clock import utc_now
from warehouse.database import one_row, open_warehouse
from warehouse.features import DATASET_COLUMN, FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN, LOAD_ID_COLUMN
from warehouse.settings import Settings
from warehouse.tables import TableDoc

SCORE_COLUMN = "score"
PSI_BINS = 10
PSI_EPSILON = 1e-4
"""Share given to an empty bin so that PSI stays finite (an empty bin on one side still counts heavily)."""
MIN_SCORE_REFERENCE_ROWS = 200
"""Fewest test-set clients to serve as the reference of the score (below: training clients)."""
TEST_SET = (
    f"{DATASET_COLUMN} = 'test' AND {LOAD_ID_COLUMN} NOT IN "
    "(SELECT load_id FROM ops.job_runs WHERE load_id IS NOT NULL)"
)
"""The test set: clients without a known outcome, except those nightly batches brought (ops.job_runs)."""
PSI_BANDS = ((0.1, "stable"), (0.25, "watch"), (float("inf"), "act"))
"""The usual reading of PSI: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act."""

RUN_ID = ("run_id", "BIGINT NOT NULL", "The run (ops.job_runs.run_id) that computed it.")

DRIFT_REPORTS = TableDoc(
    "monitoring",
    "drift_reports",
    "One row per drift check: populations, summary, HTML report.",
    (
        RUN_ID,
        ("computed_at", "TIMESTAMP NOT NULL", "When the check ran (UTC)."),
        ("scope", "VARCHAR NOT NULL", "batch (one night's new clients) or test_set."),
        ("night", "DATE", "The night whose batch was compared (NULL: test set)."),
        ("reference_rows", "BIGINT NOT NULL", "Training clients in the reference sample."),
        ("current_rows", "BIGINT NOT NULL", "Clients of the current population compared."),
        ("features", "BIGINT NOT NULL", "Features compared (the champion's top features)."),
        ("drifted_features", "BIGINT NOT NULL", "Features evidently found drifted."),
        ("drift_share", "DOUBLE NOT NULL", "Share of the features evidently found drifted."),
        ("score_psi", "DOUBLE", "PSI of the predicted probability of default."),
        (
            "score_reference",
            "VARCHAR",
            "Whose scores the score was compared with: test_set (clients never trained on, when the check is a "
            "batch and the test set has 200 or more) or train (in-sample scores: more spread out, PSI biased up).",
        ),
        ("report_path", "VARCHAR", "The evidently HTML report."),
    ),
    primary_key=("run_id",),
)

FEATURE_DRIFT = TableDoc(
    "monitoring",
    "feature_drift",
    "evidently's drift test per column (features and score).",
    (
        RUN_ID,
        ("feature", "VARCHAR NOT NULL", "A feature of features.client_features, or 'score'."),
        ("method", "VARCHAR NOT NULL", "The statistical test evidently chose for the column."),
        (
            "score",
            "DOUBLE",
            "The test's value: a distance (drift when >= threshold) or a p-value (drift when < threshold).",
        ),
        ("threshold", "DOUBLE", "The threshold the test compares its score with."),
        ("drifted", "BOOLEAN NOT NULL", "evidently's verdict for the column."),
    ),
    primary_key=("run_id", "feature"),
)

PSI_TABLE = TableDoc(
    "monitoring",
    "psi",
    "Population stability index per variable: sum over 10 reference-decile bins (and one for missing "
    "values) of (current share - reference share) * ln(current share / reference share); an empty bin "
    "counts as a share of 0.0001.",
    (
        RUN_ID,
        ("variable", "VARCHAR NOT NULL", "A feature, or 'score' (the probability of default)."),
        ("psi", "DOUBLE NOT NULL", "The population stability index."),
        ("band", "VARCHAR NOT NULL", "stable (< 0.1), watch (0.1 to 0.25) or act (> 0.25)."),
    ),
    primary_key=("run_id", "variable"),
)

ALERTS = TableDoc(
    "monitoring",
    "alerts",
    "Monitoring alerts: one row per threshold a check exceeded (drift, and backtesting on observed outcomes).",
    (
        RUN_ID,
        (
            "kind",
            "VARCHAR NOT NULL",
            "drift_share (share of drifted features > drift_share_threshold), score_psi (> score_psi_threshold) "
            "or feature_psi (a top feature's PSI > feature_psi_threshold); backtesting: performance_gini (a cohort's "
            "realised Gini more than performance_gini_drop below the model's out-of-fold Gini) or "
            "performance_calibration (a score band's binomial test fails at calibration_alpha).",
        ),
        ("value", "DOUBLE NOT NULL", "The measured value."),
        ("threshold", "DOUBLE NOT NULL", "The setting it exceeded."),
        ("message", "VARCHAR NOT NULL", "What happened, in words."),
    ),
    primary_key=("run_id", "kind"),
)

TABLES = (DRIFT_REPORTS, FEATURE_DRIFT, PSI_TABLE, ALERTS)


@dataclass(frozen=True)
class Alert:
    """A monitoring threshold exceeded."""

    kind: str
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class FeatureDrift:
    """evidently's verdict on one column."""

    feature: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    """Everything one drift check found."""

    run_id: int
    scope: str
    reference_rows: int
    current_rows: int
    columns: list[FeatureDrift]
    psi: dict[str, float]
    alerts: list[Alert]
    report_path: Path
    score_reference: str = "train"
    """Whose scores the current scores were compared with: 'test_set' (unseen clients) or 'train'."""

    @property
    def features(self) -> list[FeatureDrift]:
        """Per-feature verdicts (the score excluded)."""
        return [c for c in self.columns if c.feature != SCORE_COLUMN]

    @property
    def drift_share(self) -> float:
        """Share of the compared features found drifted."""
        return sum(c.drifted for c in self.features) / max(len(self.features), 1)

    @property
    def score_psi(self) -> float:
        """PSI of the predicted probability of default."""
        return self.psi[SCORE_COLUMN]

    def summary(self) -> str:
        """One line: share of drifted features, score PSI, alerts."""
        alerts = "; ".join(a.message for a in self.alerts) or "no drift alert"
        return f"drifted features {self.drift_share:.0%}, score PSI {self.score_psi:.3f}; {alerts}"


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS, eps: float = PSI_EPSILON) -> float:
    """Population stability index of `current` against `reference`, on reference-quantile bins.

    Bin edges are the reference's inner quantiles (deciles by default; repeated edges of discrete or
    heavily tied variables merge), so each bin holds about 1/bins of the reference. Missing values get a
    bin of their own: a change in missingness is drift too.
    """
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    known = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])) if known.size else np.array([])
    r, c = _bin_shares(reference, edges, eps), _bin_shares(current, edges, eps)
    return float(np.sum((c - r) * np.log(c / r)))


def _bin_shares(x: np.ndarray, edges: np.ndarray, eps: float) -> np.ndarray:
    """Share of x in each bin between edges, the last bin holding missing values; empty bins get eps."""
    index = np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right"))
    counts = np.bincount(index, minlength=len(edges) + 2)
    return np.maximum(counts / max(len(x), 1), eps)


def psi_band(value: float) -> str:
    """The band a PSI value falls in: stable, watch or act."""
    return next(band for bound, band in PSI_BANDS if value < bound)


def check_batch(settings: Settings, run_id: int, client_ids: np.ndarray, night: date | None = None) -> DriftResult:
    """Compare one night's new clients with the training population; store and return the findings."""
    if not len(client_ids):
        raise ValueError("drift check of an empty batch: no client ids given")
    ids = pd.DataFrame({ID_COLUMN: np.asarray(client_ids, dtype=np.int64)})
    return _check(settings, run_id, "batch", night, ids)


def check_test_set(settings: Settings, run_id: int) -> DriftResult:
    """Compare the test set (clients without a known outcome that no nightly batch brought) with training."""
    return _check(settings, run_id, "test_set", None, None)


def _check(settings: Settings, run_id: int, scope: str, night: date | None, ids: pd.DataFrame | None) -> DriftResult:
    """Load the populations, compare them, save the report and store the results.

    Only the monitored columns are read from the feature store (a sample of all ~940 columns costs a scan
    of the whole table); the scores are those the scorer published for the clients' current features with
    the champion, computed here only for clients it has not scored (training clients, stale scores).
    """
    champion = load_champion(settings)
    batch = ids is not None
    in_batch = f"{ID_COLUMN} IN (SELECT {ID_COLUMN} FROM batch_ids)"
    train = f"{DATASET_COLUMN} = 'train'"
    with open_warehouse(settings.warehouse_path) as con:
        con.register("batch_ids", ids if batch else pd.DataFrame({ID_COLUMN: np.array([], np.int64)}))
        test_set = _test_set(con)
        top = registered_top_features(champion, settings.drift_top_features) or _shap_top_features(
            champion, _sample(con, champion.features, train, settings), settings.drift_top_features
        )
        reference = _sample(con, top, train, settings)
        current = _sample(con, top, in_batch if batch else test_set, settings)
        if current.empty:
            raise ValueError(f"drift check ({scope}): none of the clients compared is in {FEATURES_TABLE}")
        current[SCORE_COLUMN] = champion_scores(con, champion, current.pop(ID_COLUMN).to_numpy())
        score_reference = None
        if batch:
            unseen = _sample(con, [], f"{test_set} AND NOT {in_batch}", settings)[ID_COLUMN].to_numpy()
            if len(unseen) >= MIN_SCORE_REFERENCE_ROWS:
                score_reference = champion_scores(con, champion, unseen)
        reference_ids = reference.pop(ID_COLUMN).to_numpy()
        if score_reference is None:
            reference[SCORE_COLUMN] = champion_scores(con, champion, reference_ids)
    result = compare(reference, current, settings, run_id, scope, night, score_reference)
    store(settings, result, night)
    return result


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: Settings,
    run_id: int,
    scope: str,
    night: date | None = None,
    score_reference: np.ndarray | None = None,
) -> DriftResult:
    """Compare two populations column by column (evidently tests and PSI), save the HTML report, raise alerts.

    Both frames hold the same numeric columns and `current` a `score`. `score_reference`, when given,
    replaces the reference's scores (another population, of any size; the reference then needs no `score`).
    Nothing is stored in the warehouse.
    """
    scores = reference[SCORE_COLUMN].to_numpy() if score_reference is None else np.asarray(score_reference)
    features = reference.drop(columns=SCORE_COLUMN, errors="ignore").reset_index(drop=True)
    # evidently tests each column on its non-missing values: padding the shorter column with NaN is harmless
    padded = pd.concat([features, pd.Series(scores, name=SCORE_COLUMN)], axis=1)
    columns, report_path = _evidently(padded, current[padded.columns], settings, run_id, scope, night)
    psis = {name: psi(features[name].to_numpy(), current[name].to_numpy()) for name in features.columns}
    psis[SCORE_COLUMN] = psi(scores, current[SCORE_COLUMN].to_numpy())
    source = "train" if score_reference is None else "test_set"
    result = DriftResult(run_id, scope, len(features), len(current), columns, psis, [], report_path, source)
    return _with_alerts(result, settings)


def registered_top_features(champion: Model, n: int) -> list[str] | None:
    """The champion's n most important features as training ranked them (mean |SHAP| over a seeded sample of
    training clients, registered with the version); None when the version carries fewer (or none)."""
    importance = champion.metadata.get(IMPORTANCE_KEY) or {}
    position = {name: i for i, name in enumerate(champion.features)}
    ranked = sorted((name for name in importance if name in position), key=lambda f: (-importance[f], position[f]))
    return ranked[:n] if len(ranked) >= min(n, len(champion.features)) else None


def champion_scores(con: duckdb.DuckDBPyConnection, champion: Model, ids: np.ndarray) -> np.ndarray:
    """The champion's probability of default for each client of `ids`, in that order.

    It is the probability the scorer published when it scored the client's current features (same FEATURE_HASH)
    with this champion version; the others (training clients, stale scores) are computed here.
    """
    ids = np.asarray(ids, dtype=np.int64)
    probability = _published_scores(con, champion, ids) if _has_scores(con) else np.full(len(ids), np.nan)
    missing = np.isnan(probability)
    if missing.any():
        probability[missing] = champion.predict_proba(_rows(con, champion.features, ids[missing]))
    return probability


def _published_scores(con: duckdb.DuckDBPyConnection, champion: Model, ids: np.ndarray) -> np.ndarray:
    """The champion version's published probability of each client of `ids` for its current features (NaN: none)."""
    con.register("score_ids", pd.DataFrame({ID_COLUMN: ids}))
    frame = con.execute(
        f"""SELECT l.{ID_COLUMN}, l.probability
            FROM {score_tables.LATEST.qualified} AS l
            JOIN {score_tables.RUNS.qualified} AS r USING (run_id)
            JOIN {FEATURES_TABLE} AS f
              ON f.{ID_COLUMN} = l.{ID_COLUMN} AND f.{FEATURE_HASH_COLUMN} = l.{FEATURE_HASH_COLUMN}
            WHERE l.{ID_COLUMN} IN (SELECT {ID_COLUMN} FROM score_ids)
              AND r.model_name = $name AND l.model_version = $version""",
        {"name": champion.name, "version": champion.version},
    ).df()
    # a copy: pandas hands out read-only views, and the caller fills in the clients with no published score
    return frame.set_index(ID_COLUMN)["probability"].astype(float).reindex(ids).to_numpy(copy=True)


def _has_scores(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the scorer has written its tables (a warehouse scored at least once)."""
    (count,) = one_row(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name IN (?, ?)",
        [score_tables.SCHEMA, score_tables.LATEST.name, score_tables.RUNS.name],
    )
    return count == 2


def _test_set(con: duckdb.DuckDBPyConnection) -> str:
    """The test set's condition; every test client when no nightly run was ever recorded."""
    (runs,) = one_row(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'job_runs'")
    return TEST_SET if runs else f"{DATASET_COLUMN} = 'test'"


def _sample(con: duckdb.DuckDBPyConnection, columns: list[str], where: str, settings: Settings) -> pd.DataFrame:
    """SK_ID_CURR and some columns of at most drift_sample_rows clients matching `where`, picked by a seeded hash
    (the same ones each time)."""
    cols = "".join(f', CAST("{c}" AS DOUBLE) AS "{c}"' for c in columns)
    return con.execute(
        f"SELECT {ID_COLUMN}{cols} FROM {FEATURES_TABLE} WHERE {where} "
        f"ORDER BY hash({ID_COLUMN} + ?), {ID_COLUMN} LIMIT ?",
        [settings.seed, settings.drift_sample_rows],
    ).df()


def _rows(con: duckdb.DuckDBPyConnection, columns: list[str], ids: np.ndarray) -> pd.DataFrame:
    """Some columns of the given clients, in the order of `ids`."""
    con.register("row_ids", pd.DataFrame({ID_COLUMN: np.asarray(ids, dtype=np.int64)}))
    cols = ", ".join(f'"{c}"' for c in columns)
    frame = con.execute(
        f"SELECT {ID_COLUMN}, {cols} FROM {FEATURES_TABLE} WHERE {ID_COLUMN} IN (SELECT {ID_COLUMN} FROM row_ids)"
    ).df()
    return frame.set_index(ID_COLUMN).loc[ids].reset_index(drop=True)


def _shap_top_features(champion: Model, frame: pd.DataFrame, n: int) -> list[str]:
    """The champion's n most important features over `frame`: mean |SHAP| (TreeSHAP), largest first."""
    contributions = np.asarray(champion.booster.predict(champion.matrix(frame), pred_contrib=True))[:, :-1]
    order = np.argsort(-np.abs(contributions).mean(axis=0), kind="stable")
    return [champion.features[i] for i in order[:n]]


def _evidently(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings, run_id: int, scope: str, night: date | None
) -> tuple[list[FeatureDrift], Path]:
    """Run evidently's data drift preset, save its HTML report and return its per-column verdicts.

    evidently's legacy Report API: its DataDriftPreset computes each column's test once and renders the
    dataset summary and drift table when the HTML is written. The 0.7 preset of the new API computes every
    test three times and draws per-column figures its report never shows (3x the time, same verdicts).
    """
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.report import Report

    usable = [c for c in reference.columns if reference[c].notna().any() and current[c].notna().any()]
    report = Report(metrics=[DataDriftPreset(drift_share=settings.drift_share_threshold)])
    report.run(current_data=current[usable], reference_data=reference[usable])
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / f"drift_run{run_id}_{scope}{'_' + night.isoformat() if night else ''}.html"
    report.save_html(str(path))
    return _verdicts(report.as_dict(), usable), path


def _verdicts(report: dict, columns: list[str]) -> list[FeatureDrift]:
    """Per-column method, score, threshold and verdict from an evidently legacy report dictionary."""
    table = next(m["result"] for m in report["metrics"] if m["metric"] == "DataDriftTable")["drift_by_columns"]
    return [
        FeatureDrift(
            name,
            str(table[name]["stattest_name"]),
            float(table[name]["drift_score"]),
            float(table[name]["stattest_threshold"]),
            bool(table[name]["drift_detected"]),
        )
        for name in columns
    ]


def _with_alerts(result: DriftResult, settings: Settings) -> DriftResult:
    """The result with an alert for each threshold it exceeds."""
    alerts = []
    drifted = [c.feature for c in result.features if c.drifted]
    if result.drift_share > settings.drift_share_threshold:
        alerts.append(
            Alert(
                "drift_share",
                result.drift_share,
                settings.drift_share_threshold,
                f"{len(drifted)} of {len(result.features)} top features drifted "
                f"({result.drift_share:.0%} > {settings.drift_share_threshold:.0%}): " + ", ".join(drifted),
            )
        )
    if result.score_psi > settings.score_psi_threshold:
        alerts.append(
            Alert(
                "score_psi",
                result.score_psi,
                settings.score_psi_threshold,
                f"score PSI {result.score_psi:.3f} > {settings.score_psi_threshold}: predicted "
                f"default probabilities unlike those of the {result.score_reference}",
            )
        )
    shifted = sorted(
        (
            (value, name)
            for name, value in result.psi.items()
            if name != SCORE_COLUMN and value > settings.feature_psi_threshold
        ),
        reverse=True,
    )
    if shifted:
        listed = ", ".join(f"{name} {value:.3f}" for value, name in shifted)
        alerts.append(
            Alert(
                "feature_psi",
                shifted[0][0],
                settings.feature_psi_threshold,
                f"{len(shifted)} top feature(s) in the 'act' PSI band (> {settings.feature_psi_threshold}): {listed}",
            )
        )
    return DriftResult(**{**result.__dict__, "alerts": alerts})


def store(settings: Settings, result: DriftResult, night: date | None) -> None:
    """Write a drift result to the monitoring tables, replacing any earlier rows of the same run."""
    with open_warehouse(settings.warehouse_path) as con:
        for table in TABLES:
            table.create(con)
        con.execute("BEGIN")
        for table in TABLES:
            con.execute(f"DELETE FROM {table.qualified} WHERE run_id = ?", [result.run_id])
        con.execute(
            "INSERT INTO monitoring.drift_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                result.run_id,
                utc_now(),
                result.scope,
                night,
                result.reference_rows,
                result.current_rows,
                len(result.features),
                sum(c.drifted for c in result.features),
                result.drift_share,
                result.score_psi,
                result.score_reference,
                str(result.report_path),
            ],
        )
        con.executemany(
            "INSERT INTO monitoring.feature_drift VALUES (?, ?, ?, ?, ?, ?)",
            [[result.run_id, c.feature, c.method, c.score, c.threshold, c.drifted] for c in result.columns],
        )
        con.executemany(
            "INSERT INTO monitoring.psi VALUES (?, ?, ?, ?)",
            [[result.run_id, name, value, psi_band(value)] for name, value in result.psi.items()],
        )
        if result.alerts:
            con.executemany(
                "INSERT INTO monitoring.alerts VALUES (?, ?, ?, ?, ?)",
                [[result.run_id, a.kind, a.value, a.threshold, a.message] for a in result.alerts],
            )
        con.execute("COMMIT")
