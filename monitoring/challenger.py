"""The challenger in shadow against the champion, on realised outcomes and business cost; promotion by a stated rule.

Both models scored the same clients in the same runs (scores.predictions, scores.challenger_predictions). Once
outcomes arrive (raw.outcomes), each pair (champion version, challenger version) is compared per cohort and over
all cohorts (`monitoring.challenger_comparison`): realised AUC / Gini, and the business cost per client of each
model's own decisions (cost_false_negative per accepted defaulter, cost_false_positive per refused good client).

The promotion rule (`credit-scoring promote`): the challenger becomes champion when, on at least
`promotion_min_outcomes` clients both scored and whose outcome arrived, its decisions cost less per client than the
champion's and its realised Gini is not lower. `--force` promotes whatever the rule says. Every promotion, and every
refusal to promote, is recorded in `ops.promotions` with its figures, and written up in a report.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from monitoring.performance import ALL_BANDS, COHORTS
from scoring import registry
from scoring.score_tables import CHALLENGER_PREDICTIONS
from warehouse.clock import utc_now
from warehouse.database import open_warehouse, private_dir
from warehouse.outcomes import first_scores_sql, present_tables
from warehouse.schema import OUTCOMES
from warehouse.settings import Settings
from warehouse.tables import TableDoc

ALL_COHORTS = ALL_BANDS
SIDES = ("champion", "challenger")
RULE = (
    "promote the challenger when, on at least {n} clients scored by both whose outcome arrived, its decisions cost "
    "less per client than the champion's and its realised Gini is not lower"
)

COMPARISON = TableDoc(
    "monitoring",
    "challenger_comparison",
    "The challenger (scored in shadow) against the champion on the same clients with an observed outcome: one row "
    "per check, cohort ('all': every cohort together), champion version and challenger version.",
    (
        ("check_id", "BIGINT NOT NULL", "The comparison (increasing)."),
        ("job_run_id", "BIGINT", "The nightly run (ops.job_runs.run_id) that made it; NULL when run by hand."),
        ("computed_at", "TIMESTAMP NOT NULL", "When it was computed (UTC)."),
        ("cohort", "VARCHAR NOT NULL", "The scoring cohort (month or night of decision), or 'all'."),
        ("champion_version", "BIGINT NOT NULL", "The champion version whose decisions were applied."),
        ("challenger_version", "BIGINT NOT NULL", "The challenger version scored in shadow."),
        ("outcomes", "BIGINT NOT NULL", "Clients scored by both whose outcome arrived."),
        ("defaults", "BIGINT NOT NULL", "Of them, clients who defaulted."),
        *(
            column
            for side in SIDES
            for column in (
                (f"{side}_auc", "DOUBLE", f"Realised AUC of the {side}'s probabilities."),
                (f"{side}_gini", "DOUBLE", f"Realised Gini of the {side} (2 AUC - 1)."),
                (
                    f"{side}_cost_per_client",
                    "DOUBLE",
                    f"Business cost per client of the {side}'s decisions: cost_false_negative per accepted "
                    "defaulter, cost_false_positive per refused good client.",
                ),
                (f"{side}_refusal_rate", "DOUBLE", f"Share of the clients the {side} refused (or would have)."),
            )
        ),
        ("agreement", "DOUBLE", "Share of the clients on which both models made the same decision."),
    ),
    primary_key=("check_id", "cohort", "champion_version", "challenger_version"),
)

PROMOTIONS = TableDoc(
    "ops",
    "promotions",
    "Every `credit-scoring promote`: whether the champion alias moved, by which rule or by force, and the figures.",
    (
        ("promotion_id", "BIGINT NOT NULL", "The decision (increasing)."),
        ("decided_at", "TIMESTAMP NOT NULL", "When (UTC)."),
        ("decided_by", "VARCHAR NOT NULL", "The operating-system user who ran the command."),
        ("model_name", "VARCHAR NOT NULL", "The registered model."),
        ("champion_version", "BIGINT", "The champion before the decision."),
        ("candidate_version", "BIGINT NOT NULL", "The version considered (the challenger unless --version)."),
        ("promoted", "BOOLEAN NOT NULL", "Whether the champion alias moved to the candidate."),
        ("forced", "BOOLEAN NOT NULL", "Whether --force overrode the rule."),
        ("rule", "VARCHAR NOT NULL", "The rule, in words."),
        ("reason", "VARCHAR NOT NULL", "What the rule found (and what --force overrode)."),
        ("figures", "VARCHAR", "The comparison over all cohorts (JSON), when there was one."),
        ("report_path", "VARCHAR", "The promotion report written."),
    ),
    primary_key=("promotion_id",),
)


@dataclass(frozen=True)
class Verdict:
    """What the rule says about promoting a candidate."""

    promote: bool
    reason: str
    figures: dict[str, object] | None


def _pairs_sql(con: duckdb.DuckDBPyConnection, cohort: str, settings: Settings) -> str:
    """Each client scored by both models with an outcome: cohort, versions, probabilities, decision costs."""
    cost = (
        "CASE WHEN {d} = 'accept' AND o.DEFAULTED = 1 THEN {fn} WHEN {d} = 'refuse' AND o.DEFAULTED = 0 THEN {fp} "
        "ELSE 0 END"
    )
    weights = {"fn": settings.cost_false_negative, "fp": settings.cost_false_positive}
    return f"""
        SELECT {COHORTS[cohort]} AS cohort, f.model_version AS champion_version, c.model_version AS challenger_version,
               o.DEFAULTED AS defaulted, f.probability AS champion_p, c.probability AS challenger_p,
               f.decision = 'refuse' AS champion_refused, c.decision = 'refuse' AS challenger_refused,
               {cost.format(d="f.decision", **weights)} AS champion_cost,
               {cost.format(d="c.decision", **weights)} AS challenger_cost
        FROM ({first_scores_sql(con)}) AS f
        JOIN {CHALLENGER_PREDICTIONS.qualified} AS c USING (run_id, SK_ID_CURR)
        JOIN raw.{OUTCOMES} AS o USING (SK_ID_CURR)
        ORDER BY cohort, f.SK_ID_CURR"""


def _has_pairs(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether shadow scores and outcomes exist at all."""
    return {CHALLENGER_PREDICTIONS.qualified, f"raw.{OUTCOMES}"} <= present_tables(con)


