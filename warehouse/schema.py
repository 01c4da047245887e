"""The schema contract of the eight Kaggle "Home Credit Default Risk" files, read from dbt's source YAML.

The contract is written once, in `dbt/models/staging/_sources.yml`: every column in file order with its warehouse
type, the official dictionary's description and, for categories, the allowed values. Ingestion types and checks
the files with it; dbt builds its sources, staging casts and one-hot features from the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SOURCES_FILE = Path(__file__).resolve().parents[1] / "dbt" / "models" / "staging" / "_sources.yml"

# Warehouse types used in the raw schema.
INT = "BIGINT"
FLOAT = "DOUBLE"
TEXT = "VARCHAR"


@dataclass(frozen=True)
class Column:
    """One column of a Kaggle file: name, warehouse type, meaning, allowed values."""

    name: str
    type: str
    description: str
    domain: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    """One Kaggle file: its name, columns in file order, key and parent links."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    parents: dict[str, str] = field(default_factory=dict)
    """Foreign key column -> parent table name (the parent's key has the same column name)."""
    description: str = ""
    scored_only: bool = False
    """Rows must name a client the champion scored (observed outcomes): others are quarantined."""

    @property
    def file_name(self) -> str:
        """The CSV file name, exactly as Kaggle publishes it."""
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        """Column names in file order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called `name`."""
        return next(c for c in self.columns if c.name == name)


@cache
def _source(name: str = "raw") -> dict[str, Any]:
    """A source of the YAML contract: `raw` (the eight Kaggle files) or `outcomes`."""
    document = yaml.safe_load(SOURCES_FILE.read_text(encoding="utf-8"))
    return next(s for s in document["sources"] if s["name"] == name)


def _column(spec: dict[str, Any]) -> Column:
    """A Column from its YAML entry."""
    domain = (spec.get("meta") or {}).get("domain")
    return Column(spec["name"], spec["data_type"], spec["description"], tuple(domain) if domain else None)


@cache
def tables() -> dict[str, Table]:
    """The eight Kaggle files by name, in load order (parents before children)."""
    return _tables("raw")


@cache
def inputs() -> dict[str, Table]:
    """Every file ingestion loads, in load order: the eight Kaggle files, then the observed outcomes."""
    return tables() | _tables("outcomes")


def _tables(source: str) -> dict[str, Table]:
    """The tables of one source of the contract by name, in file order."""
    specs = {t["name"]: t for t in _source(source)["tables"]}
    out: dict[str, Table] = {}
    for name, spec in specs.items():
        meta = spec.get("meta") or {}
        if "same_columns_as" in meta:
            dropped = set(meta.get("without", []))
            columns = tuple(c for c in out[meta["same_columns_as"]].columns if c.name not in dropped)
        else:
            columns = tuple(_column(c) for c in spec["columns"])
        out[name] = Table(
            name,
            columns,
            tuple(meta.get("key", ())),
            dict(meta.get("parents", {})),
            spec.get("description", ""),
            bool(meta.get("scored_only")),
        )
    return out


def dictionary() -> dict[str, list[tuple[str, str]]]:
    """Column names and descriptions per table, in file order."""
    return {t.name: [(c.name, c.description) for c in t.columns] for t in tables().values()}


def domains(table: str) -> dict[str, list[str]]:
    """Allowed values of every categorical column of a table."""
    return {c.name: list(c.domain) for c in inputs()[table].columns if c.domain}


OUTCOMES = "outcomes"
"""The raw table of observed outcomes (SK_ID_CURR, OBSERVATION_DATE, DEFAULTED)."""
DAYS_CODE: int = _source()["meta"]["no_date_code"]
"""Placeholder the real files use in DAYS_* columns for 'no date' (pensioners, open-ended loans)."""
NOT_AVAILABLE: tuple[str, ...] = tuple(_source()["meta"]["not_available"])
"""Category codes meaning 'not available' / 'not applicable' (staging turns them into NULL)."""

APPLICATION_DOMAINS = domains("application_train")
BUREAU_DOMAINS = domains("bureau")
BUREAU_BALANCE_STATUSES = domains("bureau_balance")["STATUS"]
PREVIOUS_DOMAINS = domains("previous_application")
POS_CASH_DOMAINS = domains("POS_CASH_balance")
CREDIT_CARD_DOMAINS = domains("credit_card_balance")
