"""Every query the dashboard makes, against the published read-only serving database.

Table and column names live here only. Results are cached per serving-file version (path, inode, mtime, size),
so a new publication (an atomic file replacement) shows up on the next page view, and each query opens a
short-lived read-only connection: the dashboard never holds the file and never blocks the nightly run.

A cached result is stored only under the version its own connection read. Each connection opens the file
afresh (attached to a private in-memory database: DuckDB would otherwise hand back a database instance that
another session still holds open, i.e. the previous publication), and the version is checked again once the
file is open: a query that overlapped a swap is not cached, and runs again on the new version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from notices.letters import Notice, load_notice
from scoring.serving import SERVING, ServingUnreadable, read_publication
from warehouse.features import DATASET_COLUMN, FEATURES_TABLE, ID_COLUMN, NON_FEATURE_COLUMNS, TARGET_COLUMN
from warehouse.settings import Settings

RUNS = "scores.runs"
PREDICTIONS = "scores.predictions"
EXPLANATIONS = "scores.explanations"
LATEST = "scores.latest"
IMPORTANCE = "scores.global_importance"
MODEL_CARD = "scores.model_card"
BASE_VALUES = "scores.base_values"
REASONS = "scores.reasons"
ALTERNATIVES = "scores.credit_alternatives"
FEATURE_CODES = "scores.feature_codes"
REASON_CODES = "scores.reason_codes"
CODE_IMPORTANCE = "scores.code_importance"
FAIRNESS = "monitoring.fairness"
PROFILE = "features.client_profile"
JOB_RUNS = "ops.job_runs"
DRIFT = "monitoring.feature_drift"
PSI = "monitoring.psi"
ALERTS = "monitoring.alerts"
DRIFT_REPORTS = "monitoring.drift_reports"
PERFORMANCE = "monitoring.performance"

T = TypeVar("T")


class ServingUnavailable(RuntimeError):
    """No serving database has been published yet (or it cannot be read)."""


@dataclass(frozen=True)
class Serving:
    """One published version of the serving file: what cached queries are keyed on."""

    path: str
    inode: int
    mtime_ns: int
    size: int


class _Swapped(RuntimeError):
    """The serving file was replaced while a query opened it (not cached: the caller asks again)."""


ATTEMPTS = 5


def serving(settings: Settings) -> Serving:
    """The serving file's current version; ServingUnavailable with what to run when there is none."""
    return _version(Path(settings.serving_path))


def _version(path: Path) -> Serving:
    """The version of the file at a path now."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ServingUnavailable(
            f"No scores have been published yet ({path} does not exist). Run `credit-scoring score` "
            "(or `make demo`) to score clients and publish the serving database."
        ) from None
    return Serving(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


@contextmanager
def connect(path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the serving file as it is now (the ONE place that opens it)."""
    try:
        with read_publication(path) as con:
            yield con
    except ServingUnreadable as error:
        raise ServingUnavailable(str(error)) from error


