"""Building blocks shared by the generator's table modules: categorical draws, rounding, chunk columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRUTH_FILE = Path("truth") / "true_default_probability.csv"
"""Where a generated data set or batch keeps each client's TRUE_PD and drawn TARGET (outside the Kaggle files)."""
Columns = dict[str, np.ndarray]
"""One table's chunk: column name -> numpy array. Categorical columns hold int codes into the schema domain
(-1 = missing), integer columns int64, float columns float64 with NaN for missing."""

MISSING_CODE = -1


def pick(
    rng: np.random.Generator, n: int, domain: tuple[str, ...] | list[str], weights: dict[str, float]
) -> np.ndarray:
    """Draw n codes into `domain` with the given relative frequencies (unlisted values never appear)."""
    p = np.array([weights.get(value, 0.0) for value in domain], dtype=float)
    unknown = set(weights) - set(domain)
    if unknown:
        raise ValueError(f"values {sorted(unknown)} are not in the domain {list(domain)}")
    return rng.choice(len(domain), size=n, p=p / p.sum()).astype(np.int16)


def zipf_weights(
    domain: tuple[str, ...] | list[str], exponent: float = 1.1, skip: tuple[str, ...] = ()
) -> dict[str, float]:
    """Frequencies falling with rank for a domain listed most-frequent first (values in `skip` excluded)."""
    ranked = [v for v in domain if v not in skip]
    return {v: 1.0 / (rank + 1) ** exponent for rank, v in enumerate(ranked)}


def code_of(domain: tuple[str, ...] | list[str], value: str) -> int:
    """The code of one domain value."""
    return list(domain).index(value)


def round_to(x: np.ndarray, step: float) -> np.ndarray:
    """Round to a multiple of `step` (amounts such as 4,500 or 0.5)."""
    return np.round(x / step) * step


def with_missing(rng: np.random.Generator, x: np.ndarray, rate: float) -> np.ndarray:
    """A copy of x with a share `rate` of entries blanked (NaN for floats, -1 for codes)."""
    out = x.astype(float) if x.dtype.kind == "f" else x.copy()
    blank = rng.random(len(x)) < rate
    out[blank] = np.nan if out.dtype.kind == "f" else MISSING_CODE
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def counts_to_owner(counts: np.ndarray) -> np.ndarray:
    """Row -> owner index for owners having `counts` rows each (owners in order)."""
    return np.repeat(np.arange(len(counts)), counts)


def rank_within(counts: np.ndarray) -> np.ndarray:
    """Row -> 0-based position of the row among its owner's rows."""
    starts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(starts, counts)


def per_owner_mean(owner: np.ndarray, values: np.ndarray, n_owners: int) -> np.ndarray:
    """Mean of `values` per owner; NaN for owners without rows (what SQL AVG gives after a LEFT JOIN)."""
    sums = np.bincount(owner, weights=values, minlength=n_owners)
    counts = np.bincount(owner, minlength=n_owners)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Population:
    """Knobs of the client population; `drifted()` moves them the way a changing market would."""

    income_log_median: float = float(np.log(147_150.0))
    age_shift_years: float = 0.0
    ext_shift: float = 0.0
    credit_ratio_log_median: float = float(np.log(3.3))
    revolving_share: float = 0.095
    pensioner_share: float = 0.18

    def drifted(self) -> Population:
        """A younger, richer population with lower external scores, borrowing more."""
        return Population(
            income_log_median=self.income_log_median + np.log(1.35),
            age_shift_years=-6.0,
            ext_shift=-0.7,
            credit_ratio_log_median=self.credit_ratio_log_median + np.log(1.3),
            revolving_share=0.2,
            pensioner_share=0.08,
        )
