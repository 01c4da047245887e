"""The audit trail of ingestion: audit.loads (one row per file per attempt), audit.quarantine (one row per
refused row and problem), and the report printed for each load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
from rich.markup import escape
from rich.table import Table as RichTable

from warehouse.clock import utc_now
from warehouse.tables import TableDoc

LOADS = TableDoc(
    "audit",
    "loads",
    "One row per file per load attempt of `credit-scoring ingest`.",
    (
        ("load_id", "BIGINT NOT NULL", "Number of the load attempt (one per ingested folder); raw tables' _load_id."),
        ("file_name", "VARCHAR NOT NULL", "Name of the CSV file in the ingested folder."),
        ("table_name", "VARCHAR NOT NULL", "Raw table the file feeds (raw.<table_name>)."),
        ("source_path", "VARCHAR", "Absolute path of the file when it was loaded."),
        ("checksum", "VARCHAR", "SHA-256 of the file bytes; a file already loaded with this checksum is skipped."),
        ("file_bytes", "BIGINT", "Size of the file in bytes."),
        ("rows_read", "BIGINT", "Data rows read from the file (rows_loaded + rows_quarantined)."),
        ("rows_loaded", "BIGINT", "Rows appended to the raw table."),
        ("rows_quarantined", "BIGINT", "Rows sent to audit.quarantine instead of the raw table."),
        (
            "status",
            "VARCHAR NOT NULL CHECK (status IN ('loaded', 'skipped', 'rejected'))",
            "loaded, skipped (same checksum already loaded) or rejected (file-level problem, or another file of "
            "the folder was rejected and the load rolled back).",
        ),
        ("message", "VARCHAR", "What happened, in plain English (the problem when rejected)."),
        ("started_at", "TIMESTAMP", "When the work on the file started (UTC)."),
        ("finished_at", "TIMESTAMP", "When the work on the file finished (UTC)."),
        (
            "warnings",
            "VARCHAR",
            "Harmless oddities the file was loaded despite (blank lines, spaces around values, column names in "
            "another letter case), separated by '; '; NULL when none.",
        ),
    ),
)

QUARANTINE = TableDoc(
    "audit",
    "quarantine",
    "One row per rejected row and problem; a row with several problems has several rows.",
    (
        ("load_id", "BIGINT NOT NULL", "Load attempt that read the row (audit.loads.load_id)."),
        ("file_name", "VARCHAR NOT NULL", "File the row came from."),
        ("table_name", "VARCHAR NOT NULL", "Raw table the row was meant for."),
        ("line_number", "BIGINT", "1-based line of the row in the file (the header is line 1)."),
        ("column_name", "VARCHAR", "Offending column; NULL for problems of the whole row."),
        ("value", "VARCHAR", "The offending value as text."),
        ("reason", "VARCHAR NOT NULL", "Why the row was refused, in plain English."),
    ),
)

LOAD_ID_COMMENT = "The load that brought the row (audit.loads.load_id); dbt models read only new loads."


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
    started_at: datetime = field(default_factory=lambda: utc_now())
    finished_at: datetime | None = None
    rolled_back: bool = False
    """Rejected only because another file of the folder was: the file itself had no problem."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: checksum (waiting for it), read, checks, store."""
    warnings: list[str] = field(default_factory=list)
    """Harmless oddities the file was loaded despite."""
    rows_load_id: int | None = None
    """The load whose rows the file's content is in raw.<table>: this load when loaded, the earlier load of the
    same bytes when skipped, None when rejected."""

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
                escape(f.message) + "".join(f"\n[yellow]warning:[/] {escape(w)}" for w in f.warnings),
            )
        for name in self.ignored:
            out.add_row(name, "ignored", "", "", "", "", "", "not one of the Kaggle files")
        return out


def mark_rolled_back(reports: list[FileReport]) -> None:
    """After a rollback: files with a problem keep it, the others say they were not loaded because of them."""
    culprits = ", ".join(r.file_name for r in reports if r.status == "rejected")
    for r in reports:
        if r.status in ("pending", "loaded"):
            r.message = f"not loaded: the load was rolled back because {culprits} was rejected"
            r.status, r.rolled_back = "rejected", True
        if r.status == "rejected":
            r.rows_read = r.rows_loaded = r.rows_quarantined = 0
            r.rows_load_id = None
        r.finished_at = r.finished_at or utc_now()


def write_audit(con: duckdb.DuckDBPyConnection, load_id: int, reports: list[FileReport]) -> None:
    """Record one audit.loads row per file."""
    columns, marks = ", ".join(LOADS.column_names), ", ".join("?" * len(LOADS.columns))
    con.executemany(
        f"INSERT INTO {LOADS.qualified} ({columns}) VALUES ({marks})",
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
                "; ".join(r.warnings) or None,
            ]
            for r in reports
        ],
    )


@contextmanager
def timed(report: FileReport, phase: str) -> Iterator[None]:
    """Add the seconds spent in the block to report.timings[phase]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        report.timings[phase] = report.timings.get(phase, 0.0) + time.perf_counter() - start
