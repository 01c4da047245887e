"""Validated loading of the Kaggle CSV files into the warehouse's raw schema.

`ingest_folder` loads the CSVs of one folder (a full data set or a nightly batch
holding some of the eight files) into `raw.<table>` in one DuckDB transaction.
Each file is checked against the schema contract: file-level problems (missing
or unknown columns, binary, truncated, empty, wrong delimiter) reject the whole
load; row-level problems (unparsable or non-integral numbers, values outside a
column's domain, impossible values, duplicate keys, orphans) send the row to
`audit.quarantine` and the rest of the file loads. Every attempt is recorded in
`audit.loads`; a file whose checksum was already loaded is skipped.

Decisions:
- An unknown named column rejects the file (naming it): it means another layout
  than the contract's, and loading would drop its data silently. An unnamed index
  column ("" or "Unnamed: 0") is dropped.
- A header-only file is accepted (0 rows): a nightly batch may have no card rows.
  A 0-byte file is rejected, and so is a file whose last line has no line break
  (its last value may be cut short without any field missing).
- Integer columns are parsed as DOUBLE then checked whole ("1", "1.0" and
  "1.000000000" load as 1; "1.5" is quarantined); exact up to 2**53.
- NaN and infinity are quarantined as "not a finite number".
- Line numbers assume no line break inside a quoted field (the Kaggle files have
  none): line = position of the row in the file + 1 for the header.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.audit import (
    LOAD_ID_COMMENT,
    LOADS,
    QUARANTINE,
    FileReport,
    IngestReport,
    mark_rolled_back,
    timed,
    write_audit,
)
from ingest.files import FileRejected, IngestError, Layout, checksum, columns_of, find_files, inspect_file
from ingest.rows import FileLoad, drop_temporaries
from warehouse.clock import utc_now
from warehouse.database import one_row, open_warehouse
from warehouse.schema import INT, Table, tables
from warehouse.settings import Settings
from warehouse.sql import literal, quote


def ingest_folder(source: Path, settings: Settings, *, progress: bool = True) -> IngestReport:
    """Load the Kaggle CSVs of `source` into the warehouse in one transaction, checked."""
    source = Path(source).resolve()
    found, ignored = find_files(source)
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        load_id = one_row(con, "SELECT coalesce(max(load_id), 0) + 1 FROM audit.loads")[0]
        files = [FileReport(path.name, table.name, str(path)) for table, path in found]
        report = IngestReport(load_id, source, files, ignored)
        hasher = ThreadPoolExecutor(max_workers=1)
        try:
            # Hash the next files while DuckDB works on the current one (hashlib releases the GIL).
            checksums = [hasher.submit(checksum, path) for _, path in found]
            with _progress(progress) as bar:
                _run_load(con, found, checksums, report, bar)
        finally:
            hasher.shutdown(cancel_futures=True)
    return report


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for writing (one writer process at a time) and close it afterwards."""
    con = open_warehouse(path, IngestError)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        con.execute(f"SET threads = {os.cpu_count() or 1}")
        con.execute(f"SET memory_limit = '{memory // 2 // 2**20}MB'")
        con.execute("SET preserve_insertion_order = true")  # line numbers rely on rows kept in file order
        # The IN-list optimizer spends seconds on the hundred domain checks of an application file.
        con.execute("SET disabled_optimizers = 'in_clause'")
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and audit schemas and tables, with comments, if they are missing; check their layout."""
    con.execute("BEGIN TRANSACTION")  # one commit for the few hundred DDL statements, not one each
    try:
        _create_missing(con)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _create_missing(con: duckdb.DuckDBPyConnection) -> None:
    """Create what ensure_schema needs and is not there yet."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS audit")
    existing = {
        name
        for (name,) in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'audit')"
        ).fetchall()
    }
    if LOADS.qualified not in existing:
        LOADS.create(con)
        QUARANTINE.create(con)
    for table in tables().values():
        if f"raw.{table.name}" in existing:
            _check_layout(con, table)
        else:
            _create_raw_table(con, table)


