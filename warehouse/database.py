"""Opening the working warehouse, and keeping data folders private.

DuckDB lets one process write a file at a time: a busy file gets a clear message. Applicant data is personal,
so every data folder the pipeline creates is owner-only (0700) and the database files it creates are 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import duckdb

from warehouse.errors import is_disk_full, plain_message

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
GROUP_OR_OTHER = stat.S_IRWXG | stat.S_IRWXO


class WarehouseBusyError(RuntimeError):
    """The warehouse cannot be opened: another process has it open, or the file is not a database."""


def private_dir(path: Path) -> Path:
    """Create a folder (and its missing parents) readable by its owner only; tighten it if we own it."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file of ours readable by its owner only (no-op if missing or someone else's)."""
    _tighten(path, PRIVATE_FILE)
    return path


def _tighten(path: Path, mode: int) -> None:
    """chmod to `mode` when the path is ours and group or others have any access."""
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & GROUP_OR_OTHER:
            path.chmod(mode)
    except FileNotFoundError:
        pass


def open_warehouse(path: Path, error: type[Exception] = WarehouseBusyError) -> duckdb.DuckDBPyConnection:
    """The warehouse opened for writing (created if missing, owner-only), without DuckDB's progress bar.

    DuckDB's lock error is raised again as `error`, saying the file is in use by another process.
    """
    private_dir(path.parent)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as cause:
        if "lock" in str(cause).lower():
            raise error(f"warehouse {path} is in use by another process; retry later") from cause
        if is_disk_full(cause):
            raise error(f"cannot open warehouse {path}: {plain_message(cause)}") from cause
        raise error(f"cannot open warehouse {path}: it is not a DuckDB database or cannot be read") from cause
    private_file(path)
    con.execute("SET enable_progress_bar = false")
    return con


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The one row of a query that always returns one (an aggregate: count, max...)."""
    rows = con.execute(sql, params).fetchall()  # fetched to the end: no pending result left on the connection
    if len(rows) != 1:
        raise RuntimeError(f"expected one row, got {len(rows)}: {sql}")
    return rows[0]
