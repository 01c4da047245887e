"""Safe publication: a read-only serving database replaced atomically, so readers never block the pipeline.

DuckDB lets one process write a file or several processes read it, never both. So analysts and the dashboard
never open the working warehouse: they read `settings.serving_path`, which is prepared next to itself in a
staging file of its own (`<name>.<pid>-<random>.tmp`) and swapped in with os.replace. Publications are
serialised by a lock (`<name>.lock`) held for the whole publication, so two publishers never interleave and
each swap moves in a complete file. A reader that opened the old file keeps reading its (unlinked) inode until
it closes; the next connection sees the new file. A publication killed half-way leaves only a stale staging
file, removed by the next publication; one that runs out of disk space removes its own and says so.

The large tables (the feature store, the client profiles, the latest explanations) change little from one
night to the next, so a publication starts from a copy of the current serving file and applies only their
changes (rows whose key is new, gone or changed); the small tables are copied whole. A first publication,
a changed table layout or a change touching more than a quarter of a table rebuilds it from scratch.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from scoring import score_tables as st
from warehouse.clock import utc_now
from warehouse.database import PRIVATE_FILE, one_row, private_dir
from warehouse.errors import DISK_FULL, is_disk_full
from warehouse.features import DATASET_COLUMN, FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN, TARGET_COLUMN
from warehouse.locks import LockBusy, file_lock
from warehouse.schema import tables
from warehouse.settings import Settings
from warehouse.sql import literal

SOURCE = "wh"
"""Catalog name under which the working warehouse is attached (read-only) while publishing."""
SERVING_STORAGE = "v1.4.0"
"""The serving file's storage format: the oldest the library writes that the `duckdb` shell (duckdb-cli, whose
newest release is 1.5) still opens, so analysts can query it from a terminal."""


class PublishError(RuntimeError):
    """The serving database cannot be published: nothing to publish yet, another publication hangs, no disk."""


@dataclass(frozen=True)
class PublishSummary:
    """Where the serving database went, how long it took, the rows of each published table, and which
    tables were updated in place (the others were copied whole)."""

    path: Path
    seconds: float
    rows: dict[str, int]
    updated: tuple[str, ...] = ()


PROFILE_TABLE = "features.client_profile"
PROFILE_COMMENT = (
    "Each client's application as received (the columns of application_train/test, without TARGET), "
    "for showing a client's profile; DATASET says which file it came from."
)
COPIED_SCHEMAS = ("monitoring", "ops")
"""Schemas of the warehouse published whole when present (drift monitoring, pipeline run history)."""
REBUILD_SHARE = 0.25
"""A table whose changed rows exceed this share of its rows is rebuilt rather than updated in place."""


@dataclass(frozen=True)
class Delta:
    """How to update a published table in place. `key` names the columns that identify a version of a row;
    `source_keys` selects them from the warehouse, `target_keys` from the published table. Published rows
    whose key values are no longer in the warehouse are deleted; warehouse rows with new ones are inserted."""

    key: tuple[str, ...]
    source_keys: str
    target_keys: str


@dataclass(frozen=True)
class Published:
    """One table of the serving database: the query over the attached warehouse that fills it, and the
    warehouse table whose comments it inherits."""

    name: str
    query: str
    documented_by: str
    comment: str | None = None
    """Table comment replacing the documenting table's."""
    delta: Delta | None = None
    """How to update it in place; None: always copied whole."""


def _keyed(table: str, source: str, key: tuple[str, ...]) -> Delta:
    """A delta whose version columns are read from the same table in the warehouse and in serving."""
    columns = ", ".join(key)
    return Delta(key, f"SELECT {columns} FROM {source}", f"SELECT {columns} FROM {table}")


