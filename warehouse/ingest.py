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

import csv
import dataclasses
import gzip
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from warehouse.database import open_warehouse
from warehouse.schema import DAYS_CODE, INT, TEXT, Column, Table, tables
from warehouse.settings import Settings

APPLICATIONS = ("application_train", "application_test")
BALANCES = ("POS_CASH_balance", "credit_card_balance")
INDEX_COLUMNS = ("", "Unnamed: 0")
"""Header names of the row-index column that pandas and spreadsheets add; it is dropped."""
SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class Rule:
    """A value check: rows of `tables` whose `column` is not NULL must satisfy `holds` ({c} = the column)."""

    tables: tuple[str, ...]
    column: str
    holds: str
    reason: str


def _non_negative(tables_: tuple[str, ...], *columns: str) -> list[Rule]:
    """Rules saying that amounts or counts cannot be negative."""
    return [Rule(tables_, c, "{c} >= 0", f"{c} must not be negative") for c in columns]


RULES: tuple[Rule, ...] = (
    Rule(("application_train",), "TARGET", "{c} IN (0, 1)", "TARGET must be 0 or 1"),
    Rule(APPLICATIONS, "DAYS_BIRTH", "{c} < 0", "DAYS_BIRTH must be negative (days before the application)"),
    Rule(
        APPLICATIONS,
        "DAYS_EMPLOYED",
        f"{{c}} <= 0 OR {{c}} = {DAYS_CODE}",
        f"DAYS_EMPLOYED must be negative or the {DAYS_CODE} code",
    ),
    *_non_negative(APPLICATIONS, "CNT_CHILDREN", "AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"),
    *(
        Rule(APPLICATIONS, f"EXT_SOURCE_{i}", "{c} BETWEEN 0 AND 1", f"EXT_SOURCE_{i} must lie between 0 and 1")
        for i in (1, 2, 3)
    ),
    Rule(("bureau",), "DAYS_CREDIT", "{c} <= 0", "DAYS_CREDIT must not be positive (days before the application)"),
    *_non_negative(("bureau",), "CREDIT_DAY_OVERDUE", "AMT_CREDIT_SUM"),
    Rule(("bureau_balance",), "MONTHS_BALANCE", "{c} <= 0", "MONTHS_BALANCE must not be positive"),
    *_non_negative(("previous_application",), "AMT_APPLICATION", "AMT_CREDIT"),
    *(Rule(BALANCES, "MONTHS_BALANCE", "{c} < 0", "MONTHS_BALANCE must be negative"),),
    *_non_negative(BALANCES, "SK_DPD", "SK_DPD_DEF"),
    *_non_negative(("installments_payments",), "AMT_INSTALMENT", "AMT_PAYMENT"),
)
"""The impossible-value rules, all in one place; domains of categorical columns come from the contract."""

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit.loads (
    load_id BIGINT NOT NULL, file_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL, source_path VARCHAR,
    checksum VARCHAR, file_bytes BIGINT, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'skipped', 'rejected')), message VARCHAR,
    started_at TIMESTAMP, finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS audit.quarantine (
    load_id BIGINT NOT NULL, file_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL, line_number BIGINT,
    column_name VARCHAR, value VARCHAR, reason VARCHAR NOT NULL);