def compare(settings: Settings, job_run_id: int | None = None) -> pd.DataFrame:
    """Compare every challenger with the champion it shadowed, per cohort and overall; store and return the rows."""
    with open_warehouse(settings.warehouse_path) as con:
        COMPARISON.create(con)
        pairs = con.sql(_pairs_sql(con, settings.performance_cohort, settings)).df() if _has_pairs(con) else None
        if pairs is None or pairs.empty:
            return pd.DataFrame(columns=COMPARISON.column_names)
        next_id = f"SELECT coalesce(max(check_id), 0) + 1 FROM {COMPARISON.qualified}"
        (check_id,) = con.execute(next_id).fetchall()[0]
        rows = [
            _compared(group, cohort, versions)
            for versions, by_versions in pairs.groupby(["champion_version", "challenger_version"])
            for cohort, group in [*by_versions.groupby("cohort"), (ALL_COHORTS, by_versions)]
        ]
        table = pd.DataFrame(rows).assign(check_id=check_id, job_run_id=job_run_id, computed_at=utc_now())
        table = table[COMPARISON.column_names]
        con.register("_comparison", table)
        con.execute(f"INSERT INTO {COMPARISON.qualified} BY NAME SELECT * FROM _comparison")
        con.unregister("_comparison")
    return table


def _compared(group: pd.DataFrame, cohort: object, versions: tuple[object, ...]) -> dict[str, object]:
    """One comparison row: both models' realised discrimination and cost on the same clients."""
    y = group["defaulted"].to_numpy(dtype=int)
    row: dict[str, object] = {
        "cohort": str(cohort),
        "champion_version": int(versions[0]),  # type: ignore[call-overload]
        "challenger_version": int(versions[1]),  # type: ignore[call-overload]
        "outcomes": len(y),
        "defaults": int(y.sum()),
        "agreement": float((group["champion_refused"] == group["challenger_refused"]).mean()),
    }
    for side in SIDES:
        auc = _auc(y, group[f"{side}_p"].to_numpy())
        row |= {
            f"{side}_auc": auc,
            f"{side}_gini": None if auc is None else 2 * auc - 1,
            f"{side}_cost_per_client": float(group[f"{side}_cost"].mean()),
            f"{side}_refusal_rate": float(group[f"{side}_refused"].mean()),
        }
    return row


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """AUC by the Mann-Whitney U statistic (None without both outcomes)."""
    bad = int(y.sum())
    if not 0 < bad < len(y):
        return None
    return float(stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic) / (bad * (len(y) - bad))


def verdict(table: pd.DataFrame, champion: int | None, candidate: int, settings: Settings) -> Verdict:
    """Apply the promotion rule to the comparison over all cohorts of the champion and the candidate."""
    overall = table[
        (table["cohort"] == ALL_COHORTS)
        & (table["champion_version"] == champion)
        & (table["challenger_version"] == candidate)
    ]
    if champion is None:
        return Verdict(True, "no champion yet", None)
    if overall.empty:
        return Verdict(False, f"v{candidate} has no realised outcome scored beside champion v{champion} yet", None)
    row = overall.iloc[0]
    figures = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    figures.pop("computed_at", None)
    cheaper = row["challenger_cost_per_client"] < row["champion_cost_per_client"]
    gini_ok = not pd.isna(row["challenger_gini"]) and (
        pd.isna(row["champion_gini"]) or row["challenger_gini"] >= row["champion_gini"]
    )
    said = (
        f"on {int(row['outcomes']):,} outcomes: cost per client {row['challenger_cost_per_client']:.4f} vs "
        f"{row['champion_cost_per_client']:.4f}, Gini {_num(row['challenger_gini'])} vs {_num(row['champion_gini'])}"
    )
    if row["outcomes"] < settings.promotion_min_outcomes:
        return Verdict(False, f"too few outcomes ({said}; the rule needs {settings.promotion_min_outcomes:,})", figures)
    if cheaper and gini_ok:
        return Verdict(True, f"v{candidate} beats champion v{champion} {said}", figures)
    why = "its decisions cost no less" if not cheaper else "its realised Gini is lower"
    return Verdict(False, f"v{candidate} does not beat champion v{champion}: {why} ({said})", figures)


