"""Opening the working warehouse. DuckDB lets one process write a file at a time: a busy file gets a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


class WarehouseBusyError(RuntimeError):
    """The warehouse cannot be opened: another process has it open, or the file is not a database."""


def open_warehouse(path: Path, error: type[Exception] = WarehouseBusyError) -> duckdb.DuckDBPyConnection:
    """The warehouse opened for writing (created if missing), without DuckDB's progress bar.

    DuckDB's lock error is raised again as `error`, saying the file is in use by another process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as cause:
        if "lock" in str(cause).lower():
            raise error(f"warehouse {path} is in use by another process; retry later") from cause
        raise error(f"cannot open warehouse {path}: {cause}") from cause
    con.execute("SET enable_progress_bar = false")
    return con


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The one row of a query that always returns one (an aggregate: count, max...)."""
    rows = con.execute(sql, params).fetchall()  # fetched to the end: no pending result left on the connection
    if len(rows) != 1:
        raise RuntimeError(f"expected one row, got {len(rows)}: {sql}")
    return rows[0]