@st.cache_data(show_spinner=False, max_entries=512)
def _query(version: Serving, sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run one read-only query on one serving version (cached: a new publication gets a new key).

    _Swapped (never cached) when the file opened is not that version any more."""
    with connect(version.path) as con:
        try:
            now: Serving | None = _version(Path(version.path))
        except ServingUnavailable:
            now = None
        if now != version:
            raise _Swapped(version.path)
        return con.execute(sql, list(params)).df()


def _on_current(settings: Settings, cached: Callable[..., T], *args: object) -> T:
    """cached(version, *args) on the current serving version, asked again if a publication swapped it meanwhile."""
    for _ in range(ATTEMPTS):
        try:
            return cached(serving(settings), *args)
        except _Swapped:
            continue
    raise ServingUnavailable("The serving database is being replaced again and again; reload the page in a moment.")


def query(settings: Settings, sql: str, params: tuple = ()) -> pd.DataFrame:
    """The result of a SQL query on the current serving file."""
    return _on_current(settings, _query, sql, params)


CATALOG_SQL = (
    "SELECT schema_name || '.' || table_name AS t, column_name FROM duckdb_columns() "
    f"WHERE NOT internal AND database_name = '{SERVING}' ORDER BY t, column_index"
)


@st.cache_data(show_spinner=False, max_entries=8)
def _catalog_of(version: Serving) -> dict[str, list[str]]:
    """'schema.table' -> column names in order, for every table and view of one serving version."""
    df = _query(version, CATALOG_SQL)
    return {table: list(group["column_name"]) for table, group in df.groupby("t", sort=False)}


def _catalog(settings: Settings) -> dict[str, list[str]]:
    """The catalog of the current serving version."""
    return _on_current(settings, _catalog_of)


def tables(settings: Settings) -> set[str]:
    """Qualified names ('schema.table', views included) present in the serving file."""
    return set(_catalog(settings))


def has(settings: Settings, table: str) -> bool:
    """Whether a table is present in the serving file."""
    return table in tables(settings)


def columns(settings: Settings, table: str) -> list[str]:
    """Column names of a table, in order (empty when the table is absent)."""
    return _catalog(settings).get(table, [])


def feature_names(settings: Settings) -> list[str]:
    """The model features of the feature store (every client_features column that is not an id/label)."""
    return [c for c in columns(settings, FEATURES_TABLE) if c not in NON_FEATURE_COLUMNS]


def _checked_feature(settings: Settings, feature: str) -> str:
    """The feature name, quoted for SQL, after checking it is a real column (no injection through names)."""
    if feature not in feature_names(settings):
        raise KeyError(f"{feature!r} is not a feature of {FEATURES_TABLE}")
    return '"' + feature + '"'


# --- clients -------------------------------------------------------------------------------------------


def find_clients(settings: Settings, text: str = "", limit: int = 200) -> pd.DataFrame:
    """Clients whose id starts with `text` (id, decision or NULL when not scored), at most `limit`."""
    return query(
        settings,
        f"""
        SELECT f.{ID_COLUMN} AS client_id, l.decision
        FROM {FEATURES_TABLE} f LEFT JOIN {LATEST} l USING ({ID_COLUMN})
        WHERE CAST(f.{ID_COLUMN} AS VARCHAR) LIKE ? || '%'
        ORDER BY l.decision IS NULL, f.{ID_COLUMN} LIMIT ?""",
        (text.strip(), limit),
    )


def client_exists(settings: Settings, client_id: int) -> bool:
    """Whether the client is in the feature store."""
    return not query(settings, f"SELECT 1 FROM {FEATURES_TABLE} WHERE {ID_COLUMN} = ?", (client_id,)).empty


def client_decision(settings: Settings, client_id: int) -> dict | None:
    """The client's latest decision (scores.latest row: decision, probability, threshold, reasons...)."""
    df = query(settings, f"SELECT * FROM {LATEST} WHERE {ID_COLUMN} = ?", (client_id,))
    if df.empty:
        return None
    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in df.iloc[0].to_dict().items()}
    if "run_id" not in row:
        row["run_id"] = _latest_run_of(settings, client_id)
    return row


def _latest_run_of(settings: Settings, client_id: int) -> str | None:
    """The run that produced the client's latest prediction."""
    df = query(
        settings,
        f"SELECT run_id FROM {PREDICTIONS} WHERE {ID_COLUMN} = ? ORDER BY scored_at DESC LIMIT 1",
        (client_id,),
    )
    return None if df.empty else df["run_id"].iloc[0]


def client_reasons(settings: Settings, client_id: int, run_id: int) -> pd.DataFrame:
    """The principal reasons of a client's score (rank, code, title, direction, points, both sentences)."""
    if not has(settings, REASONS):
        return pd.DataFrame(columns=["rank", "code", "title", "direction", "points", "sentence", "manager_sentence"])
    return query(
        settings,
        f"""SELECT r.rank, r.code, coalesce(c.title, r.code) AS title, r.direction, r.points, r.sentence,
                   r.manager_sentence
            FROM {REASONS} AS r LEFT JOIN {REASON_CODES} AS c USING (code)
            WHERE r.{ID_COLUMN} = ? AND r.run_id = ? ORDER BY r.rank""",
        (client_id, run_id),
    )