"""

AUDIT_COMMENTS = {
    "audit.loads": "One row per file per load attempt of `credit-scoring ingest`.",
    "audit.loads.load_id": "Number of the load attempt (one per ingested folder); raw tables' _load_id.",
    "audit.loads.file_name": "Name of the CSV file in the ingested folder.",
    "audit.loads.table_name": "Raw table the file feeds (raw.<table_name>).",
    "audit.loads.source_path": "Absolute path of the file when it was loaded.",
    "audit.loads.checksum": "SHA-256 of the file bytes; a file already loaded with this checksum is skipped.",
    "audit.loads.file_bytes": "Size of the file in bytes.",
    "audit.loads.rows_read": "Data rows read from the file (rows_loaded + rows_quarantined).",
    "audit.loads.rows_loaded": "Rows appended to the raw table.",
    "audit.loads.rows_quarantined": "Rows sent to audit.quarantine instead of the raw table.",
    "audit.loads.status": "loaded, skipped (same checksum already loaded) or rejected (file-level problem, "
    "or another file of the folder was rejected and the load rolled back).",
    "audit.loads.message": "What happened, in plain English (the problem when rejected).",
    "audit.loads.started_at": "When the work on the file started (UTC).",
    "audit.loads.finished_at": "When the work on the file finished (UTC).",
    "audit.quarantine": "One row per rejected row and problem; a row with several problems has several rows.",
    "audit.quarantine.load_id": "Load attempt that read the row (audit.loads.load_id).",
    "audit.quarantine.file_name": "File the row came from.",
    "audit.quarantine.table_name": "Raw table the row was meant for.",
    "audit.quarantine.line_number": "1-based line of the row in the file (the header is line 1).",
    "audit.quarantine.column_name": "Offending column; NULL for problems of the whole row.",
    "audit.quarantine.value": "The offending value as text.",
    "audit.quarantine.reason": "Why the row was refused, in plain English.",
}


LOAD_ID_COMMENT = "The load that brought the row (audit.loads.load_id); dbt models read only new loads."


class IngestError(Exception):
    """The load could not run at all (no files, warehouse locked or of another layout)."""


class FileRejected(Exception):
    """A file-level problem: the file cannot be loaded and the whole load rolls back."""


@dataclass
class FileReport:
    """What happened to one file of a load."""

    file_name: str
    table_name: str
    source_path: str
    status: str = "pending"
    """loaded, skipped or rejected once the load is over."""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""
    checksum: str | None = None
    file_bytes: int = 0
    started_at: datetime = field(default_factory=lambda: _now())
    finished_at: datetime | None = None
    rolled_back: bool = False
    """Rejected only because another file of the folder was: the file itself had no problem."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: checksum (waiting for it), read, checks, store."""

    @property
    def seconds(self) -> float:
        """Time spent on the file."""
        return ((self.finished_at or self.started_at) - self.started_at).total_seconds()


@dataclass
class IngestReport:
    """The outcome of one `ingest_folder` call, file by file."""

    load_id: int
    source: Path
    files: list[FileReport]
    ignored: list[str] = field(default_factory=list)
    """CSV files of the folder that are none of the eight Kaggle files."""
    commit_seconds: float = 0.0
    """Time DuckDB took to commit the load (writing the new rows to disk)."""

    @property
    def rejected_files(self) -> list[FileReport]:
        """Files with a file-level problem (not those only rolled back because of another file)."""
        return [f for f in self.files if f.status == "rejected" and not f.rolled_back]

    @property
    def committed(self) -> bool:
        """True when the load changed the raw tables' state as reported (nothing was rolled back)."""
        return not any(f.status == "rejected" for f in self.files)

    def as_table(self) -> RichTable:
        """A rich table with one line per file."""
        verdict = "committed" if self.committed else "rolled back: the warehouse is unchanged"
        out = RichTable(title=f"Load {self.load_id} of {self.source} ({verdict})")
        numbers = ("rows read", "loaded", "quarantined", "MB", "seconds")
        for name in ("file", "status", *numbers, "message"):
            out.add_column(name, justify="right" if name in numbers else "left", overflow="fold")
        styles = {"loaded": "green", "skipped": "dim", "rejected": "bold red"}
        for f in self.files:
            out.add_row(
                f.file_name,
                f"[{styles.get(f.status, '')}]{f.status}[/]",
                f"{f.rows_read:,}",
                f"{f.rows_loaded:,}",
                f"{f.rows_quarantined:,}",
                f"{f.file_bytes / 1e6:,.1f}",
                f"{f.seconds:.1f}",
                f.message,
            )
        for name in self.ignored:
            out.add_row(name, "ignored", "", "", "", "", "", "not one of the Kaggle files")
        return out


