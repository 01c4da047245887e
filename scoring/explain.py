"""Reproducing a stored decision: the same model version from the registry, the same features, the same numbers.

`explain(settings, client, run_id)` reads a stored score (scores.predictions of a successful run; the client's
latest by default), loads the model version that gave it (scoring.registry.load_version), takes the client's row of
the feature store, and recomputes everything the decision rests on: the probability, the raw score, the points, the
decision at the stored threshold, each feature's TreeSHAP contribution (against scores.explanations while kept),
and the principal reasons (codes, order, points and sentences, against scores.reasons). Each is compared with what
was stored. When the client's features have changed since (another FEATURE_HASH), the feature values stored with
the explanations are used instead (they hold every feature the model splits on, so the probability is the same);
without them the decision cannot be recomputed, and the answer says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from scoring import score_tables as st
from scoring.points import PointsScale
from scoring.reasons import figures_sql
from scoring.registry import Model, load_version
from warehouse.features import FEATURE_HASH_COLUMN, FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings
from warehouse.vocabulary import catalogue, feature_codes

CONTRIBUTION_TOLERANCE = 1e-9
"""Sums of contributions per reason code are added in another order than DuckDB's sum(): equal to this much."""


class ExplainError(LookupError):
    """The stored decision asked for does not exist, or the warehouse cannot be read."""


@dataclass(frozen=True)
class Check:
    """One thing compared: what was stored, what was recomputed, and whether they are the same."""

    name: str
    stored: str
    recomputed: str
    same: bool


@dataclass
class Reproduction:
    """A stored decision recomputed: which score, from which features, and every comparison."""

    client: int
    run_id: int
    model_version: int
    source: str
    """Where the feature values came from: the feature store, or the values stored with the explanations."""
    checks: list[Check] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """Whether every comparison found the same thing."""
        return all(check.same for check in self.checks)

    def differences(self) -> list[Check]:
        """The comparisons that differ."""
        return [check for check in self.checks if not check.same]

    def summary(self) -> str:
        """One line: reproduced exactly, or what differs."""
        head = f"client {self.client}, run {self.run_id}, model version {self.model_version}"
        if self.reproduced:
            return f"Decision reproduced exactly ({head}; features from {self.source})."
        return f"Decision NOT reproduced ({head}): {', '.join(c.name for c in self.differences())} differ."


def explain(settings: Settings, client: int, run_id: int | None = None) -> Reproduction:
    """Recompute a client's stored decision (of `run_id`, else the latest) and compare it with what was stored."""
    if not settings.warehouse_path.is_file():
        raise ExplainError(f"No warehouse at {settings.warehouse_path}: nothing was scored yet.")
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.IOException as error:
        raise ExplainError(
            f"the warehouse {settings.warehouse_path} is being written by another process (a night?); retry later"
        ) from error
    with con:
        stored = _stored_score(con, client, run_id)
        model = load_version(settings, stored["model_version"])
        return _reproduce(con, settings, model, stored)


def _stored_score(con: duckdb.DuckDBPyConnection, client: int, run_id: int | None) -> dict[str, Any]:
    """The stored prediction and its run's model (ExplainError when there is none)."""
    cursor = con.execute(
        f"""
        SELECT p.*, r.model_run_id, r.threshold AS run_threshold
        FROM {st.PREDICTIONS.qualified} AS p JOIN {st.RUNS.qualified} AS r USING (run_id)
        WHERE p.{ID_COLUMN} = $client AND r.status = 'succeeded' AND ($run IS NULL OR p.run_id = $run)
        ORDER BY p.run_id DESC LIMIT 1""",
        {"client": client, "run": run_id},
    )
    names = [d[0] for d in cursor.description or []]
    row = cursor.fetchone()
    if row is None:
        which = f"in run {run_id}" if run_id is not None else "in any successful run"
        raise ExplainError(f"client {client} has no stored score {which}")
    return dict(zip(names, row, strict=True))


def _reproduce(
    con: duckdb.DuckDBPyConnection, settings: Settings, model: Model, stored: dict[str, Any]
) -> Reproduction:
    """Recompute from the model and the features, comparing each figure with the stored one."""
    client, run_id = int(stored[ID_COLUMN]), int(stored["run_id"])
    X, current_hash, stored_values = _features(con, model, client, run_id)
    same_hash = current_hash == stored["FEATURE_HASH"]
    if not same_hash:
        if stored_values is None:
            result = Reproduction(client, run_id, model.version, "nowhere: the features changed since")
            result.checks.append(Check("feature hash", str(stored["FEATURE_HASH"]), str(current_hash), False))
            return result
        X = stored_values
    source = FEATURES_TABLE if same_hash else "the feature values stored with the explanations"
    result = Reproduction(client, run_id, model.version, source)
    checks = result.checks
    checks.append(
        Check(
            "model",
            f"v{stored['model_version']} (MLflow run {stored['model_run_id']})",
            f"v{model.version} (MLflow run {model.run_id})",
            stored["model_run_id"] == model.run_id,
        )
    )
    checks.append(Check("feature hash", str(stored["FEATURE_HASH"]), str(current_hash), same_hash))
    probability = float(model.probability(X)[0])
    contributions = np.asarray(model.booster.predict(X, pred_contrib=True))[0]
    raw_score = float(contributions.sum() - model.log_odds_offset)
    decision = "refuse" if probability >= model.threshold else "accept"
    points = float(PointsScale.from_settings(settings).points(raw_score))
    for name, before, after in (
        ("threshold", stored["threshold"], model.threshold),
        ("probability", stored["probability"], probability),
        ("raw score", stored["raw_score"], raw_score),
        ("points", stored["points"], points),
    ):
        checks.append(Check(name, repr(before), repr(after), before == after))
    checks.append(Check("decision", stored["decision"], decision, stored["decision"] == decision))
    checks.append(_contributions_check(con, model, client, run_id, contributions))
    checks.append(_reasons_check(con, settings, model, stored, contributions, same_hash))
    return result


