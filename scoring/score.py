"""Batch scoring: the champion model's probabilities, decisions and exact SHAP reasons, written as tables.

One run is one transaction in the working warehouse: its row in scores.runs is committed as 'running' first
(so a crash stays visible), then predictions, explanations, latest decisions and population statistics are
written together with the 'succeeded' status, or not at all. The results are then published to the read-only
serving database (scoring.publish).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from rich.table import Table

from scoring import score_tables as st
from scoring.changer import CreditSearch
from scoring.points import PointsScale
from scoring.publish import publish
from scoring.reasons import write_reasons
from scoring.registry import Model, NoChallengerError, NoChampionError, load_challenger, load_champion
from scoring.reviews import apply_reviews
from warehouse.clock import utc_now
from warehouse.database import open_warehouse
from warehouse.features import DATASET_COLUMN, FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings
from warehouse.vocabulary import UnknownFeature, band_sql, catalogue, feature_codes, feature_source

SCORED_DATASET = "test"
"""Clients scored: the applications whose outcome is unknown (the test file and every nightly batch)."""
CHUNK_ROWS = 8192
TOP_FEATURES = 20
"""Number of most important features whose population quantiles are published."""
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
MODES = ("new", "all")

Checkpoint = Callable[[str], None]
"""Called with the name of each stage a run reaches (tests pause or kill the process there)."""
Progress = Callable[[int, int], None]
"""Called with (clients done, clients to score) after each chunk."""


class ScoringError(RuntimeError):
    """Scoring cannot run: no champion, or a feature store that does not match the model."""


@dataclass
class ScoreSummary:
    """What a scoring run did and how fast."""

    run_id: int
    mode: str
    model_name: str
    model_version: int
    threshold: float
    clients_scored: int = 0
    accepted: int = 0
    refused: int = 0
    proba_seconds: float = 0.0
    shap_seconds: float = 0.0
    proba_cpu_seconds: float = 0.0
    """CPU time of all threads (a fair measure on a busy machine: wall time on idle cores = CPU / cores)."""
    shap_cpu_seconds: float = 0.0
    changer_seconds: float = 0.0
    """Time searching the largest accepted credit of the refused clients."""
    reasons_seconds: float = 0.0
    """Time summing contributions per reason code and wording the reasons."""
    write_seconds: float = 0.0
    publish_seconds: float = 0.0
    total_seconds: float = 0.0
    challenger_version: int | None = None
    """The challenger scored in shadow on the same clients (None: no challenger)."""
    challenger_refused: int = 0
    """Clients the challenger would have refused."""
    shadow_note: str = ""
    """Why a registered challenger was not scored, if it was not."""

    def rate(self, seconds: float) -> float:
        """Clients per second for a stage that took `seconds`."""
        return self.clients_scored / seconds if seconds > 0 else float("nan")

    def as_table(self) -> Table:
        """A rich table for the CLI."""
        table = Table(title=f"Scoring run {self.run_id} ({self.mode})", show_header=False)
        rows = [
            ("model", f"{self.model_name} v{self.model_version}, threshold {self.threshold:.4f}"),
            ("clients scored", f"{self.clients_scored:,}"),
            ("accepted / refused", f"{self.accepted:,} / {self.refused:,}"),
            ("probabilities", f"{self.proba_seconds:.2f} s ({self.rate(self.proba_seconds):,.0f} clients/s)"),
            (
                "SHAP explanations",
                f"{self.shap_seconds:.2f} s ({self.rate(self.shap_seconds):,.0f} clients/s)",
            ),
            ("decision changer (refusals)", f"{self.changer_seconds:.2f} s"),
            ("principal reasons", f"{self.reasons_seconds:.2f} s"),
            ("writing tables", f"{self.write_seconds:.2f} s"),
            ("challenger (shadow, never decides)", self._shadow_text()),
            ("publishing", f"{self.publish_seconds:.2f} s"),
            ("total", f"{self.total_seconds:.2f} s"),
        ]
        for name, value in rows:
            table.add_row(name, value)
        return table

    def _shadow_text(self) -> str:
        """What the challenger did in this run, in words."""
        if self.challenger_version is None:
            return self.shadow_note or "none registered"
        return f"v{self.challenger_version}: would have refused {self.challenger_refused:,} of {self.clients_scored:,}"


def score(
    settings: Settings,
    *,
    mode: str = "new",
    model: Model | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    publish_results: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    shadow: bool = True,
) -> ScoreSummary:
    """Score the clients selected by `mode` ('new' or 'all') with the champion (or `model`), then publish; with
    `shadow`, the challenger (if one is registered) scores the same clients beside it, without deciding."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    started = time.perf_counter()
    model = model or _champion(settings)
    stage = checkpoint or (lambda name: None)
    with _connect_warehouse(settings) as con:
        _check_feature_store(con, settings, model)
        st.create_tables(con, _hash_type(con))
        _fail_interrupted_runs(con)
        summary = _start_run(con, model, mode)
        challenger = _challenger(con, settings, model, summary) if shadow else None
        stage("run_started")
        try:
            con.begin()
            _run(con, settings, (model, challenger), summary, progress, stage, chunk_rows)
            _finish_run(con, summary)
            stage("before_commit")
            con.commit()
        except BaseException as error:
            con.rollback()
            _finish_run(con, summary, error=error)
            raise
    stage("committed")
    if publish_results:
        summary.publish_seconds = publish(settings, checkpoint=checkpoint).seconds
    summary.total_seconds = time.perf_counter() - started
    return summary


