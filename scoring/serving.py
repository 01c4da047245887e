"""Read-only access to the published serving database, for the dashboard and analysts' scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.settings import Settings
from warehouse.sql import literal

SERVING = "serving"
"""Catalog name of the attached serving file in a read_publication connection."""


class ServingNotPublished(FileNotFoundError):
    """No serving database has been published yet."""


class ServingUnreadable(RuntimeError):
    """The file at the serving path cannot be opened as a complete publication."""


@contextmanager
def read_publication(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the serving file as it is now, for a long-running reader (the
    dashboard, the read API): every query of one connection sees one whole publication.

    The file is attached to a private in-memory database: DuckDB would otherwise hand back a database instance
    that another thread still holds open, i.e. the previous publication."""
    con = duckdb.connect(":memory:")
    try:
        try:
            con.execute(f"ATTACH {literal(str(path))} AS {SERVING} (READ_ONLY)")
        except (duckdb.IOException, duckdb.InvalidInputException, duckdb.BinderException) as error:
            raise ServingUnreadable(
                f"The serving database {path} cannot be opened: it is not a complete publication"
            ) from error
        con.execute(f"USE {SERVING}")
        yield con
    finally:
        con.close()


@contextmanager
def connect_serving(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the serving database; close it soon (leave the `with` block).

    DuckDB reuses an open database within a process, so a connection held open keeps showing the
    publication it opened; a new connection after a publication sees the new file.
    """
    path = settings.serving_path
    if not path.is_file():
        raise ServingNotPublished(
            f"No serving database at {path}: run `credit-scoring score` to score clients and publish the results."
        )
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()