def _num(value: object) -> str:
    """A Gini for a sentence."""
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.3f}"  # type: ignore[arg-type]


@dataclass(frozen=True)
class Promotion:
    """What `promote` decided and where its report is."""

    promoted: bool
    forced: bool
    champion_version: int | None
    candidate_version: int
    reason: str
    report_path: Path
    comparison: pd.DataFrame


class PromotionError(RuntimeError):
    """Nothing to promote: no challenger and no version named."""


def promote(settings: Settings, *, force: bool = False, version: int | None = None) -> Promotion:
    """Decide by the rule (or by force) whether the candidate (the challenger, or `version`) becomes champion;
    move the aliases, record the decision in ops.promotions and write the report."""
    client = registry.connect(settings)
    current = registry.champion_version(client, settings)
    if version is None:
        challenger = registry.alias_version(client, settings, registry.CHALLENGER_ALIAS)
        if challenger is None:
            raise PromotionError("no challenger to promote: register one with `credit-scoring train --as-challenger`")
        version = int(challenger.version)
    champion = int(current.version) if current is not None else None
    if champion == version:
        raise PromotionError(f"v{version} is already the champion")
    table = compare(settings)
    found = verdict(table, champion, version, settings)
    promoted = found.promote or force
    reason = found.reason if not force or found.promote else f"forced against the rule: {found.reason}"
    if promoted:
        shadowed = registry.alias_version(client, settings, registry.CHALLENGER_ALIAS)
        registry.set_champion(client, settings, version)
        if shadowed is not None and int(shadowed.version) == version:
            registry.clear_challenger(client, settings)  # the champion is not its own challenger
    client.set_model_version_tag(settings.model_name, str(version), "promotion_decision", reason)
    report = _write_report(settings, champion, version, promoted, force, reason, table)
    _record(settings, champion, version, promoted, force, reason, found.figures, report)
    return Promotion(promoted, force and not found.promote, champion, version, reason, report, table)


def _record(
    settings: Settings,
    champion: int | None,
    candidate: int,
    promoted: bool,
    force: bool,
    reason: str,
    figures: dict[str, object] | None,
    report: Path,
) -> None:
    """Append the decision to ops.promotions."""
    with open_warehouse(settings.warehouse_path) as con:
        PROMOTIONS.create(con)
        con.execute(
            f"INSERT INTO {PROMOTIONS.qualified} SELECT coalesce(max(promotion_id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"?, ?, ? FROM {PROMOTIONS.qualified}",
            [
                utc_now(),
                getpass.getuser(),
                settings.model_name,
                champion,
                candidate,
                promoted,
                force,
                rule(settings),
                reason,
                json.dumps(figures, sort_keys=True, default=str) if figures else None,
                str(report),
            ],
        )


def rule(settings: Settings) -> str:
    """The promotion rule, in words."""
    return RULE.format(n=f"{settings.promotion_min_outcomes:,}")


def _write_report(
    settings: Settings,
    champion: int | None,
    candidate: int,
    promoted: bool,
    force: bool,
    reason: str,
    table: pd.DataFrame,
) -> Path:
    """A plain-text report of the decision: the rule, the verdict, the comparison per cohort."""
    now = utc_now()
    path = private_dir(settings.reports_dir) / f"promotion_{now:%Y%m%dT%H%M%S}_v{candidate}.txt"
    rows = table[(table["champion_version"] == champion) & (table["challenger_version"] == candidate)]
    shown = rows.drop(columns=["check_id", "job_run_id", "computed_at"], errors="ignore")
    lines = [
        f"Promotion decision for {settings.model_name}, {now:%Y-%m-%d %H:%M} UTC, by {getpass.getuser()}",
        f"Champion: v{champion}; candidate: v{candidate}",
        f"Rule: {rule(settings)}.",
        f"Decision: {'PROMOTED' if promoted else 'not promoted'}{' (forced)' if force else ''}: {reason}.",
        "",
        "Realised comparison on the same clients (cohort 'all' decides):",
        shown.to_string(index=False) if len(shown) else "(no client scored by both has an outcome yet)",
        "",
    ]
    path.write_text("\n".join(lines))
    return path