def client_alternative(settings: Settings, client_id: int, run_id: int) -> dict | None:
    """What would change a refusal (scores.credit_alternatives row), None for an acceptance."""
    if not has(settings, ALTERNATIVES):
        return None
    df = query(settings, f"SELECT * FROM {ALTERNATIVES} WHERE {ID_COLUMN} = ? AND run_id = ?", (client_id, run_id))
    return None if df.empty else df.iloc[0].to_dict()


def client_code_contributions(settings: Settings, client_id: int, run_id: int) -> pd.DataFrame:
    """The client's SHAP contributions (log-odds) summed per reason code, largest first (code, title, contribution)."""
    return query(
        settings,
        f"""SELECT c.code, coalesce(rc.title, c.code) AS title, sum(e.contribution) AS contribution
            FROM {EXPLANATIONS} AS e JOIN {FEATURE_CODES} AS c USING (feature)
            LEFT JOIN {REASON_CODES} AS rc ON rc.code = c.code
            WHERE e.{ID_COLUMN} = ? AND e.run_id = ? GROUP BY ALL
            ORDER BY abs(sum(e.contribution)) DESC, c.code""",
        (client_id, run_id),
    )


def client_notice(settings: Settings, client_id: int) -> Notice | None:
    """The refusal notice of the client's latest decision (None when it is not a refusal)."""
    with connect(serving(settings).path) as con:
        return load_notice(con, settings, client_id)


def reason_codes(settings: Settings) -> pd.DataFrame:
    """The catalogue the scorer used (code, theme, title, templates, key feature, number of features)."""
    if not has(settings, REASON_CODES):
        return pd.DataFrame()
    return query(settings, f"SELECT * FROM {REASON_CODES} ORDER BY theme, code")


def code_importance(settings: Settings, model_version: str | None) -> pd.DataFrame:
    """Reason codes by mean absolute points moved, for a model version."""
    if not has(settings, CODE_IMPORTANCE):
        return pd.DataFrame()
    return query(
        settings,
        f"""SELECT i.code, coalesce(c.title, i.code) AS title, i.mean_abs_points, i.raised_share, i.rank
            FROM {CODE_IMPORTANCE} AS i LEFT JOIN {REASON_CODES} AS c USING (code)
            WHERE CAST(i.model_version AS VARCHAR) = ? OR ? IS NULL ORDER BY i.rank""",
        (model_version, model_version),
    )


def fairness(settings: Settings) -> pd.DataFrame:
    """The rows of the latest fairness check (every scope, attribute and group)."""
    if not has(settings, FAIRNESS):
        return pd.DataFrame()
    return query(
        settings,
        f"SELECT * FROM {FAIRNESS} WHERE check_id = (SELECT max(check_id) FROM {FAIRNESS}) ORDER BY scope, attribute, "
        '"group"',
    )


def band_summary(settings: Settings) -> pd.DataFrame:
    """Clients, decisions, mean predicted risk and known defaults per score band of the latest decisions (empty
    when the published scores have no bands yet)."""
    if "score_band" not in columns(settings, LATEST):
        return pd.DataFrame()
    return query(
        settings,
        f"""SELECT l.score_band, min(l.points) AS points_from, max(l.points) AS points_to, count(*) AS clients,
                   count(*) FILTER (l.decision = 'accept') AS accepted, avg(l.probability) AS mean_probability,
                   avg(f.{TARGET_COLUMN}) AS bad_rate, count(f.{TARGET_COLUMN}) AS with_outcome
            FROM {LATEST} AS l LEFT JOIN {FEATURES_TABLE} AS f USING ({ID_COLUMN})
            WHERE l.score_band IS NOT NULL GROUP BY l.score_band ORDER BY l.score_band""",
    )


