"""Documented tables (TableDoc) on Spark: the same columns, in the same order, with Spark's equivalent types and
the same comments, so a table written on Spark reads like its DuckDB twin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from warehouse.tables import TableDoc

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType, StructType


class UnknownTypeError(ValueError):
    """A TableDoc column type with no Spark equivalent declared here."""


class SchemaMismatchError(RuntimeError):
    """A Spark table exists with other columns than its declaration."""


def spark_type(kind: str, placeholders: Mapping[str, DataType] | None = None) -> DataType:
    """The Spark type of a TableDoc column type (DuckDB's name); `placeholders` fill types such as {hash_type}."""
    from pyspark.sql import types as t

    if kind.startswith("{") and kind.endswith("}") and placeholders and kind[1:-1] in placeholders:
        return placeholders[kind[1:-1]]
    if kind.endswith("[]"):
        return t.ArrayType(spark_type(kind[:-2], placeholders))
    simple: dict[str, DataType] = {
        "BIGINT": t.LongType(),
        "INTEGER": t.IntegerType(),
        "DOUBLE": t.DoubleType(),
        "VARCHAR": t.StringType(),
        "BOOLEAN": t.BooleanType(),
        "DATE": t.DateType(),
        # DuckDB's TIMESTAMP has no time zone (the warehouse stores UTC): Spark's TIMESTAMP_NTZ is the same.
        "TIMESTAMP": t.TimestampNTZType(),
    }
    try:
        return simple[kind.split()[0].upper()]
    except (KeyError, IndexError) as error:
        raise UnknownTypeError(f"No Spark type for the column type {kind!r}") from error


def spark_schema(table: TableDoc, placeholders: Mapping[str, DataType] | None = None) -> StructType:
    """The Spark schema of a documented table: its columns in order, typed, with their comments."""
    from pyspark.sql.types import StructField, StructType

    return StructType(
        [
            StructField(name, spark_type(kind, placeholders), nullable=True, metadata={"comment": comment})
            for name, kind, comment in table.columns
        ]
    )


def create_spark_table(
    spark: SparkSession, table: TableDoc, placeholders: Mapping[str, DataType] | None = None
) -> StructType:
    """Create the table (a managed Parquet table, and its database) if missing; return its declared schema."""
    schema = spark_schema(table, placeholders)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.schema}")
    if not spark.catalog.tableExists(table.qualified):
        spark.catalog.createTable(table.qualified, source="parquet", schema=schema, description=table.comment)
    present = [field.name for field in spark.table(table.qualified).schema.fields]
    if present != table.column_names:
        raise SchemaMismatchError(
            f"Spark table {table.qualified} has the columns {present}, not the declared {table.column_names}: "
            "drop it or migrate it."
        )
    return schema
