"""Documented tables on Spark: the TableDoc declarations give the Spark schema (no JVM needed)."""

from __future__ import annotations

import pytest
from pyspark.sql import types as t

from scoring import score_tables as st
from warehouse.spark_tables import UnknownTypeError, spark_schema, spark_type


def test_scores_tables_keep_their_columns_order_types_and_comments() -> None:
    """Predictions: DuckDB's column names in order, Spark's equivalent types, the declared comments."""
    schema = spark_schema(st.PREDICTIONS, {"hash_type": t.StringType()})
    assert schema.names == st.PREDICTIONS.column_names
    kinds = {field.name: field.dataType for field in schema.fields}
    assert kinds["run_id"] == t.LongType() and kinds["probability"] == t.DoubleType()
    assert kinds["decision"] == t.StringType() and kinds["scored_at"] == t.TimestampNTZType()
    assert kinds["FEATURE_HASH"] == t.StringType()
    assert [f.metadata["comment"] for f in schema.fields] == [comment for _, _, comment in st.PREDICTIONS.columns]
    assert spark_schema(st.EXPLANATIONS)["rank"].dataType == t.IntegerType()


def test_lists_and_unknown_types() -> None:
    """VARCHAR[] is an array of strings; a type with no declared equivalent is a clear error."""
    assert spark_type("VARCHAR[]") == t.ArrayType(t.StringType())
    assert spark_type("BIGINT NOT NULL") == t.LongType()
    with pytest.raises(UnknownTypeError, match="HUGEINT"):
        spark_type("HUGEINT")
    with pytest.raises(UnknownTypeError, match="hash_type"):
        spark_type("{hash_type}")