def ingest_folder(source: Path, settings: Settings, *, progress: bool = True) -> IngestReport:
    """Load the Kaggle CSVs of `source` into the warehouse in one transaction, checked."""
    source = Path(source).resolve()
    found, ignored = find_files(source)
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM audit.loads").fetchone()[0]
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


def find_files(source: Path) -> tuple[list[tuple[Table, Path]], list[str]]:
    """The Kaggle files of a folder in load order (parents first), and the names of other CSV files."""
    if not source.is_dir():
        raise IngestError(f"{source} is not a folder")
    contract = tables()
    found = []
    for table in contract.values():
        candidates = [p for p in (source / table.file_name, source / f"{table.file_name}.gz") if p.is_file()]
        if len(candidates) > 1:
            raise IngestError(f"{source} holds both {candidates[0].name} and {candidates[1].name}; keep one")
        found += [(table, p) for p in candidates]
    known = {p.name for _, p in found}
    ignored = sorted(p.name for p in source.iterdir() if p.name.endswith((".csv", ".csv.gz")) and p.name not in known)
    if not found:
        names = ", ".join(t.file_name for t in contract.values())
        raise IngestError(f"{source} holds none of the Kaggle files ({names})")
    return found, ignored


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


def columns_of(table: Table) -> tuple[Column, ...]:
    """The contract's columns with clean names (the dictionary spells some with a trailing space)."""
    return _clean_columns(table.name)


@cache
def _clean_columns(table_name: str) -> tuple[Column, ...]:
    """Columns of a contract table, names stripped of spaces."""
    return tuple(dataclasses.replace(c, name=c.name.strip()) for c in tables()[table_name].columns)


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
    if "audit.loads" not in existing:
        con.execute(AUDIT_DDL)
        con.execute(
            ";\n".join(
                f"COMMENT ON {'TABLE' if target.count('.') == 1 else 'COLUMN'} {target} IS {_literal(text)}"
                for target, text in AUDIT_COMMENTS.items()
            )
        )
    for table in tables().values():
        if f"raw.{table.name}" in existing:
            _check_layout(con, table)
        else:
            _create_raw_table(con, table)


def _create_raw_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create raw.<table> with the contract's columns and types plus _load_id, and document it."""
    columns = ", ".join(f"{_q(c.name)} {c.type}" for c in columns_of(table))
    name = f"raw.{_q(table.name)}"
    about = f"Rows of {table.file_name} that passed the checks of credit-scoring ingest."
    statements = [
        f"CREATE TABLE {name} ({columns}, _load_id BIGINT NOT NULL)",
        f"COMMENT ON TABLE {name} IS {_literal(about)}",
        *(f"COMMENT ON COLUMN {name}.{_q(c.name)} IS {_literal(c.description)}" for c in columns_of(table)),
        f"COMMENT ON COLUMN {name}._load_id IS {_literal(LOAD_ID_COMMENT)}",
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
    layouts: dict[str, _Layout] = {}
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
            _write_audit(con, load_id, reports)
            start = time.perf_counter()
            con.execute("COMMIT")
            report.commit_seconds = time.perf_counter() - start
            return
        con.execute("ROLLBACK")
    _mark_rolled_back(reports)
    _write_audit(con, load_id, reports)


def _mark_rolled_back(reports: list[FileReport]) -> None:
    """After a rollback: files with a problem keep it, the others say they were not loaded because of them."""
    culprits = ", ".join(r.file_name for r in reports if r.status == "rejected")
    for r in reports:
        if r.status in ("pending", "loaded"):
            r.message = f"not loaded: the load was rolled back because {culprits} was rejected"
            r.status, r.rolled_back = "rejected", True
        if r.status == "rejected":
            r.rows_read = r.rows_loaded = r.rows_quarantined = 0
        r.finished_at = r.finished_at or _now()


def _load_one(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    table: Table,
    path: Path,
    layout: _Layout,
    digest: Future[str],
    report: FileReport,
    bar: Progress,
) -> None:
    """Load one file into raw.<table> inside the open transaction, filling in its report."""
    task = bar.add_task(path.name, total=4)
    report.started_at = _now()
    with _timed(report, "checksum"):
        report.checksum = digest.result()
    bar.advance(task)
    if con.execute(
        "SELECT count(*) FROM audit.loads WHERE table_name = ? AND checksum = ? AND status = 'loaded'",
        [table.name, report.checksum],
    ).fetchone()[0]:
        report.status, report.message = "skipped", "already loaded (same checksum); nothing changed"
    else:
        try:
            _FileLoad(con, load_id, table, path, layout).run(report, lambda: bar.advance(task))
        except FileRejected as problem:  # the rollback that follows drops the temporary tables
            report.status, report.message = "rejected", f"{path.name}: {problem}"
        else:
            _drop_temporaries(con)
    bar.update(task, completed=4)
    report.finished_at = _now()


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes, as hex."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_audit(con: duckdb.DuckDBPyConnection, load_id: int, reports: list[FileReport]) -> None:
    """Record one audit.loads row per file."""
    con.executemany(
        "INSERT INTO audit.loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                load_id,
                r.file_name,
                r.table_name,
                r.source_path,
                r.checksum,
                r.file_bytes,
                r.rows_read,
                r.rows_loaded,
                r.rows_quarantined,
                r.status,
                r.message,
                r.started_at,
                r.finished_at,
            ]
            for r in reports
        ],
    )


