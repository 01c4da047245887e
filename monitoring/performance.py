"""Backtesting: how the champion's decisions turned out, per scoring cohort and score band (monitoring.performance).

Clients are grouped by the night of their decision (their first score: warehouse.outcomes) into cohorts, a month
or a night (`performance_cohort`), and by the score band of that decision. A cohort is measured once
`performance_min_outcomes` of its clients have an observed outcome (raw.outcomes). The joins and counts are SQL over
the warehouse; the statistics are scipy's:
- discrimination: realised AUC, Gini and KS of the cohort, beside the model's out-of-fold Gini (its model card);
- calibration: observed against predicted default rate; per band an exact two-sided binomial test of the predicted
  rate and the Jeffreys interval of the observed one (Beta(d + 1/2, n - d + 1/2)); Hosmer-Lemeshow over ten
  groups of the cohort;
- stability: the PSI of the cohort's scores against the previous cohort's (all scored clients).
An alert is raised when a cohort's Gini is `performance_gini_drop` or more below the model's out-of-fold Gini, or
when a band's binomial test rejects its predicted rate at `calibration_alpha`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from monitoring.drift import ALERTS, Alert, psi
from scoring.metrics import ks_statistic
from scoring.score_tables import MODEL_CARD
from warehouse.clock import utc_now
from warehouse.database import open_warehouse
from warehouse.outcomes import first_scores_sql, present_tables
from warehouse.schema import OUTCOMES
from warehouse.settings import Settings
from warehouse.tables import TableDoc

ALL_BANDS = "all"
COHORTS = {"month": "strftime(decided_on, '%Y-%m')", "night": "strftime(decided_on, '%Y-%m-%d')"}
HL_GROUPS = 10
GINI_ALERT, CALIBRATION_ALERT = "performance_gini", "performance_calibration"

PERFORMANCE = TableDoc(
    "monitoring",
    "performance",
    "Backtesting of the champion's decisions: one row per check, scoring cohort, model version and score band "
    "(band 'all': the whole cohort), once the cohort has enough observed outcomes (performance_min_outcomes).",
    (
        ("check_id", "BIGINT NOT NULL", "The backtesting check (increasing)."),
        ("job_run_id", "BIGINT", "The nightly run (ops.job_runs.run_id) that made the check; NULL when run by hand."),
        ("computed_at", "TIMESTAMP NOT NULL", "When the check ran (UTC)."),
        ("cohort", "VARCHAR NOT NULL", "The scoring cohort: the month (YYYY-MM) or night (YYYY-MM-DD) of decision."),
        ("model_version", "BIGINT NOT NULL", "The champion version that made the cohort's decisions."),
        ("score_band", "VARCHAR NOT NULL", "The score band of the decisions, or 'all' for the whole cohort."),
        ("clients", "BIGINT NOT NULL", "Clients scored in the cohort (and band)."),
        ("outcomes", "BIGINT NOT NULL", "Of them, clients whose outcome is observed (raw.outcomes)."),
        ("defaults", "BIGINT NOT NULL", "Of those, clients who defaulted."),
        ("observed_default_rate", "DOUBLE", "defaults / outcomes."),
        ("predicted_default_rate", "DOUBLE", "Mean predicted probability of default of the clients with an outcome."),
        ("jeffreys_low", "DOUBLE", "Lower end of the Jeffreys interval of the observed default rate (1 - alpha)."),
        ("jeffreys_high", "DOUBLE", "Upper end of the Jeffreys interval of the observed default rate (1 - alpha)."),
        ("binomial_p", "DOUBLE", "Two-sided exact binomial test of the predicted rate against the defaults."),
        (
            "calibration",
            "VARCHAR",
            "'fails' when binomial_p < calibration_alpha, else 'passes' (bands only; NULL for 'all').",
        ),
        ("auc", "DOUBLE", "Realised AUC of the cohort ('all' rows; NULL without both outcomes)."),
        ("gini", "DOUBLE", "Realised Gini = 2 AUC - 1 ('all' rows)."),
        ("expected_gini", "DOUBLE", "The model version's out-of-fold Gini at training (its model card)."),
        ("ks", "DOUBLE", "Realised Kolmogorov-Smirnov statistic ('all' rows)."),
        ("hosmer_lemeshow", "DOUBLE", "Hosmer-Lemeshow statistic over ten groups of predicted risk ('all' rows)."),
        ("hosmer_lemeshow_p", "DOUBLE", "Its p-value (chi-squared, groups - 2 degrees of freedom)."),
        ("score_psi", "DOUBLE", "PSI of the cohort's scores against the previous cohort's ('all' rows)."),
    ),
    primary_key=("check_id", "cohort", "model_version", "score_band"),
)


@dataclass(frozen=True)
class PerformanceResult:
    """A backtesting check: its rows and the alerts it raised."""

    check_id: int
    table: pd.DataFrame
    alerts: list[Alert] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the run history and the command line."""
        if self.table.empty:
            return "backtesting: no cohort has enough observed outcomes yet"
        cohorts = self.table[self.table["score_band"] == ALL_BANDS]
        worst = ", ".join(a.message for a in self.alerts) if self.alerts else "no alert"
        return f"backtesting: {len(cohorts)} cohort(s) measured; {worst}"

    def takeaways(self) -> list[str]:
        """One line per measured cohort, in words."""
        return takeaways(self.table)


