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

import math
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

from warehouse.features import DATASET_COLUMN, FEATURES_TABLE, ID_COLUMN, NON_FEATURE_COLUMNS, TARGET_COLUMN
from warehouse.settings import Settings

RUNS = "scores.runs"
PREDICTIONS = "scores.predictions"
EXPLANATIONS = "scores.explanations"
LATEST = "scores.latest"
IMPORTANCE = "scores.global_importance"
MODEL_CARD = "scores.model_card"
BASE_VALUES = "scores.base_values"
FEATURE_LABELS = "scores.feature_labels"
PROFILE = "features.client_profile"
JOB_RUNS = "ops.job_runs"
DRIFT = "monitoring.feature_drift"
PSI = "monitoring.psi"
ALERTS = "monitoring.alerts"
DRIFT_REPORTS = "monitoring.drift_reports"

PROFILE_COLUMNS = (
    "CODE_GENDER",
    "DAYS_BIRTH",
    "NAME_FAMILY_STATUS",
    "CNT_CHILDREN",
    "CNT_FAM_MEMBERS",
    "NAME_EDUCATION_TYPE",
    "NAME_INCOME_TYPE",
    "OCCUPATION_TYPE",
    "ORGANIZATION_TYPE",
    "DAYS_EMPLOYED",
    "AMT_INCOME_TOTAL",
    "NAME_HOUSING_TYPE",
    "FLAG_OWN_CAR",
    "FLAG_OWN_REALTY",
    "NAME_CONTRACT_TYPE",
    "AMT_CREDIT",
    "AMT_ANNUITY",
    "AMT_GOODS_PRICE",
)
"""Raw application columns shown as the client's profile (the model features hold only their encodings)."""

T = TypeVar("T")
RAISING_PREFIXES, LOWERING_PREFIXES = ("raises_", "reasons_raising"), ("lowers_", "reasons_lowering")


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


SERVING = "serving"
"""Catalog name of the attached serving file in each query's private connection."""
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
    con = duckdb.connect(":memory:")
    try:
        try:
            con.execute(f"ATTACH {_literal(path)} AS {SERVING} (READ_ONLY)")
        except (duckdb.IOException, duckdb.InvalidInputException, duckdb.BinderException) as error:
            raise ServingUnavailable(
                f"The serving database {path} cannot be opened: it is not a complete publication"
            ) from error
        con.execute(f"USE {SERVING}")
        yield con
    finally:
        con.close()


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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


def client_reasons(row: dict) -> tuple[list[str], list[str]]:
    """The plain-language reasons scores.latest gives for the client: (raising the risk, lowering it)."""
    return _texts(row, RAISING_PREFIXES), _texts(row, LOWERING_PREFIXES)


def _texts(row: dict, prefixes: tuple[str, ...]) -> list[str]:
    """The non-empty texts of the columns whose names start with a prefix (text columns or lists)."""
    out: list[str] = []
    for name, value in row.items():
        if name.lower().startswith(prefixes):
            items = list(value) if hasattr(value, "__iter__") and not isinstance(value, str) else [value]
            out += [str(v) for v in items if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return out


def feature_label_map(settings: Settings) -> dict[str, str]:
    """Plain-language feature labels published by the scorer (the words its reasons use); empty if none."""
    if not has(settings, FEATURE_LABELS):
        return {}
    df = query(settings, f"SELECT feature, label FROM {FEATURE_LABELS} WHERE label IS NOT NULL")
    return dict(zip(df["feature"], df["label"], strict=True))


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


def client_profile(settings: Settings, client_id: int) -> dict[str, object]:
    """The client's application facts (raw columns when published, else numeric ones from the features)."""
    for table in (PROFILE, FEATURES_TABLE):  # the lead publishes PROFILE; the fallback lacks the categories
        if not has(settings, table):
            continue
        present = [c for c in PROFILE_COLUMNS if c in columns(settings, table)]
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


def client_top_features(settings: Settings, client_id: int, run_id: str, n: int = 8) -> list[str]:
    """The features that moved this client's score the most."""
    df = client_explanation(settings, client_id, run_id)
    return list(df["feature"].head(n))


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


def score_histogram(settings: Settings, bins: int = 40) -> pd.DataFrame:
    """Number of clients per probability bin and decision (latest decisions)."""
    return query(
        settings,
        f"""
        SELECT decision, least(floor(probability * ?), ? - 1) / ? AS bin_start, count(*) AS clients
        FROM {LATEST} GROUP BY ALL ORDER BY bin_start""",
        (bins, bins, bins),
    )


def bad_rate_by_band(settings: Settings, bands: int = 10) -> pd.DataFrame:
    """Observed default rate per score band (equal-count bands) among clients whose outcome is known."""
    return query(
        settings,
        f"""
        WITH k AS (
            SELECT l.probability, f.{TARGET_COLUMN} AS target,
                   ntile(?) OVER (ORDER BY l.probability) AS band
            FROM {LATEST} l JOIN {FEATURES_TABLE} f USING ({ID_COLUMN}) WHERE f.{TARGET_COLUMN} IS NOT NULL)
        SELECT band, min(probability) AS p_from, max(probability) AS p_to, count(*) AS clients,
               avg(target) AS bad_rate FROM k GROUP BY band ORDER BY band""",
        (bands,),
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
