"""Fairness per group (gender, age band, family status): approval rate, defaults among the accepted, calibration
and the disparate-impact ratio with the four-fifths rule, computed with fairlearn's MetricFrame.

The groups come from the application as received (raw.application_train / application_test), whether or not the
attribute is a model feature: a protected attribute kept out of the model is still measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

ATTRIBUTES = {"gender": "Gender", "age_band": "Age band", "family_status": "Family status"}
"""Column of the groups frame -> how people call it."""
FOUR_FIFTHS = 0.8
"""A group approved at less than 80% of the rate of the most approved group fails the four-fifths rule."""
MIN_GROUP_CLIENTS = 30
"""Groups with fewer clients are reported but not judged by the four-fifths rule (their rate is too noisy)."""
AGE_BANDS = ((25, "under 25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"), (999, "65 and over"))

GROUPS_SQL = f"""
    SELECT SK_ID_CURR,
           CASE CODE_GENDER WHEN 'F' THEN 'woman' WHEN 'M' THEN 'man' ELSE 'not given' END AS gender,
           CASE {" ".join(f"WHEN -DAYS_BIRTH / 365.25 < {limit} THEN '{name}'" for limit, name in AGE_BANDS)}
                ELSE 'not given' END AS age_band,
           lower(coalesce(NAME_FAMILY_STATUS, 'not given')) AS family_status
    FROM {{table}}"""
"""The groups of every client of an application table ({table}: raw.application_train, a union...)."""

COLUMNS = (
    "attribute",
    "group",
    "clients",
    "approval_rate",
    "disparate_impact",
    "four_fifths_rule",
    "mean_probability",
    "predicted_default_rate_accepted",
    "observed_default_rate_accepted",
    "calibration",
)


def applications_groups_sql(*tables: str) -> str:
    """SQL of the groups of the clients of some application tables."""
    return " UNION ALL ".join(GROUPS_SQL.format(table=table) for table in tables)


def fairness_frame(
    probability: np.ndarray, accepted: np.ndarray, groups: pd.DataFrame, outcome: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per attribute and group (COLUMNS) of decisions (`accepted`: true where accepted); `outcome`
    (1 = defaulted) where known, else the observed columns are NaN. Rows of `groups` are the same clients.

    MetricFrame sees one row per cell (group, decision, outcome) with its clients and their summed probability:
    every metric is a ratio of such sums. Fairlearn copies its columns element by element in Python: the three
    attributes of 307,511 clients took 38 s row by row, 0.4 s by cells (the same table)."""
    clients = pd.DataFrame(
        {
            "probability": np.asarray(probability, dtype=np.float64),
            "accepted": np.asarray(accepted).astype(int),
            "defaulted": np.zeros(len(groups), dtype=int) if outcome is None else np.asarray(outcome, dtype=int),
        }
    )
    frames = []
    for attribute in ATTRIBUTES:
        cells = (
            clients.assign(group=groups[attribute].to_numpy())
            .groupby(["group", "accepted", "defaulted"], sort=False)
            .agg(clients=("probability", "size"), probability=("probability", "sum"))
            .reset_index()
        )
        sums = {"clients": cells["clients"].to_numpy(), "probability": cells["probability"].to_numpy()}
        frame = MetricFrame(
            metrics={
                "clients": _clients,
                "approval_rate": _approval_rate,
                "mean_probability": _mean_probability,
                "predicted_default_rate_accepted": _predicted_defaults_accepted,
                "observed_default_rate_accepted": _observed_defaults_accepted,
                "calibration": _calibration,
            },
            y_true=cells["defaulted"].to_numpy(),
            y_pred=cells["accepted"].to_numpy(),
            sensitive_features=cells["group"].to_numpy(),
            sample_params={
                "clients": {"clients": sums["clients"]},
                "approval_rate": {"clients": sums["clients"]},
                "observed_default_rate_accepted": {"clients": sums["clients"]},
                **{name: sums for name in ("mean_probability", "predicted_default_rate_accepted", "calibration")},
            },
        ).by_group
        frame = frame.reset_index(names="group").assign(attribute=attribute)
        judged = frame["clients"] >= MIN_GROUP_CLIENTS
        best = frame.loc[judged, "approval_rate"].max() if judged.any() else np.nan
        frame["disparate_impact"] = frame["approval_rate"] / best if best and best > 0 else np.nan
        frame["four_fifths_rule"] = np.where(
            ~judged, "too few clients", np.where(frame["disparate_impact"] < FOUR_FIFTHS, "fails", "passes")
        )
        frames.append(frame.sort_values("group", ignore_index=True))
    table = pd.concat(frames, ignore_index=True)
    table["clients"] = table["clients"].astype(int)
    if outcome is None:
        table[["observed_default_rate_accepted", "calibration"]] = np.nan
    return table[list(COLUMNS)]


def approval_gap(table: pd.DataFrame, attribute: str = "gender") -> float:
    """Largest difference of approval rates between the judged groups of an attribute."""
    rows = table[(table["attribute"] == attribute) & (table["four_fifths_rule"] != "too few clients")]
    return float(rows["approval_rate"].max() - rows["approval_rate"].min()) if len(rows) > 1 else 0.0


def _clients(y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray) -> float:
    """How many clients the cells hold."""
    return float(np.sum(clients))


def _approval_rate(y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray) -> float:
    """Share of the clients accepted."""
    return float(np.sum(clients[y_pred == 1]) / np.sum(clients))


def _mean_probability(y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray, probability: np.ndarray) -> float:
    """Average predicted probability of default."""
    return float(np.sum(probability) / np.sum(clients))


def _predicted_defaults_accepted(
    y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray, probability: np.ndarray
) -> float:
    """Average predicted probability of default among the accepted (the expected default rate)."""
    accepted = y_pred == 1
    return float(np.sum(probability[accepted]) / np.sum(clients[accepted])) if accepted.any() else float("nan")


def _observed_defaults_accepted(y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray) -> float:
    """Share of the accepted who defaulted."""
    accepted = y_pred == 1
    return (
        float(np.sum(clients[accepted & (y_true == 1)]) / np.sum(clients[accepted])) if accepted.any() else float("nan")
    )


def _calibration(y_true: np.ndarray, y_pred: np.ndarray, clients: np.ndarray, probability: np.ndarray) -> float:
    """Observed default rate over mean predicted probability (1 = calibrated, above 1 = risk underestimated)."""
    predicted = float(np.sum(probability))
    return float(np.sum(clients[y_true == 1])) / predicted if predicted > 0 else float("nan")