def takeaways(table: pd.DataFrame) -> list[str]:
    """One line per cohort of a performance table: discrimination, calibration, stability."""
    lines = []
    for row in table[table["score_band"] == ALL_BANDS].itertuples():
        bands = table[(table["cohort"] == row.cohort) & (table["model_version"] == row.model_version)]
        failing = bands[bands["calibration"] == "fails"]["score_band"].tolist()
        gini = "Gini unknown (one class only)" if pd.isna(row.gini) else f"Gini {row.gini:.2f}"
        if not pd.isna(row.gini) and not pd.isna(row.expected_gini):
            gini += f" vs {row.expected_gini:.2f} at training"
        calibration = f"bands off calibration: {', '.join(failing)}" if failing else "every band calibrated"
        psi_text = "" if pd.isna(row.score_psi) else f"; score PSI {row.score_psi:.2f} vs previous cohort"
        lines.append(
            f"{row.cohort} (v{row.model_version}, {row.outcomes:,} outcomes): {gini}; "
            f"{row.observed_default_rate:.1%} defaulted vs {row.predicted_default_rate:.1%} predicted; "
            f"{calibration}{psi_text}"
        )
    return lines


def check_performance(settings: Settings, job_run_id: int | None = None) -> PerformanceResult:
    """Backtest every cohort with enough outcomes, store the rows (and, in a nightly run, the alerts)."""
    with open_warehouse(settings.warehouse_path) as con:
        PERFORMANCE.create(con)
        clients = (
            con.sql(_clients_sql(con, settings.performance_cohort)).df()
            if f"raw.{OUTCOMES}" in present_tables(con)
            else pd.DataFrame(columns=["cohort", "model_version", "score_band", "probability", "defaulted"])
        )
        expected = _expected_gini(con)
        (check_id,) = con.execute(f"SELECT coalesce(max(check_id), 0) + 1 FROM {PERFORMANCE.qualified}").fetchall()[0]
        table = measure(clients, expected, settings)
        table = table.assign(check_id=check_id, job_run_id=job_run_id, computed_at=utc_now())[PERFORMANCE.column_names]
        alerts = performance_alerts(table, settings)
        con.execute("BEGIN")
        con.register("_performance", table)
        con.execute(f"INSERT INTO {PERFORMANCE.qualified} BY NAME SELECT * FROM _performance")
        con.unregister("_performance")
        if job_run_id is not None and alerts:
            ALERTS.create(con)
            con.execute(f"DELETE FROM {ALERTS.qualified} WHERE run_id = ? AND kind LIKE 'performance_%'", [job_run_id])
            con.executemany(
                f"INSERT INTO {ALERTS.qualified} VALUES (?, ?, ?, ?, ?)",
                [[job_run_id, a.kind, a.value, a.threshold, a.message] for a in alerts],
            )
        con.execute("COMMIT")
    return PerformanceResult(check_id, table, alerts)