def published_tables(con: duckdb.DuckDBPyConnection) -> list[Published]:
    """Every table of the serving database, given a connection with the warehouse attached as SOURCE."""
    plan = [Published(t.qualified, f"SELECT * FROM {SOURCE}.{t.qualified}", t.qualified) for t in st.TABLES]
    explained = ("run_id", "SK_ID_CURR")
    plan[st.TABLES.index(st.EXPLANATIONS)] = Published(
        st.EXPLANATIONS.qualified,
        st.latest_explanations_sql(SOURCE),
        st.EXPLANATIONS.qualified,
        delta=Delta(
            explained,
            f"SELECT run_id, SK_ID_CURR FROM {SOURCE}.{st.LATEST.qualified}",
            f"SELECT DISTINCT run_id, SK_ID_CURR FROM {st.EXPLANATIONS.qualified}",
        ),
    )
    versions = (ID_COLUMN, FEATURE_HASH_COLUMN, DATASET_COLUMN, TARGET_COLUMN)
    plan.append(
        Published(
            FEATURES_TABLE,
            f"SELECT * FROM {SOURCE}.{FEATURES_TABLE}",
            FEATURES_TABLE,
            delta=_keyed(FEATURES_TABLE, f"{SOURCE}.{FEATURES_TABLE}", versions),
        )
    )
    present = set(_source_tables(con))
    applications = [f"raw.{name}" for name in ("application_train", "application_test")]
    if all(name in present for name in applications):
        columns = ", ".join(f'"{c}"' for c in tables()["application_test"].column_names)
        query = " UNION ALL ".join(
            f"SELECT {columns}, '{name.split('_')[-1]}' AS {DATASET_COLUMN} FROM {SOURCE}.{name}"
            for name in applications
        )
        profile_key = (ID_COLUMN, DATASET_COLUMN)
        plan.append(
            Published(
                PROFILE_TABLE,
                query,
                applications[1],
                PROFILE_COMMENT,
                _keyed(PROFILE_TABLE, f"({query})", profile_key),
            )
        )
    plan += [
        Published(name, f"SELECT * FROM {SOURCE}.{name}", name)
        for name in sorted(present)
        if name.split(".")[0] in COPIED_SCHEMAS
    ]
    return plan


def publish(
    settings: Settings, *, checkpoint: Callable[[str], None] | None = None, rebuild: bool = False
) -> PublishSummary:
    """Prepare the next serving database (from a copy of the current one unless `rebuild`) and swap it in.

    One publication at a time: a second one waits (at most settings.publish_wait_s) for the first to finish."""
    started = time.perf_counter()
    target = settings.serving_path
    private_dir(target.parent)
    try:
        with file_lock(target.with_name(target.name + ".lock"), settings.publish_wait_s):
            rows, updated = _publish_locked(settings.warehouse_path, target, checkpoint, rebuild)
    except LockBusy as busy:
        raise PublishError(
            f"another publication ({busy.holder}) of {target} was still running after {settings.publish_wait_s} s; "
            "the serving database is unchanged"
        ) from None
    return PublishSummary(target, time.perf_counter() - started, rows, updated)


