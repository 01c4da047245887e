"""The Parquet lake Spark reads: the validated raw tables of the DuckDB warehouse, one folder per ingest load.

`export_lake` writes `<lake>/<table>/_load_id=<n>/` for every load the lake does not hold yet, with DuckDB's COPY.
Raw tables are append-only, so a load's folder never changes once written: a nightly export only adds the new
loads' folders. Each folder is written under a hidden temporary name (Spark ignores names starting with '.') and
renamed into place, so a reader never sees half a load and an interrupted export is redone by the next one.
dbt's Spark run registers the folders as the tables raw.<table> (macros/lake.sql)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.database import private_dir, private_file
from warehouse.settings import Settings
from warehouse.spark import lake_dir

PARTITION = "_load_id"


@dataclass(frozen=True)
class LakeExport:
    """What one export wrote: the new load folders per table."""

    written: dict[str, list[int]]

    @property
    def folders(self) -> int:
        """Load folders written in all."""
        return sum(len(loads) for loads in self.written.values())


def export_lake(settings: Settings) -> LakeExport:
    """Write the raw tables' loads the lake lacks as Parquet folders; return what was written."""
    lake = private_dir(lake_dir(settings))
    written = {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for table in raw_tables(con):
            written[table] = export_table(con, table, private_dir(lake / table))
    return LakeExport(written)


def raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of the warehouse's schema `raw`."""
    rows = con.execute("select table_name from duckdb_tables() where schema_name = 'raw' order by 1").fetchall()
    return [name for (name,) in rows]


def exported_loads(folder: Path) -> set[int]:
    """The loads already in a table's lake folder."""
    prefix = f"{PARTITION}="
    return {int(p.name[len(prefix) :]) for p in folder.glob(f"{prefix}*") if p.is_dir()}


def export_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> list[int]:
    """Write the loads of raw.<table> missing from `folder`, one `_load_id=<n>` folder each; return them."""
    loads = [n for (n,) in con.execute(f'select distinct {PARTITION} from raw."{table}" order by 1').fetchall()]
    missing = [n for n in loads if n not in exported_loads(folder)]
    if not missing:
        return []
    staging = folder / ".export"
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted export left
    con.execute(
        f'copy (select * from raw."{table}" where {PARTITION} in ({", ".join(map(str, missing))})) '
        f"to '{staging}' (format parquet, partition_by ({PARTITION}), filename_pattern 'part_{{i}}')"
    )
    for load in missing:
        publish(staging / f"{PARTITION}={load}", folder / f"{PARTITION}={load}")
    shutil.rmtree(staging, ignore_errors=True)
    return missing


def publish(written: Path, final: Path) -> None:
    """Make a written load folder owner-only, then rename it into place (atomic on one file system)."""
    private_dir(written)
    for file in written.iterdir():
        private_file(file)
    written.rename(final)