def _champion(settings: Settings) -> Model:
    """The registered champion, or ScoringError saying how to get one."""
    try:
        return load_champion(settings)
    except NoChampionError as error:
        raise ScoringError(str(error)) from error


def _challenger(
    con: duckdb.DuckDBPyConnection, settings: Settings, champion: Model, summary: ScoreSummary
) -> Model | None:
    """The challenger to score in shadow: None when none is registered, it is the champion, or the feature store
    lacks its features (noted in the summary: the champion's scoring never depends on the challenger)."""
    try:
        challenger = load_challenger(settings)
    except NoChallengerError:
        return None
    if challenger.version == champion.version:
        summary.shadow_note = f"v{challenger.version} is also the champion: nothing to compare"
        return None
    try:
        _check_feature_store(con, settings, challenger)
    except ScoringError as error:
        summary.shadow_note = f"v{challenger.version} not scored: {error}"
        return None
    summary.challenger_version = challenger.version
    return challenger


def _connect_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The working warehouse, opened for writing, or a clear error when it is missing or busy."""
    path = settings.warehouse_path
    if not path.is_file():
        raise ScoringError(f"No warehouse at {path}: run `credit-scoring ingest` and `build` first.")
    return open_warehouse(path, ScoringError)


def _run(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    models: tuple[Model, Model | None],
    summary: ScoreSummary,
    progress: Progress | None,
    stage: Checkpoint,
    chunk_rows: int,
) -> None:
    """Score, explain and write every selected client (and score them with the challenger, if any), then refresh
    latest decisions and statistics."""
    model, challenger = models
    _store_catalogue(con, model.features)
    _store_model_card(con, settings, model)
    clients = _select_clients(con, model, summary.mode)
    total = clients.num_rows
    scored_at = utc_now()
    scale = PointsScale.from_settings(settings)
    search = CreditSearch.from_settings(model, settings)
    for start in range(0, total, chunk_rows):
        chunk = clients.slice(start, chunk_rows)
        _score_chunk(con, model, summary, chunk, scored_at, scale, search)
        if challenger is not None:
            _score_shadow(con, challenger, summary, chunk.column(ID_COLUMN), scored_at, scale)
        stage("chunk_written")
        if progress:
            progress(min(start + chunk_rows, total), total)
    if total:
        tick = time.perf_counter()
        write_reasons(con, summary.run_id, settings.max_reasons, scale)
        summary.reasons_seconds = time.perf_counter() - tick
        write = time.perf_counter()
        _refresh_latest(con, summary.run_id)
        apply_reviews(con)
        _prune_explanations(con, settings.explanation_retention_days)
        _refresh_statistics(con, model.version, scale)
        summary.write_seconds += time.perf_counter() - write
    elif progress:
        progress(0, 0)


def _store_catalogue(con: duckdb.DuckDBPyConnection, features: list[str]) -> None:
    """Write the reason code of every model feature and the catalogue itself (ScoringError: a feature no code
    explains)."""
    try:
        codes = feature_codes(features)
    except UnknownFeature as error:
        raise ScoringError(str(error)) from error
    _replace_if_changed(
        con,
        st.FEATURE_CODES,
        [{"feature": f, "code": c, "source": feature_source(f)} for f, c in codes.items()],
        "list_contains($features, feature)",
        {"features": features},
    )
    counts = {code: list(codes.values()).count(code) for code in catalogue()}
    _replace_if_changed(
        con,
        st.REASON_CODES,
        [
            {
                "code": c.code,
                "theme": c.theme,
                "title": c.title,
                "client_template": c.client_template,
                "manager_template": c.manager_template,
                "key_feature": c.key_feature or None,
                "key_unit": c.key_unit or None,
                "features": counts[c.code],
            }
            for c in catalogue().values()
        ],
    )


def _replace_if_changed(
    con: duckdb.DuckDBPyConnection,
    table: st.TableDoc,
    rows: list[dict[str, Any]],
    where: str = "true",
    params: dict[str, Any] | None = None,
) -> None:
    """Make the rows of `table` selected by `where` exactly `rows`, writing nothing when they already are.

    Rewriting an unchanged table in the run's transaction cost every night seconds: DuckDB then planned the
    statistics' join of the explanations with the feature codes five times slower (7 s instead of 1.3 s)."""
    names = table.column_names
    stored = con.execute(f"SELECT {', '.join(names)} FROM {table.qualified} WHERE {where}", params).fetchall()
    if Counter(stored) == Counter(tuple(row[n] for n in names) for row in rows):
        return
    con.execute(f"DELETE FROM {table.qualified} WHERE {where}", params)
    _insert(con, table, pa.Table.from_pylist(rows))


