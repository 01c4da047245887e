"""Reference jobs measured beside a benchmarked step, in the same run, so that its ratio holds on a busy machine."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import duckdb

from warehouse.schema import tables


def plain_csv_load_seconds(folder: Path) -> float:
    """Seconds of a plain DuckDB read_csv of the Kaggle files in `folder` into a fresh file database (no checks)."""
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect(str(Path(scratch) / "plain.duckdb")) as con:
        start = time.perf_counter()
        for name, table in tables().items():
            path = folder / table.file_name
            if path.exists():
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM read_csv(?)', [str(path)])
        return time.perf_counter() - start
