"""The one feature vocabulary: the reason-code catalogue of `dbt/seeds/`, and how figures are written for people.

Every feature of `features.client_features` belongs to exactly one reason code (the first rule of
`reason_code_features.csv`, by priority, whose pattern fits the whole name); each code has a client-facing and a
manager-facing sentence whose figures (`reason_code_figures.csv`: DuckDB expressions over the client's features)
are written in human units. `feature_sources.csv` says which file a feature's prefix aggregates, and
`score_bands.csv` names the bands of the score in points, and `review_reasons.csv` lists the reasons a relationship
manager may give for confirming or overriding a decision. dbt loads the same files into the schema `reference`.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from warehouse.schema import tables
from warehouse.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "dbt" / "seeds"
UNITS = ("money", "duration", "days", "share", "count", "score", "years", "hour")
PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?(?::([^}|]+)(?:\|([^}]+))?)?\}")
"""{figure}, {figure:unit}, {figure:unit:noun} or {figure:unit:noun|plural}: the noun follows the count."""
APPLICATION = "application_train / application_test"
DAYS_PER_MONTH = 365.25 / 12


class UnknownFeature(LookupError):
    """A feature that no rule of the catalogue fits: it would ship unexplained."""


@dataclass(frozen=True)
class Figure:
    """A figure a template quotes: a DuckDB expression over client_features and its unit."""

    name: str
    expression: str
    unit: str


@dataclass(frozen=True)
class ReasonCode:
    """A reason code: what it means and the sentences that state it with the client's figures."""

    code: str
    theme: str
    title: str
    key_feature: str
    key_unit: str
    client_template: str
    manager_template: str
    client_missing: str
    manager_missing: str
    figures: tuple[Figure, ...]

    def sentence(self, values: dict[str, object], audience: str = "client") -> str:
        """The sentence for `audience` ('client' or 'manager') with these figure values, or the 'missing'
        sentence when one of the figures it quotes is not known."""
        template = self.client_template if audience == "client" else self.manager_template
        missing = self.client_missing if audience == "client" else self.manager_missing
        units = {f.name: f.unit for f in self.figures}
        try:
            return render(template, values, units)
        except MissingFigure:
            return missing


@dataclass(frozen=True)
class ScoreBand:
    """A named band of the score in points: min_points inclusive, None for the last band."""

    band: str
    name: str
    min_points: int | None

    @property
    def label(self) -> str:
        """'C · Moderate risk'."""
        return f"{self.band} · {self.name}"


@dataclass(frozen=True)
class ReviewReason:
    """A reason a relationship manager gives when reviewing a decision: what it may justify and its words."""

    code: str
    action: str
    """'confirm', 'override' or 'any'."""
    label: str

    def justifies(self, action: str) -> bool:
        """Whether the reason may be given for this action ('confirm' or 'override')."""
        return self.action in (action, "any")


REVIEW_ACTIONS = ("confirm", "override")
"""What a review does to the model's decision."""


class MissingFigure(ValueError):
    """A template quotes a figure whose value is not known."""


def _rows(name: str, folder: Path = SEEDS) -> list[dict[str, str]]:
    """The rows of a seed CSV file."""
    with (folder / name).open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@cache
def catalogue() -> dict[str, ReasonCode]:
    """Every reason code, in catalogue order, with its figures."""
    figures: dict[str, list[Figure]] = {}
    for row in _rows("reason_code_figures.csv"):
        if row["unit"] not in UNITS:
            raise ValueError(f"reason_code_figures.csv: unit {row['unit']!r} of {row['figure']} is not one of {UNITS}")
        figures.setdefault(row["code"], []).append(Figure(row["figure"], row["expression"], row["unit"]))
    codes: dict[str, ReasonCode] = {}
    for row in _rows("reason_codes.csv"):
        codes[row["code"]] = ReasonCode(**row, figures=tuple(figures.pop(row["code"], [])))
    if figures:
        raise ValueError(f"reason_code_figures.csv names codes the catalogue lacks: {sorted(figures)}")
    return codes


