"""Who was scored, and when: each client's first score by the champion, the decision an outcome is judged against.

Ingestion checks an outcome against it (an outcome of a client never scored, or observed before the decision, is
quarantined); backtesting (monitoring.performance) groups clients by it into scoring cohorts.
"""

from __future__ import annotations

import duckdb

from warehouse.vocabulary import band_sql


def present_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """schema.table of every table of the database."""
    return {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}


def first_scores_sql(con: duckdb.DuckDBPyConnection, predictions: str = "scores.predictions") -> str:
    """SQL of each scored client's first successful score (from `predictions`, a table shaped like
    scores.predictions): SK_ID_CURR, run_id, model_version, probability, decision, threshold, points, score_band,
    scored_at and decided_on, the night whose batch brought the client (ops.job_runs), else the day of the score.
    No rows when nothing was ever scored."""
    present = present_tables(con)
    if not {predictions, "scores.runs"} <= present:
        return (
            "SELECT NULL::BIGINT AS SK_ID_CURR, NULL::BIGINT AS run_id, NULL::BIGINT AS model_version, "
            "NULL::DOUBLE AS probability, NULL::VARCHAR AS decision, NULL::DOUBLE AS threshold, "
            "NULL::DOUBLE AS points, NULL::VARCHAR AS score_band, NULL::TIMESTAMP AS scored_at, "
            "NULL::DATE AS decided_on WHERE false"
        )
    nights = (
        "SELECT a.SK_ID_CURR, max(j.night) AS night FROM raw.application_test a "
        "JOIN ops.job_runs j ON j.load_id = a._load_id GROUP BY ALL"
        if "ops.job_runs" in present
        else "SELECT NULL::BIGINT AS SK_ID_CURR, NULL::DATE AS night WHERE false"
    )
    first = ", ".join(
        f"arg_min(p.{c}, p.run_id) AS {c}"
        for c in ("run_id", "model_version", "probability", "decision", "threshold", "points", "scored_at")
    )
    return f"""
        SELECT f.*, {band_sql("f.points")} AS score_band, coalesce(n.night, CAST(f.scored_at AS DATE)) AS decided_on
        FROM (SELECT p.SK_ID_CURR, {first} FROM {predictions} AS p JOIN scores.runs AS r USING (run_id)
              WHERE r.status = 'succeeded' GROUP BY p.SK_ID_CURR) AS f
        LEFT JOIN ({nights}) AS n USING (SK_ID_CURR)"""
