"""The one clock: every timestamp the pipeline stores is UTC without a time zone (DuckDB TIMESTAMP)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current UTC time, without time zone."""
    return datetime.now(UTC).replace(tzinfo=None)