def client_explanation(settings: Settings, client_id: int, run_id: str) -> pd.DataFrame:
    """Every feature's SHAP contribution (log-odds) and value for the client in that run, largest first."""
    return query(
        settings,
        f"""
        SELECT feature, value, contribution, rank FROM {EXPLANATIONS}
        WHERE {ID_COLUMN} = ? AND run_id = ? ORDER BY abs(contribution) DESC, feature""",
        (client_id, run_id),
    )


def client_base_value(settings: Settings, client_id: int, run_id: str) -> float | None:
    """The model's expected log-odds (SHAP base value) for the client's run, wherever the scorer put it."""
    for table in (PREDICTIONS, BASE_VALUES, EXPLANATIONS):
        if has(settings, table) and "base_value" in columns(settings, table):
            df = query(
                settings,
                f"SELECT base_value FROM {table} WHERE {ID_COLUMN} = ? AND run_id = ? LIMIT 1",
                (client_id, run_id),
            )
            if not df.empty and pd.notna(df["base_value"].iloc[0]):
                return float(df["base_value"].iloc[0])
    return None


def client_profile(settings: Settings, client_id: int, wanted: tuple[str, ...]) -> dict[str, object]:
    """Some application facts of the client (raw columns when published, else numeric ones from the features)."""
    for table in (PROFILE, FEATURES_TABLE):  # the lead publishes PROFILE; the fallback lacks the categories
        if not has(settings, table):
            continue
        present = [c for c in wanted if c in columns(settings, table)]
        if not present:
            continue
        cols = ", ".join(f'"{c}"' for c in present)
        df = query(settings, f"SELECT {cols} FROM {table} WHERE {ID_COLUMN} = ?", (client_id,))
        if not df.empty:
            return df.iloc[0].to_dict()
    return {}


def client_features(settings: Settings, client_id: int, features: list[str]) -> dict[str, Any]:
    """The client's values of some features."""
    cols = ", ".join(_checked_feature(settings, f) for f in features)
    df = query(settings, f"SELECT {cols} FROM {FEATURES_TABLE} WHERE {ID_COLUMN} = ?", (client_id,))
    return {} if df.empty else df.iloc[0].to_dict()


# --- population ----------------------------------------------------------------------------------------


def feature_distribution(settings: Settings, feature: str, bins: int = 30) -> pd.DataFrame:
    """Histogram of a feature among accepted and refused clients (share of each group per bin).

    Bins span the 1st to 99th percentile so a few extreme values do not squash the picture; the outer
    bins hold everything beyond.
    """
    col = _checked_feature(settings, feature)
    return query(
        settings,
        f"""
        WITH v AS (
            SELECT f.{col}::DOUBLE AS x, l.decision
            FROM {FEATURES_TABLE} f JOIN {LATEST} l USING ({ID_COLUMN})
            WHERE f.{col} IS NOT NULL AND isfinite(f.{col}::DOUBLE)),
        r AS (SELECT quantile_cont(x, 0.01) AS lo, quantile_cont(x, 0.99) AS hi FROM v),
        b AS (
            SELECT decision, CASE WHEN r.hi > r.lo
                THEN least(greatest(floor((x - r.lo) / (r.hi - r.lo) * ?), 0), ? - 1) ELSE 0 END AS bin,
                r.lo, r.hi FROM v, r)
        SELECT decision, bin, any_value(lo) + bin * (any_value(hi) - any_value(lo)) / ? AS bin_start,
               any_value(lo) + (bin + 1) * (any_value(hi) - any_value(lo)) / ? AS bin_end,
               count(*) AS clients,
               count(*) / sum(count(*)) OVER (PARTITION BY decision) AS share
        FROM b GROUP BY decision, bin ORDER BY decision, bin""",
        (bins, bins, bins, bins),
    )