# ---------------------------------------------------------------- file-level checks (header, bytes)


@dataclass(frozen=True)
class _Layout:
    """How to read one file: its encoding and header columns (in file order)."""

    encoding: str
    header: tuple[str, ...]


def inspect_file(path: Path, table: Table) -> _Layout:
    """Check a file's bytes and header against the contract; raise FileRejected naming the problem."""
    head, tail = _head_and_tail(path)
    if not head:
        raise FileRejected("empty file (0 bytes)")
    if b"\x00" in head or head[:2] == b"\x1f\x8b" or head[:4] == b"PK\x03\x04":
        raise FileRejected("unreadable: binary content, not a CSV text file")
    if not path.name.endswith(".gz") and not tail.endswith(b"\n"):
        raise FileRejected(
            "truncated: the file does not end with a line break, so its last line is cut "
            "short (if the file is complete, add a final line break)"
        )
    encoding = _encoding(head)
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode(encoding, errors="replace").lstrip("\ufeff")
    header = tuple(h.strip() for h in next(csv.reader(io.StringIO(first_line)), []))
    if not header:
        raise FileRejected("the first line is empty; expected the header line of column names")
    required = [c.name for c in columns_of(table)]
    if len(header) == 1 and len(required) > 1:
        found = next((d for d in (";", "\t", "|") if d in first_line), None)
        raise FileRejected(
            f"wrong delimiter: the header is separated by {found!r}, expected ','"
            if found
            else "the header has a single column; expected comma-separated columns"
        )
    names = header[1:] if header and header[0] in INDEX_COLUMNS else header
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise FileRejected(f"duplicate column names in the header: {', '.join(dupes)}")
    missing = [c for c in required if c not in names]
    if missing:
        raise FileRejected(f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)}")
    unknown = [c for c in names if c not in required]
    if unknown:
        raise FileRejected(
            f"unknown column{'s' if len(unknown) > 1 else ''} not in the schema contract: {', '.join(unknown)}"
        )
    return _Layout(encoding, header)


def _head_and_tail(path: Path) -> tuple[bytes, bytes]:
    """The first and last bytes of a file (decompressed for .gz)."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read(SNIFF_BYTES), b""
        except (OSError, EOFError) as error:
            raise FileRejected(f"unreadable: not a valid gzip file ({error})") from error
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        f.seek(max(0, path.stat().st_size - 1))
        return head, f.read(1)


def _encoding(head: bytes) -> str:
    """utf-8 unless the first bytes are not valid UTF-8, then latin-1 (DuckDB retries later bytes)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut by the sniff boundary
            return "latin-1"
    return "utf-8"


