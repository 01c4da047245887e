"""Plain-language labels of the model features, for the reasons given with every decision.

A feature's description comes from the feature store's dbt documentation (dbt writes the YAML descriptions of
`client_features` to `dbt/target/manifest.json`); where a column is undocumented, a label is built from the
feature naming convention (PREFIX_BASE_AGGREGATE) and the official column dictionary.
"""

from __future__ import annotations

import json
import re
from functools import cache

from warehouse.features import FEATURES_TABLE
from warehouse.schema import dictionary
from warehouse.settings import Settings

MAX_LABEL = 90

SCOPES = {
    "BURO": "Credit Bureau credits",
    "BUREAU": "Credit Bureau credits",
    "ACTIVE": "active Credit Bureau credits",
    "CLOSED": "closed Credit Bureau credits",
    "BB": "Credit Bureau monthly balances",
    "PREV": "previous applications",
    "APPROVED": "approved previous applications",
    "REFUSED": "refused previous applications",
    "POS": "POS and cash loan months",
    "INSTAL": "installments",
    "INST": "installments",
    "CC": "credit card months",
}
AGGREGATES = {
    "MIN": "minimum",
    "MAX": "maximum",
    "MEAN": "mean",
    "SUM": "total",
    "VAR": "variance",
    "COUNT": "number of",
    "SIZE": "number of",
    "NUNIQUE": "distinct",
    "MEDIAN": "median",
    "STD": "spread",
}


def feature_labels(settings: Settings, features: list[str]) -> list[tuple[str, str, str]]:
    """(feature, label, description) for every feature, documented ones from dbt's manifest."""
    documented = dbt_descriptions(settings)
    descriptions = [documented.get(feature.upper()) or convention_label(feature) for feature in features]
    labels = [short_label(description) for description in descriptions]
    shared = {label for label in labels if labels.count(label) > 1}
    labels = [
        f"{label} ({feature})" if label in shared else label for label, feature in zip(labels, features, strict=True)
    ]
    return list(zip(features, labels, descriptions, strict=True))


def dbt_descriptions(settings: Settings) -> dict[str, str]:
    """Column descriptions of the client_features model from dbt's manifest; empty before dbt has run."""
    manifest = settings.dbt_project_dir / "target" / "manifest.json"
    if not manifest.is_file():
        return {}
    model = FEATURES_TABLE.split(".")[-1]
    nodes = json.loads(manifest.read_text()).get("nodes", {}).values()
    for node in nodes:
        if node.get("resource_type") == "model" and node.get("name") == model:
            columns = node.get("columns", {})
            return {
                name.upper(): col["description"].strip()
                for name, col in columns.items()
                if col.get("description", "").strip()
            }
    return {}


def convention_label(feature: str) -> str:
    """A label from the naming convention and the dictionary, e.g. for BURO_DAYS_CREDIT_MEAN."""
    parts = feature.split("_")
    scope = SCOPES.get(parts[0]) if len(parts) > 1 else None
    if scope:
        parts = parts[1:]
    aggregate = AGGREGATES.get(parts[-1]) if len(parts) > 1 else None
    if aggregate:
        parts = parts[:-1]
    base = "_".join(parts)
    text = _dictionary_text(base) or base.replace("_", " ").lower()
    if aggregate:
        text = f"{aggregate} {text[0].lower()}{text[1:]}"
    if scope:
        text = f"{text} ({scope})"
    return text[0].upper() + text[1:]


def short_label(description: str) -> str:
    """The first sentence of a description without its parenthesised details, cut at a word if too long."""
    text = re.split(r"(?<=[a-z0-9)])\.\s", description.strip(), maxsplit=1)[0].rstrip(".")
    while True:
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    text = text.strip() or description.strip()
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL].rsplit(" ", 1)[0].rstrip(",;:") + "…"


@cache
def _dictionary_index() -> dict[str, str]:
    """Official column dictionary: column name -> description (first table that names it)."""
    index: dict[str, str] = {}
    for columns in dictionary().values():
        for name, description in columns:
            index.setdefault(name.upper(), description)
    return index


def _dictionary_text(column: str) -> str | None:
    """The dictionary's description of a raw column, first sentence only."""
    description = _dictionary_index().get(column.upper())
    return short_label(description) if description else None