def _store_model_card(con: duckdb.DuckDBPyConnection, settings: Settings, model: Model) -> None:
    """Write (or refresh) the model version's card."""
    card = model.card(settings)
    con.execute(
        f"DELETE FROM {st.MODEL_CARD.qualified} WHERE model_name = $name AND model_version = $version",
        {"name": model.name, "version": model.version},
    )
    _insert(con, st.MODEL_CARD, pa.Table.from_pylist([{name: card.get(name) for name, _, _ in st.MODEL_CARD.columns}]))


def _select_clients(con: duckdb.DuckDBPyConnection, model: Model, mode: str) -> pa.Table:
    """Ids, feature hashes and features (as DOUBLE, model order) of the clients to score, in id order."""
    columns = ", ".join(f'CAST(f."{name}" AS DOUBLE) AS "{name}"' for name in model.features)
    unscored = f"""
        AND NOT EXISTS (
            SELECT 1 FROM {st.PREDICTIONS.qualified} AS p JOIN {st.RUNS.qualified} AS r USING (run_id)
            WHERE r.status = 'succeeded' AND r.model_name = $name AND p.model_version = $version
              AND p.SK_ID_CURR = f.{ID_COLUMN} AND p.FEATURE_HASH = f.{FEATURE_HASH_COLUMN})"""
    sql = f"""
        SELECT f.{ID_COLUMN}, f.{FEATURE_HASH_COLUMN}, {columns}
        FROM {FEATURES_TABLE} AS f
        WHERE f.{DATASET_COLUMN} = '{SCORED_DATASET}' {unscored if mode == "new" else ""}
        ORDER BY f.{ID_COLUMN}"""
    params = {"name": model.name, "version": model.version} if mode == "new" else {}
    return con.sql(sql, params=params).to_arrow_table()


