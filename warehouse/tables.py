"""The one way to declare a documented table: its schema, name, comment and columns with their comments.

Every table the pipeline writes outside the feature store (audit, scores, monitoring, ops) is a `TableDoc`;
`create` makes it with its comments, so analysts read the documentation in the catalog:
`SELECT table_name, comment FROM duckdb_tables()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.sql import literal, quote


@dataclass(frozen=True)
class TableDoc:
    """A table with its comment and its columns: (name, DuckDB type and constraints, comment)."""

    schema: str
    name: str
    comment: str
    columns: tuple[tuple[str, str, str], ...]
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        """schema.table"""
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        """Column names in table order."""
        return [name for name, _, _ in self.columns]

    def create(self, con: duckdb.DuckDBPyConnection, **types: str) -> None:
        """Create the table (and its schema) if missing, and attach its comments.

        `types` fills placeholders such as {hash_type} in the column types.
        """
        items = [f"{quote(name)} {kind.format(**types)}" for name, kind, _ in self.columns]
        if self.primary_key:
            items.append(f"PRIMARY KEY ({', '.join(quote(c) for c in self.primary_key)})")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(items)})")
        self.document(con)

    def document(self, con: duckdb.DuckDBPyConnection, catalog: str = "") -> None:
        """Attach the table's and its columns' comments (COMMENT ON), optionally in an attached catalog."""
        target = f"{catalog}.{self.qualified}" if catalog else self.qualified
        statements = [f"COMMENT ON TABLE {target} IS {literal(self.comment)}"]
        statements += [
            f"COMMENT ON COLUMN {target}.{quote(name)} IS {literal(comment)}" for name, _, comment in self.columns
        ]
        con.execute(";\n".join(statements))