# ---------------------------------------------------------------- one file, in DuckDB SQL

STRUCTURAL = {
    "MISSING COLUMNS": "line {line} has too few fields ({message}); the file is truncated or malformed",
    "TOO MANY COLUMNS": "line {line} has too many fields ({message}); wrong delimiter or unquoted comma",
    "UNQUOTED VALUE": "line {line}: unterminated or misplaced quote; the file is truncated or malformed",
    "LINE SIZE OVER MAXIMUM": "line {line} is too long; not a CSV file of the contract",
}


class _FileLoad:
    """Stage one CSV in a temporary table, find its problems, append its good rows to raw.<table>."""

    def __init__(self, con: duckdb.DuckDBPyConnection, load_id: int, table: Table, path: Path, layout: _Layout) -> None:
        self.con, self.load_id, self.table, self.path, self.layout = con, load_id, table, path, layout
        self.raw = f"raw.{_q(table.name)}"

    def run(self, report: FileReport, step: Callable[[], None]) -> None:
        """Do the whole job for the file and fill in the counts of its report."""
        with _timed(report, "read"):
            self._stage()
        step()
        with _timed(report, "checks"):
            self._find_problems()
        step()
        with _timed(report, "store"):
            loaded = self._store()
        read, quarantined = self.con.execute(
            "SELECT (SELECT count(*) FROM _stage) + (SELECT count(DISTINCT line) FROM _rejects WHERE "
            "error_type = 'CAST'), (SELECT count(DISTINCT coalesce(line, -k)) FROM _problems)"
        ).fetchone()
        if read != loaded + quarantined:  # a broken invariant is a bug, never silently reported
            raise RuntimeError(f"{self.path.name}: {read} rows read != {loaded} loaded + {quarantined} quarantined")
        report.status = "loaded"
        report.rows_read, report.rows_loaded, report.rows_quarantined = read, loaded, quarantined
        report.message = self._summary(read, quarantined)

    def _stage(self) -> None:
        """Read the CSV with the contract's types into _stage, each row's value problems in _row_problems."""
        encoding = self.layout.encoding
        try:
            self._read_csv(encoding)
            if encoding == "utf-8" and self._first_reject(("INVALID ENCODING", "INVALID UNICODE")):
                _drop_temporaries(self.con)
                self._read_csv("latin-1")
        except duckdb.Error as error:  # e.g. a corrupt .gz; the transaction is rolled back
            raise FileRejected(f"unreadable: {str(error).splitlines()[0]}") from error
        problem = self._first_reject(tuple(STRUCTURAL))
        if problem is not None:
            kind, line, message = problem
            raise FileRejected(STRUCTURAL[kind].format(line=line, message=message))

    def _read_csv(self, encoding: str) -> None:
        """CREATE TEMP TABLE _stage from the file; unparsable cells and broken lines land in _rejects."""
        header = self.layout.header
        kinds = {c.name: c.type for c in columns_of(self.table)}
        read_types = [
            ("_index", "VARCHAR") if h in INDEX_COLUMNS else (h, "VARCHAR" if kinds[h] == TEXT else "DOUBLE")
            for h in header
        ]
        columns = "{" + ", ".join(f"{_literal(h)}: '{t}'" for h, t in read_types) + "}"
        scan = (
            f"read_csv({_literal(str(self.path))}, header = true, auto_detect = false, delim = ',', "
            f"quote = '\"', escape = '\"', encoding = '{encoding}', columns = {columns}, "
            "store_rejects = true, ignore_errors = true, rejects_table = '_rejects', "
            "rejects_scan = '_reject_scans')"
        )
        values = ", ".join(self._typed(c.name, c.type) for c in columns_of(self.table))
        self.con.execute(
            f"CREATE TEMP TABLE _stage AS SELECT {values}, "
            f"{self._row_problems()} AS _row_problems FROM (SELECT * FROM {scan})"
        )

    @staticmethod
    def _typed(name: str, kind: str) -> str:
        """The staged value of a column: integers converted from the DOUBLE the reader parsed."""
        return f"TRY_CAST({_q(name)} AS BIGINT) AS {_q(name)}" if kind == INT else _q(name)

    def _row_problems(self) -> str:
        """SQL for the list of {column_name, value, reason} of one row's value problems (NULL if none)."""
        checks = list(self._value_checks())
        if not checks:
            return "NULL::STRUCT(column_name VARCHAR, value VARCHAR, reason VARCHAR)[]"
        structs = ", ".join(
            f"CASE WHEN {bad} THEN {{'column_name': {_literal(col)}, 'value': {value}, 'reason': {reason}}} END"
            for col, bad, value, reason in checks
        )
        any_bad = " OR ".join(f"({bad})" for _, bad, _, _ in checks)
        return f"CASE WHEN {any_bad} THEN list_filter([{structs}], lambda p: p IS NOT NULL) END"

    def _value_checks(self) -> Iterator[tuple[str | None, str, str, str]]:
        """(column, SQL 'is bad' condition, SQL value text, SQL reason) of every per-row check."""
        table = self.table
        kinds = {c.name: c.type for c in columns_of(table)}
        for c in columns_of(table):
            col = _q(c.name)
            if c.type != TEXT:
                yield c.name, f"NOT isfinite({col})", _text(col, c.type), _literal("not a finite number")
            if c.type == INT:
                yield (
                    c.name,
                    f"isfinite({col}) AND {col} <> trunc({col})",
                    _text(col, c.type),
                    _literal(f"not an integer (column {c.name} holds whole numbers)"),
                )
            if c.domain is not None:
                allowed = ", ".join(_literal(v) for v in c.domain)
                yield (
                    c.name,
                    f"{col} NOT IN ({allowed})",
                    col,
                    f"'value ''' || {col} || ''' not in the allowed values of {c.name}'",
                )
            if c.name in table.key:
                yield c.name, f"{col} IS NULL", "NULL", _literal(f"key column {c.name} is empty")
            elif c.name in table.parents:
                yield c.name, f"{col} IS NULL", "NULL", _literal(f"parent id {c.name} is empty")
        for rule in RULES:
            if table.name in rule.tables:
                col = _q(rule.column)
                yield (
                    rule.column,
                    f"NOT ({rule.holds.format(c=col)})",
                    _text(col, kinds[rule.column]),
                    _literal(rule.reason),
                )

    def _first_reject(self, kinds: tuple[str, ...]) -> tuple[str, int, str] | None:
        """The first reader error of the given kinds (kind, line, message), if any."""
        marks = ", ".join(_literal(k) for k in kinds)
        return self.con.execute(
            f"SELECT error_type, line, error_message FROM _rejects WHERE error_type IN ({marks}) ORDER BY line LIMIT 1"
        ).fetchone()

    def _find_problems(self) -> None:
        """Collect every row problem in _problems (k: position among staged rows; line: reader rejects)."""
        con, key = self.con, self.table.key
        base = con.execute("SELECT coalesce(min(rowid), 0) FROM _stage").fetchone()[0]
        self.k = f"(s.rowid - {base})"
        # Rows the reader refused (a cell that is not a number) never reach _stage; map positions to lines.
        con.execute(
            "CREATE TEMP TABLE _skips AS SELECT line - row_number() OVER (ORDER BY line) - 1 AS adj "
            "FROM (SELECT DISTINCT line FROM _rejects WHERE error_type = 'CAST')"
        )
        con.execute("CREATE TEMP MACRO _line_of(k) AS k + 2 + (SELECT count(*) FROM _skips WHERE adj <= k)")
        con.execute(
            "CREATE TEMP TABLE _problems (k BIGINT, line BIGINT, column_name VARCHAR, value VARCHAR, reason VARCHAR)"
        )
        con.execute("""
            INSERT INTO _problems
            SELECT NULL, line, column_name,
                   regexp_extract(error_message, 'Could not convert string "(.*)" to', 1),
                   'not a number (column ' || column_name || ')'
            FROM _rejects WHERE error_type = 'CAST'""")
        self._add_problems(
            "p.column_name",
            "p.value",
            "p.reason",
            "(SELECT rowid, unnest(_row_problems) AS p FROM _stage WHERE _row_problems IS NOT NULL) s",
        )
        if key:
            self._duplicates_in_file(key)
            self._duplicates_in_warehouse(key)
        implied = _implied_parents(self.table)
        for column, parent in self.table.parents.items():
            if column not in implied:
                self._orphans(column, parent)
        for column, (via, via_table) in implied.items():
            self._mismatch(column, via, via_table)
            # Where the row's `via` parent exists the column matches it; check it only where it does not.
            self._orphans(
                column,
                self.table.parents[column],
                f"{self.k} IN (SELECT k FROM _problems WHERE column_name = {_literal(via)})",
            )

    def _add_problems(self, column: str, value: str, reason: str, source: str, where: str = "") -> None:
        """INSERT INTO _problems one row per staged row `s` of `source` (SQL pieces) matching `where`."""
        self.con.execute(
            f"INSERT INTO _problems SELECT {self.k}, NULL, {column}, {value}, {reason} "
            f"FROM {source} {'WHERE ' + where if where else ''}"
        )

    def _duplicates_in_file(self, key: tuple[str, ...]) -> None:
        """Quarantine every repeat of a key within the file; the first occurrence stays."""
        cols = ", ".join(_q(c) for c in key)
        not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in key)
        repeats = (
            f"(SELECT s.rowid, {cols}, min({self.k}) OVER (PARTITION BY {cols}) AS first_k "
            f"FROM _stage s SEMI JOIN (SELECT {cols} FROM _stage WHERE {not_null} GROUP BY ALL "
            f"HAVING count(*) > 1) d USING ({cols})) s"
        )
        reason = f"'duplicate key ' || {_key_label(key)} || ' (also on line ' || _line_of(first_k) || ')'"
        self._add_problems(_literal(", ".join(key)), _key_text(key), reason, repeats, f"{self.k} > first_k")

    def _duplicates_in_warehouse(self, key: tuple[str, ...]) -> None:
        """Quarantine rows whose key is already stored (never overwrite); applications share SK_ID_CURR."""
        cols = ", ".join(_q(c) for c in key)
        for name in APPLICATIONS if self.table.name in APPLICATIONS else (self.table.name,):
            if self.con.execute(f"SELECT count(*) FROM raw.{_q(name)}").fetchone()[0]:
                self._add_problems(
                    _literal(", ".join(key)),
                    _key_text(key),
                    f"'duplicate key ' || {_key_label(key)} || ' (already stored in {name})'",
                    f"_stage s SEMI JOIN (SELECT {cols} FROM raw.{_q(name)}) w USING ({cols})",
                )

    def _orphans(self, column: str, parent: str, among: str = "") -> None:
        """Quarantine rows whose parent id is in no stored parent row (this load's parents are stored)."""
        col = _q(column)
        parents = APPLICATIONS if parent == "application" else (parent,)
        ids = " UNION ALL ".join(f"SELECT {col} AS id FROM raw.{_q(p)}" for p in parents)
        self._add_problems(
            _literal(column),
            f"CAST(s.{col} AS VARCHAR)",
            f"'orphan: {column} ' || s.{col} || ' is in no {parent}'",
            f"_stage s ANTI JOIN ({ids}) p ON s.{col} = p.id",
            f"s.{col} IS NOT NULL" + (f" AND {among}" if among else ""),
        )

    def _mismatch(self, column: str, via: str, via_table: str) -> None:
        """Quarantine rows whose `column` differs from that of their `via` parent row (e.g. SK_ID_CURR)."""
        col, key = _q(column), _q(via)
        self._add_problems(
            _literal(column),
            f"CAST(s.{col} AS VARCHAR)",
            f"'{column} ' || s.{col} || ' differs from ' || p.{col} || ', the {column} of "
            f"{via_table} {via}=' || s.{key}",
            f"_stage s JOIN raw.{_q(via_table)} p USING ({key})",
            f"s.{col} <> p.{col}",
        )

    def _store(self) -> int:
        """Append the rows without problems to the raw table and the problems to audit.quarantine."""
        con, cols = self.con, ", ".join(_q(c.name) for c in columns_of(self.table))
        has_problems = con.execute("SELECT count(*) FROM _problems WHERE k IS NOT NULL").fetchone()[0] > 0
        keep = f"WHERE {self.k} NOT IN (SELECT k FROM _problems WHERE k IS NOT NULL)" if has_problems else ""
        loaded = con.execute(f"INSERT INTO {self.raw} SELECT {cols}, {self.load_id} FROM _stage s {keep}")
        loaded = loaded.fetchone()[0]
        con.execute(
            """
            INSERT INTO audit.quarantine
            SELECT ?, ?, ?, coalesce(line, _line_of(k)) AS l, column_name, value, reason FROM _problems
            ORDER BY l, column_name""",
            [self.load_id, self.path.name, self.table.name],
        )
        return loaded

    def _summary(self, read: int, quarantined: int) -> str:
        """A one-line account of the file for the report."""
        if read == 0:
            return "header only: no rows (accepted)"
        if not quarantined:
            return "all rows loaded"
        top = self.con.execute(
            "SELECT coalesce(line, _line_of(k)) AS l, column_name, reason FROM _problems ORDER BY l LIMIT 1"
        ).fetchone()
        where = f"line {top[0]}" + (f", {top[1]}" if top[1] else "")
        return (
            f"{quarantined:,} row{'s' if quarantined > 1 else ''} quarantined, first: {where}: {top[2]} "
            f"(see audit.quarantine, load_id {self.load_id})"
        )