def _score_chunk(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    summary: ScoreSummary,
    chunk: pa.Table,
    scored_at: datetime,
    scale: PointsScale,
    search: CreditSearch,
) -> None:
    """Predict, explain and insert one chunk of clients."""
    ids = chunk.column(ID_COLUMN).to_numpy()
    X = np.column_stack([chunk.column(name).to_numpy(zero_copy_only=False) for name in model.features])
    check_finite(X, ids, model.features)

    tick, cpu = time.perf_counter(), time.process_time()
    probability = model.probability(X)
    summary.proba_seconds += time.perf_counter() - tick
    summary.proba_cpu_seconds += time.process_time() - cpu
    tick, cpu = time.perf_counter(), time.process_time()
    contributions = shap_contributions(model, X)
    summary.shap_seconds += time.perf_counter() - tick
    summary.shap_cpu_seconds += time.process_time() - cpu

    refused = probability >= model.threshold
    tick = time.perf_counter()
    _insert_alternatives(con, summary.run_id, ids[refused], X[refused], search)
    summary.changer_seconds += time.perf_counter() - tick

    tick = time.perf_counter()
    scores = Scores(ids, chunk.column(FEATURE_HASH_COLUMN), probability, contributions)
    _insert(con, st.PREDICTIONS, prediction_rows(model, summary.run_id, scores, scored_at, scale))
    _insert(con, st.EXPLANATIONS, explanation_rows(model, summary.run_id, scores, X))
    summary.clients_scored += len(ids)
    summary.refused += int(refused.sum())
    summary.accepted += int((~refused).sum())
    summary.write_seconds += time.perf_counter() - tick


@dataclass(frozen=True)
class Scores:
    """One batch of clients scored by a model: ids, feature hashes, probabilities and exact SHAP contributions."""

    ids: np.ndarray
    hashes: pa.Array | pa.ChunkedArray
    probability: np.ndarray
    contributions: np.ndarray
    """LightGBM's pred_contrib: a column per model feature, then the booster's expected raw score."""


def shap_contributions(model: Model, X: np.ndarray) -> np.ndarray:
    """Exact TreeSHAP contributions (log-odds) of every feature to each row's raw score, then the expected score."""
    return np.asarray(model.booster.predict(X, pred_contrib=True))


def prediction_rows(model: Model, run_id: int, scores: Scores, scored_at: datetime, scale: PointsScale) -> pa.Table:
    """The rows of scores.predictions for a scored batch (decision, raw score, base value, points)."""
    n = len(scores.ids)
    raw_score = scores.contributions.sum(axis=1) - model.log_odds_offset
    return pa.table(
        {
            "run_id": np.full(n, run_id, dtype=np.int64),
            "SK_ID_CURR": scores.ids,
            "model_version": np.full(n, model.version, dtype=np.int64),
            "probability": scores.probability,
            "decision": np.where(scores.probability >= model.threshold, "refuse", "accept"),
            "threshold": np.full(n, model.threshold),
            "FEATURE_HASH": scores.hashes,
            "base_value": scores.contributions[:, -1] - model.log_odds_offset,
            "raw_score": raw_score,
            "scored_at": pa.array([scored_at] * n, pa.timestamp("us")),
            "points": scale.points(raw_score),
        }
    )


def explanation_rows(model: Model, run_id: int, scores: Scores, X: np.ndarray) -> pa.Table:
    """The rows of scores.explanations for a scored batch: the features the model uses, ranked per client."""
    used = model.used_features()
    return explanations_table(
        run_id, scores.ids, X[:, used], scores.contributions[:, used], [model.features[i] for i in used]
    )


