"""Read-only access to the published serving database, for the dashboard and analysts' scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from warehouse.settings import Settings


class ServingNotPublished(FileNotFoundError):
    """No serving database has been published yet."""


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
