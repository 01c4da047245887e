"""Principal reasons of each decision: the stored exact TreeSHAP contributions summed per reason code, stated in
the client's words with the client's own figures.

A refusal gets at most `max_reasons` codes whose summed contribution raised the risk (positive), strongest first;
an acceptance its strongest codes that lowered it. The figures the sentences quote are DuckDB expressions over the
client's row of the feature store (dbt/seeds/reason_code_figures.csv), evaluated where the data lives.
"""

from __future__ import annotations

import functools

import duckdb
import pyarrow as pa

from scoring import score_tables as st
from scoring.points import PointsScale
from warehouse.features import FEATURES_TABLE, ID_COLUMN
from warehouse.vocabulary import ReasonCode, catalogue


def ranked_codes_sql(max_reasons: int) -> str:
    """SQL of the principal codes of one run ($run): run_id, SK_ID_CURR, rank, code, direction, contribution."""
    return f"""
        WITH sums AS (
            SELECT e.SK_ID_CURR, c.code, sum(e.contribution) AS contribution
            FROM {st.EXPLANATIONS.qualified} AS e JOIN {st.FEATURE_CODES.qualified} AS c USING (feature)
            WHERE e.run_id = $run GROUP BY ALL
        ), principal AS (
            SELECT s.SK_ID_CURR, s.code, s.contribution,
                   CASE WHEN s.contribution > 0 THEN 'raises' ELSE 'lowers' END AS direction,
                   row_number() OVER (
                       PARTITION BY s.SK_ID_CURR
                       ORDER BY CASE WHEN p.decision = 'refuse' THEN -s.contribution ELSE s.contribution END, s.code
                   ) AS rank
            FROM sums AS s JOIN {st.PREDICTIONS.qualified} AS p ON p.run_id = $run AND p.SK_ID_CURR = s.SK_ID_CURR
            WHERE (p.decision = 'refuse' AND s.contribution > 0) OR (p.decision = 'accept' AND s.contribution < 0)
        )
        SELECT $run AS run_id, SK_ID_CURR, CAST(rank AS INTEGER) AS rank, code, direction, contribution
        FROM principal WHERE rank <= {int(max_reasons)}
        ORDER BY SK_ID_CURR, rank"""


def figures_sql(codes: list[ReasonCode]) -> str:
    """SQL of every figure of some codes for the clients of one run ($run), one column per code and figure."""
    columns = ", ".join(
        f'CAST(({figure.expression}) AS DOUBLE) AS "{code.code}/{figure.name}"'
        for code in codes
        for figure in code.figures
    )
    return f"""
        SELECT f.{ID_COLUMN}{", " + columns if columns else ""}
        FROM {FEATURES_TABLE} AS f
        WHERE f.{ID_COLUMN} IN (SELECT SK_ID_CURR FROM {st.PREDICTIONS.qualified} WHERE run_id = $run)"""


def write_reasons(con: duckdb.DuckDBPyConnection, run_id: int, max_reasons: int, scale: PointsScale) -> int:
    """Compute, word and insert the principal reasons of a run's decisions; the number of reasons written."""
    ranked = con.sql(ranked_codes_sql(max_reasons), params={"run": run_id}).to_arrow_table()
    if not ranked.num_rows:
        return 0
    codes = catalogue()
    used = [codes[code] for code in sorted(set(ranked.column("code").to_pylist()))]
    figures = con.sql(figures_sql(used), params={"run": run_id}).to_arrow_table()
    row_of = {client: i for i, client in enumerate(figures.column(ID_COLUMN).to_pylist())}
    columns = {name: figures.column(name).to_pylist() for name in figures.column_names if name != ID_COLUMN}
    worded = [
        _sentences(codes[code], tuple(_figure(columns, row_of.get(client), code, f.name) for f in codes[code].figures))
        for client, code in zip(ranked.column(ID_COLUMN).to_pylist(), ranked.column("code").to_pylist(), strict=True)
    ]
    table = ranked.append_column("points", pa.array(scale.shift(ranked.column("contribution").to_numpy())))
    table = table.append_column("sentence", pa.array([client for client, _ in worded], pa.string()))
    table = table.append_column("manager_sentence", pa.array([manager for _, manager in worded], pa.string()))
    con.register("_reasons", table)
    try:
        con.execute(f"INSERT INTO {st.REASONS.qualified} BY NAME SELECT * FROM _reasons")
    finally:
        con.unregister("_reasons")
    return table.num_rows


def _figure(columns: dict[str, list[object]], row: int | None, code: str, name: str) -> object:
    """One figure of a client's code (None when the client has no row of figures)."""
    return None if row is None else columns[f"{code}/{name}"][row]


@functools.lru_cache(maxsize=1 << 16)
def _sentences(code: ReasonCode, values: tuple[object, ...]) -> tuple[str, str]:
    """The client's and the manager's sentence of a code with these figure values (in the order of its figures):
    many clients share them (counts, categories, rounded amounts), and each is worded once."""
    named = {figure.name: value for figure, value in zip(code.figures, values, strict=True)}
    return code.sentence(named, "client"), code.sentence(named, "manager")