def _publish_locked(
    warehouse: Path, target: Path, checkpoint: Callable[[str], None] | None, rebuild: bool
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Build a new serving file in a staging file of its own and swap it in; call it holding the lock."""
    for leftover in _staging_files(target):  # of killed publications: nobody else publishes while we hold the lock
        leftover.unlink(missing_ok=True)
    staging = target.with_name(f"{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        if not rebuild and _is_publication(target):
            shutil.copyfile(target, staging)
        rows, updated = _build(warehouse, staging, checkpoint)
        if _wal(staging).exists():
            raise PublishError(f"{_wal(staging)} remains after closing the serving database; not publishing.")
        staging.chmod(PRIVATE_FILE)
        _fsync(staging)
        if checkpoint:
            checkpoint("publish_before_replace")
        os.replace(staging, target)
    except BaseException as error:
        for leftover in (staging, _wal(staging)):
            leftover.unlink(missing_ok=True)
        if is_disk_full(error):
            raise PublishError(f"publishing {target} stopped: {DISK_FULL}; the last publication is intact") from error
        raise
    _fsync(target.parent)
    return rows, updated


def _staging_files(target: Path) -> list[Path]:
    """Staging files (and their write-ahead logs) that publications of `target` may have left behind."""
    legacy = [target.with_name(target.name + ".tmp"), target.with_name(target.name + ".tmp.wal")]
    return [*legacy, *target.parent.glob(f"{target.name}.*.tmp"), *target.parent.glob(f"{target.name}.*.tmp.wal")]


def _is_publication(path: Path) -> bool:
    """Whether a file is a complete serving database (one a publication can start from)."""
    if not path.is_file():
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return bool(
                one_row(
                    con,
                    "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = 'publication'",
                    {"s": st.SCHEMA},
                )[0]
            )
    except duckdb.Error:
        return False


def _build(
    warehouse: Path, staging: Path, checkpoint: Callable[[str], None] | None
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Bring every published table of the staging file up to date with the warehouse, with its documentation."""
    rows: dict[str, int] = {}
    updated: list[str] = []
    with duckdb.connect(str(staging), config={"storage_compatibility_version": SERVING_STORAGE}) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH {literal(str(warehouse))} AS {SOURCE} (READ_ONLY)")
        if st.RUNS.qualified not in _source_tables(con):
            raise PublishError(f"{warehouse} has no {st.RUNS.qualified} table: run `credit-scoring score` first.")
        plan = published_tables(con)
        present = set(_staging_tables(con))
        for name in present - {table.name for table in plan}:
            con.execute(f"DROP TABLE {name}")
        for table in plan:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.name.split('.')[0]}")
            if table.name in present and _update_in_place(con, table):
                updated.append(table.name)
            else:
                con.execute(f"CREATE OR REPLACE TABLE {table.name} AS {table.query}")
            _copy_comments(con, table)
            rows[table.name] = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]
            if checkpoint:
                checkpoint("publish_copying")
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {st.PUBLICATION.qualified} AS
            SELECT $now AS published_at, max(run_id) AS last_run_id
            FROM {SOURCE}.{st.RUNS.qualified} WHERE status = 'succeeded'""",
            {"now": utc_now()},
        )
        st.PUBLICATION.document(con)
        con.execute(f"DETACH {SOURCE}")
        con.execute("CHECKPOINT")
    return rows, tuple(updated)


def _update_in_place(con: duckdb.DuckDBPyConnection, table: Published) -> bool:
    """Apply a table's changed rows in place; False (nothing done) when it must be copied whole."""
    if table.delta is None or _columns(con, table.name) != _columns(con, f"({table.query})"):
        return False
    delta = table.delta
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS {delta.target_keys} EXCEPT {delta.source_keys}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {delta.source_keys} EXCEPT {delta.target_keys}")
    (changed,) = one_row(con, "SELECT (SELECT count(*) FROM _gone) + (SELECT count(*) FROM _new)")
    (total,) = one_row(con, f"SELECT count(*) FROM {table.name}")
    if changed > REBUILD_SHARE * max(total, 1):
        return False
    same = " AND ".join(f't."{k}" IS NOT DISTINCT FROM d."{k}"' for k in delta.key)
    con.execute(f"DELETE FROM {table.name} AS t WHERE EXISTS (SELECT 1 FROM _gone AS d WHERE {same})")
    con.execute(
        f"INSERT INTO {table.name} SELECT t.* FROM ({table.query}) AS t "
        f"WHERE EXISTS (SELECT 1 FROM _new AS d WHERE {same})"
    )
    return True


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a table or a parenthesised query."""
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {relation}").fetchall()]


def _staging_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """schema.table of every table of the serving database being prepared."""
    return [
        row[0]
        for row in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT temporary"
        ).fetchall()
    ]


def _copy_comments(con: duckdb.DuckDBPyConnection, table: Published) -> None:
    """Give the published table the comments of its documenting table in the warehouse (only those it lacks: a
    table updated in place keeps its own, and each COMMENT ON rewrites the catalogue entry of a 940-column table)."""
    schema, name = table.documented_by.split(".")
    wanted = _comments(con, SOURCE, schema, name)
    if table.comment:
        wanted[None] = table.comment
    (staging,) = one_row(con, "SELECT current_database()")
    present = _comments(con, staging, *table.name.split("."))
    columns = {row[0] for row in con.execute(f"DESCRIBE {table.name}").fetchall()}
    for column, text in wanted.items():
        if present.get(column) == text or (column is not None and column not in columns):
            continue
        target = table.name if column is None else f'{table.name}."{column}"'
        con.execute(f"COMMENT ON {'TABLE' if column is None else 'COLUMN'} {target} IS {literal(text)}")


def _comments(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, name: str) -> dict[str | None, str]:
    """The non-empty comments of a table (key None) and of its columns (keyed by column name)."""
    where = "database_name = $db AND schema_name = $s AND table_name = $t AND comment IS NOT NULL AND comment <> ''"
    params = {"db": catalog, "s": schema, "t": name}
    found: dict[str | None, str] = dict(
        (None, row[0]) for row in con.execute(f"SELECT comment FROM duckdb_tables() WHERE {where}", params).fetchall()
    )
    found.update(con.execute(f"SELECT column_name, comment FROM duckdb_columns() WHERE {where}", params).fetchall())
    return found


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
