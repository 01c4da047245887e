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
- Harmless variants load with a warning (in the report and audit.loads.warnings):
  blank lines (they do not shift line numbers), spaces around text values (trimmed),
  header names in another letter case.
- A row already stored is never stored twice: an identical row is quarantined as
  "already stored", a row differing from a stored one with the same key (or, in
  installments_payments, the same instalment) as a conflict; the stored row is kept.
- A folder with a manifest.json (warehouse/delivery.py) must match it: a file not
  listed, or whose size or SHA-256 differs, is rejected.
- Line numbers assume no line break inside a quoted field (the Kaggle files have
  none): line = position of the row in the file + 1 for the header.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.audit import (
    LOADS,
    QUARANTINE,
    FileReport,
    IngestReport,
    mark_rolled_back,
    timed,
    write_audit,
)
from ingest.files import (
    FileRejected,
    IngestError,
    Layout,
    Scan,
    columns_of,
    find_files,
    inspect_file,
    scan,
    with_unix_line_endings,
)
from ingest.rows import FileLoad, drop_temporaries, raw_comments
from warehouse.clock import utc_now
from warehouse.database import one_row, open_warehouse
from warehouse.delivery import MANIFEST, Listed, ManifestError, read_manifest
from warehouse.errors import DISK_FULL, is_disk_full
from warehouse.schema import INT, Table, inputs
from warehouse.settings import Settings
from warehouse.sql import quote


def ingest_folder(source: Path, settings: Settings, *, progress: bool = True) -> IngestReport:
    """Load the Kaggle CSVs of `source` into the warehouse in one transaction, checked."""
    source = Path(source).resolve()
    found, ignored = find_files(source)
    try:
        listed = read_manifest(source)
    except ManifestError as error:
        raise IngestError(str(error)) from error
    try:
        with connect(settings.warehouse_path) as con:
            ensure_schema(con)
            load_id = one_row(con, "SELECT coalesce(max(load_id), 0) + 1 FROM audit.loads")[0]
            files = [FileReport(path.name, table.name, str(path)) for table, path in found]
            report = IngestReport(load_id, source, files, ignored)
            hasher = ThreadPoolExecutor(max_workers=1)
            scratch = tempfile.TemporaryDirectory(prefix=".ingest-", dir=settings.warehouse_path.parent)
            try:
                # Hash the next files while DuckDB works on the current one (hashlib releases the GIL).
                scans = [hasher.submit(scan, path) for _, path in found]
                with _progress(progress) as bar:
                    _run_load(con, found, scans, listed, report, bar, Path(scratch.name))
            finally:
                hasher.shutdown(cancel_futures=True)
                scratch.cleanup()
    except (duckdb.Error, OSError) as error:
        if is_disk_full(error):
            raise IngestError(f"loading {source} stopped: {DISK_FULL}; the warehouse is as it was") from error
        raise
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
    elif "warnings" not in {row[0] for row in con.execute("DESCRIBE audit.loads").fetchall()}:
        con.execute("ALTER TABLE audit.loads ADD COLUMN warnings VARCHAR")  # warehouses of earlier versions
        LOADS.document(con)
    for table in inputs().values():
        if f"raw.{table.name}" in existing:
            _check_layout(con, table)
        else:
            _create_raw_table(con, table)


def _create_raw_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create raw.<table> with the contract's columns and types plus _load_id, and document it."""
    columns = ", ".join(f"{quote(c.name)} {c.type}" for c in columns_of(table))
    statements = [f"CREATE TABLE raw.{quote(table.name)} ({columns}, _load_id BIGINT NOT NULL)", *raw_comments(table)]
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
    scans: list[Future[Scan]],
    listed: dict[str, Listed] | None,
    report: IngestReport,
    bar: Progress,
    scratch: Path,
) -> None:
    """Check and load every file in one transaction; if any file is rejected, roll back and record why.

    `scratch` (a private folder) takes a copy of a file whose line breaks are of two kinds, with one kind."""
    load_id, reports = report.load_id, report.files
    layouts: dict[str, Layout] = {}
    for (table, path), file in zip(found, reports, strict=True):
        file.file_bytes = path.stat().st_size
        try:
            _check_listed(path, listed)
            layouts[table.name] = inspect_file(path, table)
        except FileRejected as problem:
            file.status, file.message = "rejected", f"{path.name}: {problem}"
    if len(layouts) == len(found):
        con.execute("BEGIN TRANSACTION")
        try:
            for (table, path), digest, file in zip(found, scans, reports, strict=True):
                _load_one(con, load_id, table, path, layouts[table.name], digest, listed, file, bar, scratch)
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


def _check_listed(path: Path, listed: dict[str, Listed] | None) -> None:
    """Reject a file of a folder with a manifest that the manifest does not list with this size."""
    if listed is None:
        return
    entry = listed.get(path.name)
    if entry is None:
        raise FileRejected(f"not listed in the folder's {MANIFEST}: it was added after the manifest was written")
    size = path.stat().st_size
    if size != entry.bytes:
        raise FileRejected(
            f"{size:,} bytes where {MANIFEST} lists {entry.bytes:,}: the file is incomplete or was changed after "
            "the manifest was written"
        )


def _load_one(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    table: Table,
    path: Path,
    layout: Layout,
    pending: Future[Scan],
    listed: dict[str, Listed] | None,
    report: FileReport,
    bar: Progress,
    scratch: Path,
) -> None:
    """Load one file into raw.<table> inside the open transaction, filling in its report."""
    task = bar.add_task(path.name, total=4)
    report.started_at = utc_now()
    with timed(report, "checksum"):
        found = pending.result()
    report.checksum = found.checksum
    bar.advance(task)
    earlier = con.execute(
        "SELECT min(load_id) FROM audit.loads WHERE table_name = ? AND checksum = ? AND status = 'loaded'",
        [table.name, report.checksum],
    ).fetchone()
    try:
        if listed is not None and listed[path.name].sha256 != found.checksum:
            raise FileRejected(
                f"its SHA-256 differs from the one {MANIFEST} lists: the file was cut or changed after the "
                "manifest was written"
            )
        if earlier and earlier[0] is not None:
            report.status, report.message = "skipped", "already loaded (same checksum); nothing changed"
            report.rows_load_id = earlier[0]
        else:
            load = FileLoad(con, load_id, table, path, layout, found)
            if found.mixed_line_endings:
                load.readable = with_unix_line_endings(path, scratch)
            load.run(report, lambda: bar.advance(task))
            report.rows_load_id = load_id
            drop_temporaries(con)
    except FileRejected as problem:  # the rollback that follows drops the temporary tables
        report.status, report.message = "rejected", f"{path.name}: {problem}"
    bar.update(task, completed=4)
    report.finished_at = utc_now()


@contextmanager
def _progress(show: bool) -> Iterator[Progress]:
    """A rich progress display with one bar per file (hidden when `show` is false)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), disable=not show)
    with bar:
        yield bar
