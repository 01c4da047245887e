"""Fairness per group (gender, age band, family status): approval rate, defaults among the accepted, calibration
and the disparate-impact ratio with the four-fifths rule, computed with fairlearn's MetricFrame.

The groups come from the application as received (raw.application_train / application_test), whether or not the
attribute is a model feature: a protected attribute kept out of the model is still measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, selection_rate

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
    (1 = defaulted) where known, else the observed columns are NaN. Rows of `groups` are the same clients."""
    p = np.asarray(probability, dtype=np.float64)
    accepted = np.asarray(accepted).astype(int)
    y = np.zeros(len(p), dtype=int) if outcome is None else np.asarray(outcome, dtype=int)
    frames = []
    for attribute in ATTRIBUTES:
        frame = MetricFrame(
            metrics={
                "clients": count,
                "approval_rate": selection_rate,
                "mean_probability": _mean_probability,
                "predicted_default_rate_accepted": _predicted_defaults_accepted,
                "observed_default_rate_accepted": _observed_defaults_accepted,
                "calibration": _calibration,
            },
            y_true=y,
            y_pred=accepted,
            sensitive_features=groups[attribute].to_numpy(),
            sample_params={
                name: {"probability": p}
                for name in ("mean_probability", "predicted_default_rate_accepted", "calibration")
            },
        ).by_group
        frame = frame.reset_index(names="group").assign(attribute=attribute)
        judged = frame["clients"] >= MIN_GROUP_CLIENTS
        best = frame.loc[judged, "approval_rate"].max() if judged.any() else np.nan
        frame["disparate_impact"] = frame["approval_rate"] / best if best and best > 0 else np.nan
        frame["four_fifths_rule"] = np.where(
            ~judged, "too few clients", np.where(frame["disparate_impact"] < FOUR_FIFTHS, "fails", "passes")
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["clients"] = table["clients"].astype(int)
    if outcome is None:
        table[["observed_default_rate_accepted", "calibration"]] = np.nan
    return table[list(COLUMNS)]


def approval_gap(table: pd.DataFrame, attribute: str = "gender") -> float:
    """Largest difference of approval rates between the judged groups of an attribute."""
    rows = table[(table["attribute"] == attribute) & (table["four_fifths_rule"] != "too few clients")]
    return float(rows["approval_rate"].max() - rows["approval_rate"].min()) if len(rows) > 1 else 0.0


def _mean_probability(y_true: np.ndarray, y_pred: np.ndarray, probability: np.ndarray) -> float:
    """Average predicted probability of default."""
    return float(np.mean(probability))


def _predicted_defaults_accepted(y_true: np.ndarray, y_pred: np.ndarray, probability: np.ndarray) -> float:
    """Average predicted probability of default among the accepted (the expected default rate)."""
    accepted = np.asarray(y_pred) == 1
    return float(np.mean(np.asarray(probability)[accepted])) if accepted.any() else float("nan")


def _observed_defaults_accepted(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of the accepted who defaulted."""
    accepted = np.asarray(y_pred) == 1
    return float(np.mean(np.asarray(y_true)[accepted])) if accepted.any() else float("nan")


def _calibration(y_true: np.ndarray, y_pred: np.ndarray, probability: np.ndarray) -> float:
    """Observed default rate over mean predicted probability (1 = calibrated, above 1 = risk underestimated)."""
    predicted = float(np.mean(probability))
    return float(np.mean(y_true)) / predicted if predicted > 0 else float("nan")