def _clients_sql(con: duckdb.DuckDBPyConnection, cohort: str) -> str:
    """Every first-scored client with its cohort, band, predicted probability and outcome (NULL if none yet)."""
    if cohort not in COHORTS:
        raise ValueError(f"performance_cohort must be one of {', '.join(COHORTS)}, not {cohort!r}")
    return f"""
        SELECT {COHORTS[cohort]} AS cohort, f.model_version, f.score_band, f.probability, o.DEFAULTED AS defaulted
        FROM ({first_scores_sql(con)}) AS f
        LEFT JOIN raw.{OUTCOMES} AS o USING (SK_ID_CURR)
        ORDER BY cohort, f.SK_ID_CURR"""


def _expected_gini(con: duckdb.DuckDBPyConnection) -> dict[int, float]:
    """Each model version's out-of-fold Gini at training, from its model card."""
    rows = con.execute(
        f"SELECT model_version, metrics FROM {MODEL_CARD.qualified} WHERE metrics IS NOT NULL"
    ).fetchall()
    found = {}
    for version, metrics in rows:
        auc = json.loads(metrics).get("auc")
        if auc is not None:
            found[int(version)] = 2 * float(auc) - 1
    return found


def measure(clients: pd.DataFrame, expected_gini: dict[int, float], settings: Settings) -> pd.DataFrame:
    """The performance rows of every cohort and model version with enough outcomes (no ids, no check columns)."""
    rows: list[dict[str, object]] = []
    previous: np.ndarray | None = None
    for cohort, in_cohort in clients.groupby("cohort", sort=True):
        for version, group in in_cohort.groupby("model_version", sort=True):
            known = group.dropna(subset=["defaulted"])
            if len(known) >= settings.performance_min_outcomes:
                whole = _whole_cohort(known, len(group), settings.calibration_alpha)
                stability = psi(previous, group["probability"].to_numpy()) if previous is not None else None
                whole |= {"score_psi": stability, "expected_gini": expected_gini.get(int(version))}
                rows.append({"cohort": cohort, "model_version": int(version), **whole})
                rows += [
                    {"cohort": cohort, "model_version": int(version), "score_band": band}
                    | _band(known[known["score_band"] == band], int((group["score_band"] == band).sum()), settings)
                    for band in sorted(group["score_band"].unique())
                ]
        previous = in_cohort["probability"].to_numpy()
    return pd.DataFrame(rows, columns=[c for c in PERFORMANCE.column_names if c not in CHECK_COLUMNS])


CHECK_COLUMNS = ("check_id", "job_run_id", "computed_at")


def _rates(known: pd.DataFrame, clients: int, alpha: float) -> dict[str, object]:
    """Counts, observed and predicted default rates and the Jeffreys interval of a set of clients."""
    n, d = len(known), int(known["defaulted"].sum())
    low, high = stats.beta.ppf([alpha / 2, 1 - alpha / 2], d + 0.5, n - d + 0.5) if n else (np.nan, np.nan)
    return {
        "clients": clients,
        "outcomes": n,
        "defaults": d,
        "observed_default_rate": d / n if n else None,
        "predicted_default_rate": float(known["probability"].mean()) if n else None,
        "jeffreys_low": float(low) if d > 0 else 0.0,
        "jeffreys_high": float(high) if d < n else 1.0,
    }