@cache
def _rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, code) of reason_code_features.csv, by increasing priority."""
    rows = sorted(_rows("reason_code_features.csv"), key=lambda row: int(row["priority"]))
    unknown = {row["code"] for row in rows} - set(catalogue())
    if unknown:
        raise ValueError(f"reason_code_features.csv maps features to unknown codes: {sorted(unknown)}")
    return tuple((re.compile(row["pattern"]), row["code"]) for row in rows)


@cache
def feature_code(feature: str) -> str:
    """The reason code of a feature: the first rule (by priority) whose pattern fits its whole name."""
    for pattern, code in _rules():
        if pattern.fullmatch(feature):
            return code
    raise UnknownFeature(
        f"feature {feature} belongs to no reason code: add a rule to dbt/seeds/reason_code_features.csv"
    )


def feature_codes(features: list[str]) -> dict[str, str]:
    """feature -> reason code for every feature; UnknownFeature naming all the features no rule fits."""
    unknown = [f for f in features if not any(p.fullmatch(f) for p, _ in _rules())]
    if unknown:
        raise UnknownFeature(
            f"{len(unknown)} feature(s) belong to no reason code ({', '.join(unknown[:10])}): "
            "add rules to dbt/seeds/reason_code_features.csv"
        )
    return {feature: feature_code(feature) for feature in features}


@cache
def _prefixes() -> tuple[tuple[str, str], ...]:
    """(prefix, source file) of the history aggregates."""
    return tuple((row["prefix"], row["source_table"]) for row in _rows("feature_sources.csv"))


@cache
def source_rows() -> dict[str, str]:
    """What each history prefix aggregates over, in words ("BURO_": "all the client's Credit Bureau credits")."""
    return {row["prefix"]: row["rows"] for row in _rows("feature_sources.csv")}


def feature_source(feature: str) -> str:
    """The Kaggle file(s) a feature comes from, by its prefix (no prefix: the application)."""
    return next((source for prefix, source in _prefixes() if feature.startswith(prefix)), APPLICATION)


def feature_sources(features: list[str]) -> dict[str, int]:
    """How many features come from each Kaggle file, most first."""
    return dict(Counter(feature_source(name) for name in features).most_common())


def protected_features(features: list[str], attributes: tuple[str, ...]) -> list[str]:
    """The features that are a protected application column (CODE_GENDER, DAYS_BIRTH...) or, for a category
    (NAME_FAMILY_STATUS), one of its one-hot encodings (NAME_FAMILY_STATUS_MARRIED...). A feature derived from
    one (AGE_YEARS from DAYS_BIRTH) is protected only when listed itself."""
    application = tables()["application_test"]
    categories = {c.name for c in application.columns if c.domain}
    return [f for f in features if any(f == a or (a in categories and f.startswith(f"{a}_")) for a in attributes)]


@cache
def score_bands() -> tuple[ScoreBand, ...]:
    """The named bands, safest first."""
    bands = [
        ScoreBand(row["band"], row["name"], int(row["min_points"]) if row["min_points"] else None)
        for row in _rows("score_bands.csv")
    ]
    floors = [b.min_points for b in bands]
    if floors[-1] is not None or any(f is None for f in floors[:-1]) or floors[:-1] != sorted(floors[:-1])[::-1]:  # type: ignore[type-var]
        raise ValueError("score_bands.csv: bands go from the highest min_points down, the last one without a floor")
    return tuple(bands)


@cache
def review_reasons() -> dict[str, ReviewReason]:
    """The fixed list of review reasons (dbt/seeds/review_reasons.csv), by code, in file order."""
    reasons = {row["code"]: ReviewReason(**row) for row in _rows("review_reasons.csv")}
    wrong = [r.code for r in reasons.values() if r.action not in (*REVIEW_ACTIONS, "any")]
    if wrong:
        raise ValueError(f"review_reasons.csv: the action of {wrong} is not confirm, override or any")
    return reasons


def band_sql(points: str) -> str:
    """A CASE expression naming the score band (its label) of a points column."""
    cases = " ".join(
        f"WHEN {points} >= {band.min_points} THEN '{band.label}'"
        for band in score_bands()
        if band.min_points is not None
    )
    return f"CASE {cases} ELSE '{score_bands()[-1].label}' END"


def score_band(points: float) -> ScoreBand:
    """The band a score in points falls in."""
    return next(b for b in score_bands() if b.min_points is None or points >= b.min_points)


# --- writing figures for people ----------------------------------------------------------------------------


def render(template: str, values: dict[str, object], units: dict[str, str]) -> str:
    """A template with each {figure} written in its unit; MissingFigure when one is not known."""

    def replace(match: re.Match[str]) -> str:
        name, unit, noun, plural = match.groups()
        value = values.get(name)
        if _missing(value):
            raise MissingFigure(name)
        return format_figure(float(value), unit or units[name], noun, plural)  # type: ignore[arg-type]

    return PLACEHOLDER.sub(replace, template)


def _missing(value: object) -> bool:
    """Whether a value is unknown (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_figure(value: float, unit: str, noun: str | None = None, plural: str | None = None) -> str:
    """A number as a person reads it: 450,000 · 3 years and 2 months · 15% · 20 payments · 41 years · 14:00."""
    if unit == "money":
        return f"{round(value):,}"
    if unit == "duration":
        return duration(value)
    if unit == "days":
        return counted(round(abs(value)), "day")
    if unit == "share":
        return share(value)
    if unit == "score":
        return f"{round(100 * value)}"
    if unit == "years":
        return counted(math.floor(value), "year")
    if unit == "hour":
        return f"{int(value) % 24:02d}:00"
    if unit == "count":
        return counted(round(value), noun, plural) if noun else f"{round(value):,}"
    raise ValueError(f"unknown unit {unit!r}; known: {UNITS}")


def counted(n: int, noun: str | None, plural: str | None = None) -> str:
    """'1 payment', '20 payments', '2 children' (plural given)."""
    if noun is None:
        return f"{n:,}"
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def duration(days: float) -> str:
    """A number of days (negative: before the application) in years and months, or days under a month."""
    days = abs(days)
    if days < DAYS_PER_MONTH:
        return counted(round(days), "day")
    months = round(days / DAYS_PER_MONTH)
    years, months = divmod(months, 12)
    parts = [counted(years, "year")] if years else []
    parts += [counted(months, "month")] if months else []
    return " and ".join(parts)


def share(value: float) -> str:
    """0.153 -> '15%', 0.042 -> '4.2%', 0.0004 -> 'less than 0.1%'."""
    percent = 100 * value
    if percent == 0 or abs(percent) >= 10:
        return f"{percent:.0f}%"
    if abs(percent) < 0.1:
        return "less than 0.1%"
    return f"{percent:.1f}".rstrip("0").rstrip(".") + "%"


WORDS = {
    "AMT": "amount",
    "CNT": "number of",
    "DAYS": "days",
    "PERC": "share",
    "TW": "recency-weighted",
    "DPD": "days past due",
    "DBD": "days paid early",
    "SK": "",
    "BURO": "credit bureau",
    "CC": "credit card",
    "INSTAL": "instalments",
    "POS": "point-of-sale loans",
    "PREV": "earlier applications",
    "MEAN": "average",
    "MAX": "highest",
    "MIN": "lowest",
    "SUM": "total",
    "VAR": "variance",
    "NUNIQUE": "distinct",
    "NAN": "unknown",
    "EXT": "external",
    "APPR": "application",
    "REQ": "enquiries",
    "QRT": "quarter",
    "MON": "month",
    "DEF": "defaults",
    "OBS": "observed",
    "ANOM": "unknown",
}
WINDOW = re.compile(r"^L(\d+)(M|D)$")
LAST = re.compile(r"^(LAST|FIRST)(\d+)$")


def feature_label(feature: str) -> str:
    """A readable name for one feature, for lists of features (drift): its code's title, then its name in words,
    e.g. 'Late payments on earlier loans with us: instalments last 20 is late average'."""
    title = catalogue()[feature_code(feature)].title
    words = []
    for part in feature.split("_"):
        window, last = WINDOW.match(part), LAST.match(part)
        if window:
            words.append(f"last {window[1]} {'months' if window[2] == 'M' else 'days'}")
        elif last:
            words.append(f"{last[1].lower()} {last[2]}")
        else:
            words.append(WORDS.get(part, part.lower()))
    return f"{title}: {' '.join(w for w in words if w)}"
