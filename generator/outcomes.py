"""Observed outcomes of earlier nights' clients, delivered with a later night's batch (`outcomes.csv`).

Every generated batch keeps its clients' true default probability and drawn TARGET under `truth/`. A batch for
date D may carry the outcomes of the batches dated from (P - delay, D - delay], P being the latest batch dated
before D among the folders searched (the inbox and the processed batches): so nights generated in date order
deliver each earlier batch's outcomes exactly once, `delay` days after it was scored (its OBSERVATION_DATE).
The outcome is the drawn TARGET, unless a segment deteriorates: its clients' odds of default are multiplied by
`odds_factor` (an extra default drawn, seeded), as when a part of the portfolio turns bad after scoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from generator.common import TRUTH_FILE
from warehouse.schema import OUTCOMES, inputs

OUTCOME_STREAM = 2
DETERIORATION_ODDS = 4.0
"""Default multiplier of the odds of default of a deteriorating segment."""
APPLICATIONS_FILE = "application_test.csv"


@dataclass(frozen=True)
class Deterioration:
    """A segment whose defaults rise after scoring: the applications with `column` = `value`."""

    column: str
    value: str
    odds_factor: float = DETERIORATION_ODDS

    @classmethod
    def parse(cls, text: str, odds_factor: float = DETERIORATION_ODDS) -> Deterioration:
        """Read 'COLUMN=VALUE' (an application column and one of its values)."""
        column, sep, value = text.partition("=")
        applications = inputs()["application_test"]
        known = sep and column.strip() in applications.column_names
        domain = applications.column(column.strip()).domain if known else None
        if not sep or domain is None or value.strip() not in domain:
            raise ValueError(f"a deteriorating segment is COLUMN=VALUE with a category of the applications: {text!r}")
        return cls(column.strip(), value.strip(), odds_factor)


def batch_folders(roots: Iterable[Path]) -> dict[date, Path]:
    """Batch folders (named YYYY-MM-DD, holding truth/) under the given roots, by date (the first root wins)."""
    found: dict[date, Path] = {}
    for root in roots:
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if (folder / TRUTH_FILE).is_file():
                found.setdefault(day, folder)
    return found


def outcome_rows(
    night: date, earlier: dict[date, Path], delay_days: int, *, seed: int, deteriorate: Deterioration | None = None
) -> pd.DataFrame:
    """The outcomes a batch for `night` delivers (SK_ID_CURR, OBSERVATION_DATE, DEFAULTED), in id order."""
    if delay_days < 1:
        raise ValueError(f"outcomes arrive at least one day after scoring, not {delay_days}")
    before = [day for day in earlier if day < night]
    previous = max(before, default=None)
    low = None if previous is None else previous - timedelta(days=delay_days)
    due = sorted(d for d in before if d <= night - timedelta(days=delay_days) and (low is None or d > low))
    frames = [_batch_outcomes(d, earlier[d], delay_days, seed, deteriorate) for d in due]
    columns = inputs()[OUTCOMES].column_names
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _batch_outcomes(
    day: date, folder: Path, delay_days: int, seed: int, deteriorate: Deterioration | None
) -> pd.DataFrame:
    """One earlier batch's outcomes: its drawn TARGET, with extra defaults drawn in a deteriorating segment."""
    truth = pd.read_csv(folder / TRUTH_FILE).sort_values("SK_ID_CURR", ignore_index=True)
    defaulted = truth["TARGET"].to_numpy(dtype=np.int64)
    if deteriorate is not None:
        applications = pd.read_csv(folder / APPLICATIONS_FILE, usecols=["SK_ID_CURR", deteriorate.column])
        segment = truth["SK_ID_CURR"].map(applications.set_index("SK_ID_CURR")[deteriorate.column]) == deteriorate.value
        p = truth["TRUE_PD"].to_numpy()
        worse = deteriorate.odds_factor * p / (1 - p + deteriorate.odds_factor * p)
        rng = np.random.default_rng(np.random.SeedSequence([seed, OUTCOME_STREAM, (day - date(1970, 1, 1)).days]))
        extra = rng.random(len(p)) < (worse - p) / (1 - p)  # so that P(default) = worse in the segment
        defaulted = np.where(segment.to_numpy() & extra, 1, defaulted)
    observed = (day + timedelta(days=delay_days)).isoformat()
    return pd.DataFrame({"SK_ID_CURR": truth["SK_ID_CURR"], "OBSERVATION_DATE": observed, "DEFAULTED": defaulted})


def write_outcomes(out_dir: Path, rows: pd.DataFrame) -> int:
    """Write outcomes.csv (contract header and order) into a batch folder; the rows written."""
    path = Path(out_dir) / inputs()[OUTCOMES].file_name
    rows[inputs()[OUTCOMES].column_names].to_csv(path, index=False, lineterminator="\n")
    return len(rows)