def _band(known: pd.DataFrame, clients: int, settings: Settings) -> dict[str, object]:
    """One score band of a cohort: its rates and the binomial test of its predicted rate."""
    row = _rates(known, clients, settings.calibration_alpha)
    if not len(known):
        return row | {"calibration": "no outcome"}
    predicted = float(np.clip(known["probability"].mean(), 1e-9, 1 - 1e-9))
    p_value = float(stats.binomtest(int(known["defaulted"].sum()), len(known), predicted).pvalue)
    return row | {"binomial_p": p_value, "calibration": "fails" if p_value < settings.calibration_alpha else "passes"}


def _whole_cohort(known: pd.DataFrame, clients: int, alpha: float) -> dict[str, object]:
    """The whole cohort: rates, realised AUC / Gini / KS and the Hosmer-Lemeshow test."""
    y, p = known["defaulted"].to_numpy(dtype=int), known["probability"].to_numpy()
    row = _rates(known, clients, alpha) | {"score_band": ALL_BANDS}
    if 0 < y.sum() < len(y):
        auc = float(stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic) / (y.sum() * (len(y) - y.sum()))
        row |= {"auc": auc, "gini": 2 * auc - 1, "ks": ks_statistic(y, p)}
    statistic, p_value = hosmer_lemeshow(y, p)
    return row | {"hosmer_lemeshow": statistic, "hosmer_lemeshow_p": p_value}


def hosmer_lemeshow(y: np.ndarray, p: np.ndarray, groups: int = HL_GROUPS) -> tuple[float, float]:
    """The Hosmer-Lemeshow statistic over `groups` equal-sized groups of predicted risk, and its p-value."""
    order = np.argsort(p, kind="stable")
    statistic = 0.0
    parts = [part for part in np.array_split(order, groups) if len(part)]
    for part in parts:
        n, observed, expected = len(part), y[part].sum(), p[part].sum()
        variance = expected * (1 - expected / n)
        statistic += (observed - expected) ** 2 / variance if variance > 0 else 0.0
    return float(statistic), float(stats.chi2.sf(statistic, max(len(parts) - 2, 1)))


def performance_alerts(table: pd.DataFrame, settings: Settings) -> list[Alert]:
    """A Gini alert (the worst drop) and a calibration alert (every failing band) over the measured cohorts."""
    alerts = []
    whole = table[table["score_band"] == ALL_BANDS].assign(drop=lambda t: t["expected_gini"] - t["gini"])
    dropped = whole[whole["drop"] > settings.performance_gini_drop].sort_values("drop", ascending=False)
    if len(dropped):
        listed = ", ".join(
            f"{r.cohort} (v{r.model_version}) {r.gini:.2f} vs {r.expected_gini:.2f}" for r in dropped.itertuples()
        )
        alerts.append(
            Alert(
                GINI_ALERT,
                float(dropped["drop"].iloc[0]),
                settings.performance_gini_drop,
                f"realised Gini fell more than {settings.performance_gini_drop} below the model's out-of-fold Gini "
                f"(at worst by {dropped['drop'].iloc[0]:.2f}): {listed}",
            )
        )
    failing = table[table["calibration"] == "fails"]
    if len(failing):
        listed = ", ".join(
            f"{r.cohort} band {r.score_band}: {r.observed_default_rate:.1%} defaulted vs "
            f"{r.predicted_default_rate:.1%} predicted"
            for r in failing.itertuples()
        )
        alerts.append(
            Alert(
                CALIBRATION_ALERT,
                float(failing["binomial_p"].min()),
                settings.calibration_alpha,
                f"{len(failing)} score band(s) fail the binomial calibration test at {settings.calibration_alpha}: "
                f"{listed}",
            )
        )
    return alerts


def latest_performance(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The rows of the latest check (empty when none yet)."""
    return con.sql(
        f"SELECT * FROM {PERFORMANCE.qualified} WHERE check_id = (SELECT max(check_id) FROM {PERFORMANCE.qualified}) "
        "ORDER BY cohort, model_version, score_band = 'all' DESC, score_band"
    ).df()
