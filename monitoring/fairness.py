"""Fairness monitoring: per gender, age band and family status, how tonight's decisions (or every latest decision)
treat each group, next to how the champion treated them out of fold at training, with outcomes.

New clients have no outcome yet: their rows give the approval rate, the disparate-impact ratio (four-fifths rule)
and the predicted default rate among the accepted; the training rows (scope 'training (out-of-fold)', from the
champion's registry metadata) add the observed default rate among the accepted and the calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from scoring.fairness import COLUMNS, applications_groups_sql, fairness_frame
from scoring.registry import load_champion
from scoring.score_tables import LATEST
from warehouse.clock import utc_now
from warehouse.database import open_warehouse
from warehouse.features import ID_COLUMN
from warehouse.settings import Settings
from warehouse.tables import TableDoc

TRAINING_SCOPE = "training (out-of-fold)"

FAIRNESS = TableDoc(
    "monitoring",
    "fairness",
    "Fairness per group: one row per check, scope, attribute (gender, age_band, family_status) and group. "
    "Scopes: 'training (out-of-fold)' (the champion's cross-validated decisions on labelled clients, with "
    "outcomes), 'batch' (one night's new clients) or 'all latest decisions'.",
    (
        ("check_id", "BIGINT NOT NULL", "The fairness check (increasing)."),
        ("job_run_id", "BIGINT", "The nightly run (ops.job_runs.run_id) that made the check; NULL when run by hand."),
        ("computed_at", "TIMESTAMP NOT NULL", "When the check ran (UTC)."),
        ("night", "DATE", "The night whose batch was checked (NULL otherwise)."),
        ("model_version", "BIGINT", "The champion model version."),
        ("scope", "VARCHAR NOT NULL", "Whose decisions: 'training (out-of-fold)', 'batch' or 'all latest decisions'."),
        ("attribute", "VARCHAR NOT NULL", "gender, age_band or family_status (from the application as received)."),
        ("group", "VARCHAR NOT NULL", "The group, e.g. 'woman', '25-34', 'married'."),
        ("clients", "BIGINT NOT NULL", "Clients of the group in the scope."),
        ("approval_rate", "DOUBLE", "Share of the group accepted."),
        (
            "disparate_impact",
            "DOUBLE",
            "The group's approval rate over that of the most approved group of the attribute (groups of 30 clients "
            "or more).",
        ),
        (
            "four_fifths_rule",
            "VARCHAR",
            "'fails' when disparate_impact < 0.8, 'passes' otherwise, 'too few clients' under 30 clients.",
        ),
        ("mean_probability", "DOUBLE", "Mean predicted probability of default of the group."),
        ("predicted_default_rate_accepted", "DOUBLE", "Mean predicted probability of default of its accepted clients."),
        (
            "observed_default_rate_accepted",
            "DOUBLE",
            "Share of its accepted clients who defaulted (training scope only: new clients have no outcome yet).",
        ),
        (
            "calibration",
            "DOUBLE",
            "Observed default rate over mean predicted probability (1 = calibrated; training scope only).",
        ),
    ),
    primary_key=("check_id", "scope", "attribute", "group"),
)


@dataclass(frozen=True)
class FairnessResult:
    """A fairness check: its rows and the groups that fail the four-fifths rule."""

    check_id: int
    table: pd.DataFrame

    @property
    def failing(self) -> pd.DataFrame:
        """Rows of new decisions failing the four-fifths rule."""
        return self.table[(self.table["four_fifths_rule"] == "fails") & (self.table["scope"] != TRAINING_SCOPE)]

    def summary(self) -> str:
        """One line for the run history and the command line."""
        fails = self.failing
        if fails.empty:
            return "fairness: every group passes the four-fifths rule"
        names = ", ".join(
            f"{r.attribute} {r.group} (disparate impact {r.disparate_impact:.3f})" for r in fails.itertuples()
        )
        return f"fairness: {len(fails)} group(s) fail the four-fifths rule: {names}"


def check_fairness(
    settings: Settings, client_ids: np.ndarray | None = None, night: date | None = None, job_run_id: int | None = None
) -> FairnessResult:
    """Measure the latest decisions of some clients (None: every scored client) per group, store and return them."""
    model = load_champion(settings)
    with open_warehouse(settings.warehouse_path) as con:
        FAIRNESS.create(con)
        where = "" if client_ids is None else f"WHERE l.{ID_COLUMN} IN (SELECT {ID_COLUMN} FROM _ids)"
        if client_ids is not None:
            con.register("_ids", pd.DataFrame({ID_COLUMN: np.asarray(client_ids, dtype=np.int64)}))
        decisions = con.sql(
            f"""SELECT l.probability, l.decision = 'accept' AS accepted, g.* EXCLUDE ({ID_COLUMN})
                FROM {LATEST.qualified} AS l
                JOIN ({applications_groups_sql("raw.application_train", "raw.application_test")}) AS g
                  USING ({ID_COLUMN}) {where}"""
        ).df()
        scope = "all latest decisions" if client_ids is None else "batch"
        frames = [fairness_frame(decisions["probability"], decisions["accepted"], decisions).assign(scope=scope)]
        training = model.metadata.get("fairness_oof")
        if training:
            frames.append(pd.DataFrame(training).assign(scope=TRAINING_SCOPE))
        table = pd.concat(frames, ignore_index=True) if len(decisions) else frames[-1]
        (check_id,) = con.execute(f"SELECT coalesce(max(check_id), 0) + 1 FROM {FAIRNESS.qualified}").fetchall()[0]
        table = table.assign(
            check_id=check_id,
            job_run_id=job_run_id,
            computed_at=utc_now(),
            night=night,
            model_version=model.version,
        )[[*(c for c in FAIRNESS.column_names if c not in COLUMNS), *COLUMNS]]
        table["night"] = pd.to_datetime(table["night"]).dt.date
        con.register("_fairness", table)
        con.execute(f"INSERT INTO {FAIRNESS.qualified} BY NAME SELECT * FROM _fairness")
    return FairnessResult(check_id, table)