def _features(
    con: duckdb.DuckDBPyConnection, model: Model, client: int, run_id: int
) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """The client's features now (1 x features, model order) and their hash, and the values stored with the run's
    explanations (None when not kept): unused features are NaN there, which changes no prediction."""
    columns = ", ".join(f'CAST("{name}" AS DOUBLE)' for name in model.features)
    row = con.execute(
        f"SELECT {FEATURE_HASH_COLUMN}, {columns} FROM {FEATURES_TABLE} WHERE {ID_COLUMN} = ?", [client]
    ).fetchone()
    current = np.array([[np.nan if v is None else v for v in row[1:]]], dtype=np.float64) if row else None
    kept = dict(
        con.execute(
            f"SELECT feature, value FROM {st.EXPLANATIONS.qualified} WHERE run_id = ? AND {ID_COLUMN} = ?",
            [run_id, client],
        ).fetchall()
    )
    stored_values = None
    if kept:
        stored_values = np.array(
            [[np.nan if kept.get(name) is None else kept[name] for name in model.features]], dtype=np.float64
        )
    if current is None:
        if stored_values is None:
            raise ExplainError(f"client {client} is no longer in {FEATURES_TABLE} and run {run_id}'s values are gone")
        return stored_values, None, stored_values
    return current, row[0] if row else None, stored_values


def _contributions_check(
    con: duckdb.DuckDBPyConnection, model: Model, client: int, run_id: int, contributions: np.ndarray
) -> Check:
    """Each used feature's recomputed contribution against scores.explanations (while the run's are kept)."""
    kept = dict(
        con.execute(
            f"SELECT feature, contribution FROM {st.EXPLANATIONS.qualified} WHERE run_id = ? AND {ID_COLUMN} = ?",
            [run_id, client],
        ).fetchall()
    )
    used = {model.features[i]: float(contributions[i]) for i in model.used_features()}
    if not kept:
        return Check(
            "feature contributions", "not kept (past explanation_retention_days)", f"{len(used)} features", True
        )
    differing = [name for name, value in used.items() if kept.get(name) != value]
    recomputed = f"{len(used)} features" + (
        f", {len(differing)} differ: {', '.join(differing[:5])}" if differing else ""
    )
    return Check(
        "feature contributions", f"{len(kept)} features", recomputed, not differing and kept.keys() == used.keys()
    )


def _reasons_check(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    model: Model,
    stored: dict[str, Any],
    contributions: np.ndarray,
    same_hash: bool,
) -> Check:
    """The principal reasons recomputed (codes in order, points, sentences) against scores.reasons."""
    client, run_id = int(stored[ID_COLUMN]), int(stored["run_id"])
    kept = con.execute(
        f"SELECT code, contribution, sentence FROM {st.REASONS.qualified} WHERE run_id = ? AND {ID_COLUMN} = ? "
        "ORDER BY rank",
        [run_id, client],
    ).fetchall()
    ranked = _principal_codes(model, contributions, stored["decision"], settings.max_reasons)
    codes = [code for code, _ in ranked]
    same_sums = len(kept) == len(ranked) and all(
        math.isclose(k[1], s, rel_tol=0, abs_tol=CONTRIBUTION_TOLERANCE)
        for k, (_, s) in zip(kept, ranked, strict=False)
    )
    same = [k[0] for k in kept] == codes and same_sums
    recomputed = ", ".join(codes) or "none"
    if same_hash:
        sentences = _sentences(con, client, run_id, codes)
        same = same and [k[2] for k in kept] == sentences
    else:
        recomputed += " (sentences not recomputed: the client's figures changed since)"
    return Check("principal reasons", ", ".join(k[0] for k in kept) or "none", recomputed, same)


def _principal_codes(model: Model, contributions: np.ndarray, decision: str, limit: int) -> list[tuple[str, float]]:
    """The principal codes and their summed contributions, strongest first, as scoring.reasons ranks them."""
    codes = feature_codes(model.features)
    sums: dict[str, float] = {}
    for i in model.used_features():
        sums[codes[model.features[i]]] = sums.get(codes[model.features[i]], 0.0) + float(contributions[i])
    refusal = decision == "refuse"
    eligible = [(code, total) for code, total in sums.items() if (total > 0 if refusal else total < 0)]
    eligible.sort(key=lambda item: (-item[1] if refusal else item[1], item[0]))
    return eligible[:limit]


def _sentences(con: duckdb.DuckDBPyConnection, client: int, run_id: int, codes: list[str]) -> list[str]:
    """The client sentences of the codes, with the client's figures from the feature store."""
    reasons = [catalogue()[code] for code in codes]
    cursor = con.execute(
        f"SELECT * FROM ({figures_sql(sorted(reasons, key=lambda r: r.code))}) WHERE {ID_COLUMN} = $client",
        {"run": run_id, "client": client},
    )
    names = [d[0] for d in cursor.description or []]
    row = dict(zip(names, cursor.fetchone() or [], strict=False))
    return [
        reason.sentence({figure.name: row.get(f"{reason.code}/{figure.name}") for figure in reason.figures}, "client")
        for reason in reasons
    ]