def _create_raw_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create raw.<table> with the contract's columns and types plus _load_id, and document it."""
    columns = ", ".join(f"{quote(c.name)} {c.type}" for c in columns_of(table))
    name = f"raw.{quote(table.name)}"
    about = f"Rows of {table.file_name} that passed the checks of credit-scoring ingest."
    statements = [
        f"CREATE TABLE {name} ({columns}, _load_id BIGINT NOT NULL)",
        f"COMMENT ON TABLE {name} IS {literal(about)}",
        *(f"COMMENT ON COLUMN {name}.{quote(c.name)} IS {literal(c.description)}" for c in columns_of(table)),
        f"COMMENT ON COLUMN {name}._load_id IS {literal(LOAD_ID_COMMENT)}",
    ]
    con.execute(";\n".join(statements))


def _check_layout(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Refuse to load into a raw table whose columns differ from the contract."""
    actual = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
        [table.name],
    ).fetchall()
    expected = [(c.name, c.type) for c in columns_of(table)] + [("_load_id", INT)]
    if actual != expected:
        raise IngestError(
            f"raw.{table.name} in the warehouse does not match the schema contract; "
            "rebuild the warehouse or migrate the table"
        )


def _run_load(
    con: duckdb.DuckDBPyConnection,
    found: list[tuple[Table, Path]],
    checksums: list[Future[str]],
    report: IngestReport,
    bar: Progress,
) -> None:
    """Check and load every file in one transaction; if any file is rejected, roll back and record why."""
    load_id, reports = report.load_id, report.files
    layouts: dict[str, Layout] = {}
    for (table, path), file in zip(found, reports, strict=True):
        file.file_bytes = path.stat().st_size
        try:
            layouts[table.name] = inspect_file(path, table)
        except FileRejected as problem:
            file.status, file.message = "rejected", f"{path.name}: {problem}"
    if len(layouts) == len(found):
        con.execute("BEGIN TRANSACTION")
        try:
            for (table, path), digest, file in zip(found, checksums, reports, strict=True):
                _load_one(con, load_id, table, path, layouts[table.name], digest, file, bar)
                if file.status == "rejected":
                    break
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if not any(r.status == "rejected" for r in reports):
            write_audit(con, load_id, reports)
            start = time.perf_counter()
            con.execute("COMMIT")
            report.commit_seconds = time.perf_counter() - start
            return
        con.execute("ROLLBACK")
    mark_rolled_back(reports)
    write_audit(con, load_id, reports)


def _load_one(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    table: Table,
    path: Path,
    layout: Layout,
    digest: Future[str],
    report: FileReport,
    bar: Progress,
) -> None:
    """Load one file into raw.<table> inside the open transaction, filling in its report."""
    task = bar.add_task(path.name, total=4)
    report.started_at = utc_now()
    with timed(report, "checksum"):
        report.checksum = digest.result()
    bar.advance(task)
    if one_row(
        con,
        "SELECT count(*) FROM audit.loads WHERE table_name = ? AND checksum = ? AND status = 'loaded'",
        [table.name, report.checksum],
    )[0]:
        report.status, report.message = "skipped", "already loaded (same checksum); nothing changed"
    else:
        try:
            FileLoad(con, load_id, table, path, layout).run(report, lambda: bar.advance(task))
        except FileRejected as problem:  # the rollback that follows drops the temporary tables
            report.status, report.message = "rejected", f"{path.name}: {problem}"
        else:
            drop_temporaries(con)
    bar.update(task, completed=4)
    report.finished_at = utc_now()


@contextmanager
def _progress(show: bool) -> Iterator[Progress]:
    """A rich progress display with one bar per file (hidden when `show` is false)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), disable=not show)
    with bar:
        yield bar