def _score_shadow(
    con: duckdb.DuckDBPyConnection,
    challenger: Model,
    summary: ScoreSummary,
    ids: pa.ChunkedArray,
    scored_at: datetime,
    scale: PointsScale,
) -> None:
    """Score the champion's clients of a chunk with the challenger (its own features) into the shadow table."""
    columns = ", ".join(f'CAST(f."{name}" AS DOUBLE) AS "{name}"' for name in challenger.features)
    con.register("_shadow_ids", pa.table({ID_COLUMN: ids}))
    try:
        rows = con.sql(
            f"SELECT f.{ID_COLUMN}, f.{FEATURE_HASH_COLUMN}, {columns} FROM {FEATURES_TABLE} AS f "
            f"SEMI JOIN _shadow_ids USING ({ID_COLUMN}) ORDER BY f.{ID_COLUMN}"
        ).to_arrow_table()
    finally:
        con.unregister("_shadow_ids")
    X = np.column_stack([rows.column(name).to_numpy(zero_copy_only=False) for name in challenger.features])
    check_finite(X, rows.column(ID_COLUMN).to_numpy(), challenger.features)
    probability = challenger.probability(X)
    refused = probability >= challenger.threshold
    _insert(
        con,
        st.CHALLENGER_PREDICTIONS,
        pa.table(
            {
                "run_id": np.full(len(probability), summary.run_id, dtype=np.int64),
                "SK_ID_CURR": rows.column(ID_COLUMN),
                "model_version": np.full(len(probability), challenger.version, dtype=np.int64),
                "probability": probability,
                "decision": np.where(refused, "refuse", "accept"),
                "threshold": np.full(len(probability), challenger.threshold),
                "FEATURE_HASH": rows.column(FEATURE_HASH_COLUMN),
                "scored_at": pa.array([scored_at] * len(probability), pa.timestamp("us")),
                "points": scale.of_probability(probability),
            }
        ),
    )
    summary.challenger_refused += int(refused.sum())


def _insert_alternatives(
    con: duckdb.DuckDBPyConnection, run_id: int, ids: np.ndarray, X: np.ndarray, search: CreditSearch
) -> None:
    """Search and store what would change each refusal of a chunk."""
    rows = [
        {
            "run_id": run_id,
            "SK_ID_CURR": int(client),
            "requested_credit": found.requested,
            "lowest_searched": found.lowest,
            "step": search.step,
            "largest_accepted_credit": found.amount,
            "instalment": found.instalment,
            "probability": found.probability,
            "sentence": found.sentence(),
        }
        for client, found in zip(ids, search.search(X), strict=True)
        if found is not None
    ]
    if rows:
        _insert(con, st.CREDIT_ALTERNATIVES, pa.Table.from_pylist(rows))


def _insert(con: duckdb.DuckDBPyConnection, table: st.TableDoc, rows: pa.Table) -> None:
    """Append an Arrow table whose columns are named like those of `table` (matched by name)."""
    con.register("_rows", rows)
    try:
        con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def explanations_table(
    run_id: int, ids: np.ndarray, X: np.ndarray, contributions: np.ndarray, features: list[str]
) -> pa.Table:
    """Long-format explanations (a row per client and feature), each feature ranked by |contribution|."""
    n, p = contributions.shape
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")
    rank = np.empty((n, p), dtype=np.int32)
    np.put_along_axis(rank, order, np.arange(1, p + 1, dtype=np.int32)[None, :].repeat(n, axis=0), axis=1)
    feature_index = pa.array(np.tile(np.arange(p, dtype=np.int32), n))
    return pa.table(
        {
            "run_id": np.full(n * p, run_id, dtype=np.int64),
            "SK_ID_CURR": np.repeat(ids, p),
            "feature": pa.DictionaryArray.from_arrays(feature_index, pa.array(features)),
            "value": pa.array(X.ravel(), from_pandas=True),  # NaN (missing) becomes NULL
            "contribution": contributions.ravel(),
            "rank": rank.ravel(),
        }
    )