def _implied_parents(table: Table) -> dict[str, tuple[str, str]]:
    """Parent ids that another parent row also holds: column -> (via column, via table).

    POS_CASH_balance.SK_ID_CURR is implied by SK_ID_PREV: previous_application rows carry a checked
    SK_ID_CURR, so a balance row must hold the same one.
    """
    contract = tables()
    return {
        column: (via, via_table)
        for column, parent in table.parents.items()
        for via, via_table in table.parents.items()
        if via_table in contract and contract[via_table].parents.get(column) == parent
    }


@contextmanager
def _timed(report: FileReport, phase: str) -> Iterator[None]:
    """Add the seconds spent in the block to report.timings[phase]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        report.timings[phase] = report.timings.get(phase, 0.0) + time.perf_counter() - start


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables and macro of one file's load."""
    for name in ("_stage", "_rejects", "_reject_scans", "_skips", "_problems"):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute("DROP MACRO IF EXISTS temp._line_of")


# ---------------------------------------------------------------- small SQL helpers


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _text(col: str, kind: str) -> str:
    """SQL rendering a value as read (integers are read as DOUBLE) as text: 12000, 1.5, inf, Foo."""
    if kind == INT:
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return f"CAST({col} AS VARCHAR)" if kind != TEXT else col


def _key_text(key: tuple[str, ...]) -> str:
    """SQL for the key's values of row `s` as text: '5' or '5, -3'."""
    return " || ', ' || ".join(f"CAST(s.{_q(c)} AS VARCHAR)" for c in key)


def _key_label(key: tuple[str, ...]) -> str:
    """SQL for a readable key of row `s`: SK_ID_PREV=5 or (SK_ID_PREV, MONTHS_BALANCE)=(5, -3)."""
    if len(key) == 1:
        return f"'{key[0]}=' || {_key_text(key)}"
    return f"'({', '.join(key)})=(' || {_key_text(key)} || ')'"


@contextmanager
def _progress(show: bool) -> Iterator[Progress]:
    """A rich progress display with one bar per file (hidden when `show` is false)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), disable=not show)
    with bar:
        yield bar


def _now() -> datetime:
    """The current UTC time, without time zone (audit columns are TIMESTAMP in UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)
