"""Safe publication: a read-only serving database replaced atomically, so readers never block the pipeline.

DuckDB lets one process write a file or several processes read it, never both. So analysts and the dashboard
never open the working warehouse: they read `settings.serving_path`, which is rebuilt next to itself
(`<name>.tmp`) from the warehouse and swapped in with os.replace. A reader that opened the old file keeps
reading its (unlinked) inode until it closes; the next connection sees the new file. A publication killed
half-way leaves only a stale .tmp file, removed by the next publication.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from scoring import score_tables as st
from warehouse.features import DATASET_COLUMN, FEATURES_TABLE
from warehouse.schema import tables
from warehouse.settings import Settings

SOURCE = "wh"
"""Catalog name under which the working warehouse is attached (read-only) while publishing."""

PUBLICATION_COMMENT = "When the serving database was published and the last successful scoring run in it."
PUBLICATION_COLUMNS = {
    "published_at": "When this serving database was published (UTC).",
    "last_run_id": "The last scoring run (scores.runs.run_id) that had succeeded at publication.",
}


class PublishError(RuntimeError):
    """The warehouse has nothing to publish yet."""


@dataclass(frozen=True)
class PublishSummary:
    """Where the serving database went, how long it took, and the rows of each published table."""

    path: Path
    seconds: float
    rows: dict[str, int]


PROFILE_TABLE = "features.client_profile"
PROFILE_COMMENT = (
    "Each client's application as received (the columns of application_train/test, without TARGET), "
    "for showing a client's profile; DATASET says which file it came from."
)
COPIED_SCHEMAS = ("monitoring", "ops")
"""Schemas of the warehouse published whole when present (drift monitoring, pipeline run history)."""


@dataclass(frozen=True)
class Published:
    """One table of the serving database: the query over the attached warehouse that fills it, and the
    warehouse table whose comments it inherits."""

    name: str
    query: str
    documented_by: str
    comment: str | None = None
    """Table comment replacing the documenting table's."""


def published_tables(con: duckdb.DuckDBPyConnection) -> list[Published]:
    """Every table of the serving database, given a connection with the warehouse attached as SOURCE."""
    plan = [Published(t.qualified, f"SELECT * FROM {SOURCE}.{t.qualified}", t.qualified) for t in st.TABLES]
    plan[st.TABLES.index(st.EXPLANATIONS)] = Published(
        st.EXPLANATIONS.qualified, st.latest_explanations_sql(SOURCE), st.EXPLANATIONS.qualified
    )
    plan.append(Published(FEATURES_TABLE, f"SELECT * FROM {SOURCE}.{FEATURES_TABLE}", FEATURES_TABLE))
    present = set(_source_tables(con))
    applications = [f"raw.{name}" for name in ("application_train", "application_test")]
    if all(name in present for name in applications):
        columns = ", ".join(f'"{c}"' for c in tables()["application_test"].column_names)
        query = " UNION ALL ".join(
            f"SELECT {columns}, '{name.split('_')[-1]}' AS {DATASET_COLUMN} FROM {SOURCE}.{name}"
            for name in applications
        )
        plan.append(Published(PROFILE_TABLE, query, applications[1], PROFILE_COMMENT))
    plan += [
        Published(name, f"SELECT * FROM {SOURCE}.{name}", name)
        for name in sorted(present)
        if name.split(".")[0] in COPIED_SCHEMAS
    ]
    return plan


def publish(settings: Settings, *, checkpoint: Callable[[str], None] | None = None) -> PublishSummary:
    """Rebuild the serving database from the warehouse and swap it in atomically."""
    started = time.perf_counter()
    target = settings.serving_path
    staging = target.with_name(target.name + ".tmp")
    for leftover in (staging, _wal(staging)):
        leftover.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = _build(settings.warehouse_path, staging, checkpoint)
    if _wal(staging).exists():
        raise PublishError(f"{_wal(staging)} remains after closing the serving database; not publishing.")
    _fsync(staging)
    if checkpoint:
        checkpoint("publish_before_replace")
    os.replace(staging, target)
    _fsync(target.parent)
    return PublishSummary(path=target, seconds=time.perf_counter() - started, rows=rows)


def _build(warehouse: Path, staging: Path, checkpoint: Callable[[str], None] | None) -> dict[str, int]:
    """Copy the published tables, with their documentation, into a new database file."""
    rows: dict[str, int] = {}
    with duckdb.connect(str(staging)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH {st.sql_literal(str(warehouse))} AS {SOURCE} (READ_ONLY)")
        if st.RUNS.qualified not in _source_tables(con):
            raise PublishError(
                f"{warehouse} has no {st.RUNS.qualified} table: run `credit-scoring score` first."
            )
        for table in published_tables(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.name.split('.')[0]}")
            con.execute(f"CREATE TABLE {table.name} AS {table.query}")
            _copy_comments(con, table)
            rows[table.name] = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]
            if checkpoint:
                checkpoint("publish_copying")
        con.execute(
            f"""
            CREATE TABLE {st.SCHEMA}.publication AS
            SELECT $now AS published_at, max(run_id) AS last_run_id
            FROM {SOURCE}.{st.RUNS.qualified} WHERE status = 'succeeded'""",
            {"now": st.utc_now()},
        )
        con.execute(f"COMMENT ON TABLE {st.SCHEMA}.publication IS {st.sql_literal(PUBLICATION_COMMENT)}")
        for column, comment in PUBLICATION_COLUMNS.items():
            con.execute(f"COMMENT ON COLUMN {st.SCHEMA}.publication.{column} IS {st.sql_literal(comment)}")
        con.execute(f"DETACH {SOURCE}")
        con.execute("CHECKPOINT")
    return rows


def _copy_comments(con: duckdb.DuckDBPyConnection, table: Published) -> None:
    """Give the published table the comments of its documenting table in the warehouse."""
    schema, name = table.documented_by.split(".")
    where = "database_name = $db AND schema_name = $s AND table_name = $t"
    params = {"db": SOURCE, "s": schema, "t": name}
    comments = [
        row[0] for row in con.execute(f"SELECT comment FROM duckdb_tables() WHERE {where}", params).fetchall()
    ]
    for comment in [table.comment] if table.comment else comments:
        if comment:
            con.execute(f"COMMENT ON TABLE {table.name} IS {st.sql_literal(comment)}")
    published = {row[0] for row in con.execute(f"DESCRIBE {table.name}").fetchall()}
    for column, text in con.execute(
        f"SELECT column_name, comment FROM duckdb_columns() WHERE {where} "
        "AND comment IS NOT NULL AND comment <> ''",
        params,
    ).fetchall():
        if column in published:
            con.execute(f'COMMENT ON COLUMN {table.name}."{column}" IS {st.sql_literal(text)}')


def _source_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """schema.table of every table of the attached warehouse."""
    return [
        row[0]
        for row in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = $db",
            {"db": SOURCE},
        ).fetchall()
    ]


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk, so the swap never exposes an incomplete file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log next to a database file."""
    return path.with_name(path.name + ".wal")