def _refresh_latest(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Replace the latest decision, points, band, principal reasons and decision changer of the run's clients."""
    con.execute(
        f"DELETE FROM {st.LATEST.qualified} WHERE SK_ID_CURR IN "
        f"(SELECT SK_ID_CURR FROM {st.PREDICTIONS.qualified} WHERE run_id = $run)",
        {"run": run_id},
    )
    reasons = ", ".join(f"max(sentence) FILTER (WHERE rank = {i}) AS reason_{i}" for i in (1, 2, 3, 4))
    con.execute(
        f"""
        INSERT INTO {st.LATEST.qualified} BY NAME
        WITH reasons AS (
            SELECT SK_ID_CURR, {reasons}, list(code ORDER BY rank) AS reason_codes
            FROM {st.REASONS.qualified} WHERE run_id = $run GROUP BY SK_ID_CURR
        )
        SELECT p.SK_ID_CURR, p.run_id, p.model_version, p.probability, p.decision, p.threshold, p.FEATURE_HASH,
               p.scored_at, p.points, {band_sql("p.points")} AS score_band,
               r.* EXCLUDE (SK_ID_CURR),
               a.largest_accepted_credit, a.sentence AS decision_changer
        FROM {st.PREDICTIONS.qualified} AS p
        LEFT JOIN reasons AS r USING (SK_ID_CURR)
        LEFT JOIN {st.CREDIT_ALTERNATIVES.qualified} AS a ON a.run_id = p.run_id AND a.SK_ID_CURR = p.SK_ID_CURR
        WHERE p.run_id = $run""",
        {"run": run_id},
    )


def _prune_explanations(con: duckdb.DuckDBPyConnection, retention_days: int) -> None:
    """Delete the explanations of runs older than the retention, except those of clients' latest scores."""
    con.execute(
        f"""
        DELETE FROM {st.EXPLANATIONS.qualified} AS e
        WHERE e.run_id IN (SELECT run_id FROM {st.RUNS.qualified}
                           WHERE started_at < $now - to_days(CAST($days AS INTEGER)))
          AND NOT EXISTS (SELECT 1 FROM {st.LATEST.qualified} AS l
                          WHERE l.run_id = e.run_id AND l.SK_ID_CURR = e.SK_ID_CURR)""",
        {"now": utc_now(), "days": retention_days},
    )


def _refresh_statistics(con: duckdb.DuckDBPyConnection, version: int, scale: PointsScale) -> None:
    """Recompute global importance (per feature and per reason code) of the model version and the quantiles of
    its top features."""
    con.execute(f"DELETE FROM {st.CODE_IMPORTANCE.qualified} WHERE model_version = $v", {"v": version})
    con.execute(
        f"""
        INSERT INTO {st.CODE_IMPORTANCE.qualified}
        WITH per_client AS (
            SELECT e.SK_ID_CURR, c.code, sum(e.contribution) AS contribution
            FROM ({st.latest_explanations_sql()}) AS e
            JOIN {st.LATEST.qualified} AS l USING (SK_ID_CURR)
            JOIN {st.FEATURE_CODES.qualified} AS c USING (feature)
            WHERE l.model_version = $v GROUP BY ALL
        )
        SELECT $v, code, {scale.factor} * avg(abs(contribution)), avg(CASE WHEN contribution > 0 THEN 1.0 ELSE 0.0 END),
               CAST(row_number() OVER (ORDER BY avg(abs(contribution)) DESC, code) AS INTEGER), count(*)
        FROM per_client GROUP BY code""",
        {"v": version},
    )
    con.execute(f"DELETE FROM {st.GLOBAL_IMPORTANCE.qualified} WHERE model_version = $v", {"v": version})
    con.execute(
        f"""
        INSERT INTO {st.GLOBAL_IMPORTANCE.qualified}
        SELECT $v, feature, mean_abs_shap, mean_shap,
               CAST(row_number() OVER (ORDER BY mean_abs_shap DESC, feature) AS INTEGER), clients
        FROM (SELECT e.feature, avg(abs(e.contribution)) AS mean_abs_shap, avg(e.contribution) AS mean_shap,
                     count(*) AS clients
              FROM ({st.latest_explanations_sql()}) AS e JOIN {st.LATEST.qualified} AS l USING (SK_ID_CURR)
              WHERE l.model_version = $v
              GROUP BY e.feature)""",
        {"v": version},
    )
    levels = ", ".join(str(q) for q in QUANTILES)
    con.execute(f"DELETE FROM {st.FEATURE_QUANTILES.qualified}")
    con.execute(
        f"""
        INSERT INTO {st.FEATURE_QUANTILES.qualified}
        WITH top AS (
            SELECT feature FROM {st.GLOBAL_IMPORTANCE.qualified}
            WHERE model_version = $v AND rank <= {TOP_FEATURES}
        ), feature_values AS (
            SELECT e.feature, e.value, l.decision
            FROM ({st.latest_explanations_sql()}) AS e JOIN {st.LATEST.qualified} AS l USING (SK_ID_CURR)
            WHERE e.feature IN (SELECT feature FROM top)
        ), populations AS (
            SELECT feature, 'all' AS population, value FROM feature_values
            UNION ALL
            SELECT feature, CASE decision WHEN 'accept' THEN 'accepted' ELSE 'refused' END, value
            FROM feature_values
        )
        SELECT $v, feature, population, unnest([{levels}]) AS quantile,
               unnest(quantile_cont(value, [{levels}])) AS value
        FROM populations GROUP BY feature, population""",
        {"v": version},
    )


def _check_feature_store(con: duckdb.DuckDBPyConnection, settings: Settings, model: Model) -> None:
    """Fail clearly when client_features is missing or lacks features the model needs."""
    try:
        columns = {row[0] for row in con.execute(f"DESCRIBE {FEATURES_TABLE}").fetchall()}
    except duckdb.CatalogException as error:
        raise ScoringError(
            f"{settings.warehouse_path}: {FEATURES_TABLE} does not exist; run `credit-scoring build` first."
        ) from error
    missing = [name for name in model.features if name not in columns]
    if missing:
        raise ScoringError(
            f"{settings.warehouse_path}: {FEATURES_TABLE} lacks {len(missing)} feature(s) that model "
            f"{model.name} v{model.version} was trained on: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. Rebuild the feature store or retrain."
        )


def check_finite(X: np.ndarray, ids: np.ndarray, features: list[str]) -> None:
    """Reject infinite feature values, naming the columns and clients."""
    infinite = np.isinf(X)
    if infinite.any():
        details = "; ".join(
            f"{features[c]} (SK_ID_CURR {ids[infinite[:, c]][:3].tolist()})"
            for c in np.flatnonzero(infinite.any(axis=0))[:5]
        )
        raise ScoringError(f"{FEATURES_TABLE} has infinite values: {details}.")


def _hash_type(con: duckdb.DuckDBPyConnection) -> str:
    """DuckDB type of client_features.FEATURE_HASH."""
    (kind,) = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE schema_name = $s AND table_name = $t AND column_name = $c",
        dict(zip("stc", (*FEATURES_TABLE.split("."), FEATURE_HASH_COLUMN), strict=True)),
    ).fetchall()[0]
    return kind