def feature_percentiles(settings: Settings, feature: str, value: float) -> dict[str, tuple[float, float]]:
    """Shares of accepted, refused and all scored clients whose value is below and above the given one."""
    col = _checked_feature(settings, feature)
    df = query(
        settings,
        f"""
        SELECT decision, avg(CASE WHEN f.{col} < ? THEN 1.0 ELSE 0.0 END) AS below,
               avg(CASE WHEN f.{col} > ? THEN 1.0 ELSE 0.0 END) AS above
        FROM {FEATURES_TABLE} f JOIN {LATEST} l USING ({ID_COLUMN})
        WHERE f.{col} IS NOT NULL GROUP BY ROLLUP (decision)""",
        (value, value),
    )
    return {("all" if pd.isna(r.decision) else r.decision): (float(r.below), float(r.above)) for r in df.itertuples()}


def client_top_codes(settings: Settings, client_id: int, run_id: int) -> list[str]:
    """The reason codes that moved this client's score most, strongest first."""
    return list(client_code_contributions(settings, client_id, run_id)["code"])


# --- portfolio -----------------------------------------------------------------------------------------


def portfolio_summary(settings: Settings) -> dict[str, float]:
    """Clients scored, accepted, refused, approval rate and mean probability over latest decisions."""
    df = query(
        settings,
        f"""
        SELECT count(*) AS clients, count(*) FILTER (decision = 'accept') AS accepted,
               count(*) FILTER (decision = 'refuse') AS refused, avg(probability) AS mean_probability,
               max(scored_at) AS last_scored_at
        FROM {LATEST}""",
    )
    return df.iloc[0].to_dict()


def override_summary(settings: Settings) -> pd.DataFrame:
    """Human reviews of the latest decisions, per model decision: clients, reviewed, overridden (empty when the
    serving database predates reviews)."""
    if "overridden" not in columns(settings, LATEST):
        return pd.DataFrame()
    return query(
        settings,
        f"""
        SELECT decision, count(*) AS clients, count(reviewed_by) AS reviewed,
               count(*) FILTER (overridden) AS overridden
        FROM {LATEST} GROUP BY decision ORDER BY decision""",
    )


def overrides_by_reviewer(settings: Settings) -> pd.DataFrame:
    """Per reviewer: the latest decisions they reviewed and overrode (empty without reviews)."""
    if "overridden" not in columns(settings, LATEST):
        return pd.DataFrame()
    return query(
        settings,
        f"""
        SELECT reviewed_by AS reviewer, count(*) AS reviewed, count(*) FILTER (overridden) AS overridden
        FROM {LATEST} WHERE reviewed_by IS NOT NULL GROUP BY reviewed_by ORDER BY reviewed DESC, reviewer""",
    )


def score_histogram(settings: Settings, bins: int = 40) -> pd.DataFrame:
    """Number of clients per probability bin and decision (latest decisions)."""
    return query(
        settings,
        f"""
        SELECT decision, least(floor(probability * ?), ? - 1) / ? AS bin_start, count(*) AS clients
        FROM {LATEST} GROUP BY ALL ORDER BY bin_start""",
        (bins, bins, bins),
    )


def counts_per_run(settings: Settings) -> pd.DataFrame:
    """Clients accepted and refused by each successful scoring run, oldest first."""
    return query(
        settings,
        f"""
        SELECT r.run_id, coalesce(r.finished_at, r.started_at) AS night, r.model_version, p.decision,
               count(*) AS clients
        FROM {RUNS} r JOIN {PREDICTIONS} p USING (run_id) WHERE r.status = 'succeeded'
        GROUP BY ALL ORDER BY night, p.decision""",
    )


def dataset_counts(settings: Settings) -> pd.DataFrame:
    """Clients in the feature store per data set (train/test) and how many have a known outcome."""
    return query(
        settings,
        f"""SELECT {DATASET_COLUMN} AS dataset, count(*) AS clients,
        count({TARGET_COLUMN}) AS with_outcome FROM {FEATURES_TABLE} GROUP BY ALL ORDER BY dataset""",
    )


