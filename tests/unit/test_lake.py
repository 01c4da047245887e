"""The Parquet lake for Spark: one folder per ingest load, written once, owner-only, readable as the raw table."""

from __future__ import annotations

import duckdb

from featurestore.lake import export_lake
from warehouse.settings import Settings
from warehouse.spark import lake_dir


def _warehouse(settings: Settings, loads: list[int]) -> None:
    """A warehouse whose raw.bureau holds two rows per load."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create table if not exists raw.bureau (SK_ID_CURR bigint, CREDIT_ACTIVE varchar, _load_id bigint)")
        for load in loads:
            con.execute("insert into raw.bureau values (?, 'Active', ?), (?, NULL, ?)", [load, load, -load, load])


def test_export_writes_each_load_once_and_only_new_ones(settings: Settings) -> None:
    _warehouse(settings, [1, 2])
    assert export_lake(settings).written == {"bureau": [1, 2]}
    folder = lake_dir(settings) / "bureau"
    first = {p.name: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}
    (folder / ".export").mkdir()  # what an interrupted export leaves behind
    assert export_lake(settings).written == {"bureau": []}
    _warehouse(settings, [3])
    assert export_lake(settings).written == {"bureau": [3]}
    assert sorted(p.name for p in folder.iterdir()) == ["_load_id=1", "_load_id=2", "_load_id=3"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.rglob("*.parquet") if "=3" not in str(p.parent)} == first
    assert all(p.stat().st_mode & 0o077 == 0 for p in [lake_dir(settings), *lake_dir(settings).rglob("*")])


def test_the_lake_reads_back_as_the_raw_table(settings: Settings) -> None:
    _warehouse(settings, [1, 2])
    export_lake(settings)
    files = str(lake_dir(settings) / "bureau" / "*" / "*.parquet")
    rows = duckdb.execute(
        "select SK_ID_CURR, CREDIT_ACTIVE, _load_id from read_parquet(?, hive_partitioning = true) order by 1", [files]
    ).fetchall()
    assert rows == [(-2, None, 2), (-1, None, 1), (1, "Active", 1), (2, "Active", 2)]