def _fail_interrupted_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Mark runs left 'running' by a killed process as failed (we hold the only write connection)."""
    con.execute(
        f"UPDATE {st.RUNS.qualified} SET status = 'failed', finished_at = $now, "
        "error = 'interrupted: the scoring process stopped before committing' WHERE status = 'running'",
        {"now": utc_now()},
    )


def _start_run(con: duckdb.DuckDBPyConnection, model: Model, mode: str) -> ScoreSummary:
    """Record a new run as 'running' (committed at once, so an interrupted run stays visible)."""
    (run_id,) = con.execute(f"SELECT coalesce(max(run_id), 0) + 1 FROM {st.RUNS.qualified}").fetchall()[0]
    con.execute(
        f"INSERT INTO {st.RUNS.qualified} (run_id, model_name, model_version, model_run_id, threshold, mode, "
        "started_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
        [run_id, model.name, model.version, model.run_id, model.threshold, mode, utc_now()],
    )
    return ScoreSummary(
        run_id=run_id,
        mode=mode,
        model_name=model.name,
        model_version=model.version,
        threshold=model.threshold,
    )


def _finish_run(con: duckdb.DuckDBPyConnection, summary: ScoreSummary, error: BaseException | None = None) -> None:
    """Record the run's outcome and counts."""
    con.execute(
        f"UPDATE {st.RUNS.qualified} SET status = $status, finished_at = $now, clients_scored = $n, "
        "accepted = $accepted, refused = $refused, error = $error WHERE run_id = $run",
        {
            "status": "failed" if error else "succeeded",
            "now": utc_now(),
            "run": summary.run_id,
            "n": 0 if error else summary.clients_scored,
            "accepted": 0 if error else summary.accepted,
            "refused": 0 if error else summary.refused,
            "error": f"{type(error).__name__}: {error}" if error else None,
        },
    )