# --- model and monitoring ------------------------------------------------------------------------------


def champion_version(settings: Settings) -> str | None:
    """The model version of the latest successful scoring run."""
    df = query(
        settings, f"SELECT model_version FROM {RUNS} WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1"
    )
    return None if df.empty else str(df["model_version"].iloc[0])


def model_card(settings: Settings, model_version: str | None) -> dict | None:
    """The published training card of a model version (None when not published)."""
    if not has(settings, MODEL_CARD):
        return None
    df = query(
        settings,
        f"SELECT * FROM {MODEL_CARD} WHERE CAST(model_version AS VARCHAR) = ? "
        "OR ? IS NULL ORDER BY trained_at DESC LIMIT 1",
        (model_version, model_version),
    )
    return None if df.empty else df.iloc[0].to_dict()


def global_importance(settings: Settings, model_version: str | None, n: int = 20) -> pd.DataFrame:
    """The features with the largest mean |SHAP| for a model version."""
    return query(
        settings,
        f"""SELECT feature, mean_abs_shap, rank FROM {IMPORTANCE}
        WHERE CAST(model_version AS VARCHAR) = ? OR ? IS NULL ORDER BY rank LIMIT ?""",
        (model_version, model_version, n),
    )


def recent_runs(settings: Settings, limit: int = 20) -> pd.DataFrame:
    """The latest scoring runs, newest first."""
    return query(settings, f"SELECT * FROM {RUNS} ORDER BY started_at DESC LIMIT ?", (limit,))


def optional_table(settings: Settings, table: str, order_by: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Rows of a table that may not be published (empty frame when absent), newest first by `order_by`."""
    if not has(settings, table):
        return pd.DataFrame()
    order = f" ORDER BY {order_by}" if order_by and order_by.split()[0] in columns(settings, table) else ""
    return query(settings, f"SELECT * FROM {table}{order} LIMIT ?", (limit,))


def latest_drift_run(settings: Settings) -> str | None:
    """The monitoring run id of the newest drift computation."""
    for table in (DRIFT_REPORTS, DRIFT, PSI):
        if has(settings, table):
            order = "computed_at DESC" if "computed_at" in columns(settings, table) else "run_id DESC"
            df = query(settings, f"SELECT run_id FROM {table} ORDER BY {order} LIMIT 1")
            if not df.empty:
                return str(df["run_id"].iloc[0])
    return None


def drift_rows(settings: Settings, table: str, run_id: str) -> pd.DataFrame:
    """Rows of a monitoring table for one drift run."""
    if not has(settings, table):
        return pd.DataFrame()
    return query(settings, f"SELECT * FROM {table} WHERE CAST(run_id AS VARCHAR) = ?", (run_id,))


def drift_report_path(settings: Settings, run_id: str | None) -> Path | None:
    """The evidently HTML report of a drift run, when published and still on disk."""
    for table in (DRIFT_REPORTS, DRIFT, JOB_RUNS):
        if run_id is None or not has(settings, table) or "report_path" not in columns(settings, table):
            continue
        df = query(
            settings,
            f"SELECT report_path FROM {table} WHERE CAST(run_id AS VARCHAR) = ? AND report_path IS NOT NULL LIMIT 1",
            (run_id,),
        )
        if not df.empty and os.path.isfile(df["report_path"].iloc[0]):
            return Path(df["report_path"].iloc[0])
    return None


def latest_performance(settings: Settings) -> pd.DataFrame:
    """The rows of the latest backtesting check, cohorts in order, each cohort's 'all' row first (empty if none)."""
    if not has(settings, PERFORMANCE):
        return pd.DataFrame()
    return query(
        settings,
        f"SELECT * FROM {PERFORMANCE} WHERE check_id = (SELECT max(check_id) FROM {PERFORMANCE}) "
        "ORDER BY cohort, model_version, score_band <> 'all', score_band",
    )
