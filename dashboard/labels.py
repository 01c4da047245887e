"""Plain-language names and values for model features (kernel-style names like BURO_DAYS_CREDIT_MEAN)."""

from __future__ import annotations

import math
from functools import cache

from warehouse import schema

SOURCES = {
    "BURO": "Credit bureau",
    "BB": "Credit bureau monthly status",
    "ACTIVE": "Active bureau credits",
    "CLOSED": "Closed bureau credits",
    "PREV": "Previous applications",
    "APPROVED": "Approved previous applications",
    "REFUSED": "Refused previous applications",
    "POS": "Point-of-sale and cash loans",
    "INSTAL": "Instalment payments",
    "CC": "Credit card",
}
AGGREGATES = {
    "MEAN": "average",
    "MAX": "highest",
    "MIN": "lowest",
    "SUM": "total",
    "VAR": "variance",
    "STD": "spread",
    "COUNT": "number",
    "SIZE": "number of records",
    "NUNIQUE": "distinct values",
    "MEDIAN": "median",
    "LAST": "latest",
}
NAMES = {
    "CODE_GENDER": "Gender",
    "NAME_FAMILY_STATUS": "Family status",
    "NAME_EDUCATION_TYPE": "Education",
    "NAME_INCOME_TYPE": "Income type",
    "OCCUPATION_TYPE": "Occupation",
    "ORGANIZATION_TYPE": "Employer type",
    "NAME_HOUSING_TYPE": "Housing",
    "FLAG_OWN_CAR": "Owns a car",
    "FLAG_OWN_REALTY": "Owns a home",
    "NAME_CONTRACT_TYPE": "Loan type",
    "DAYS_BIRTH": "Age",
    "DAYS_EMPLOYED": "Time in current job",
    "DAYS_EMPLOYED_PERC": "Share of life employed",
    "DAYS_REGISTRATION": "Time since registration change",
    "DAYS_ID_PUBLISH": "Time since ID document change",
    "DAYS_LAST_PHONE_CHANGE": "Time since phone change",
    "EXT_SOURCE_1": "External credit score 1",
    "EXT_SOURCE_2": "External credit score 2",
    "EXT_SOURCE_3": "External credit score 3",
    "AMT_INCOME_TOTAL": "Income",
    "AMT_CREDIT": "Credit amount",
    "AMT_ANNUITY": "Yearly repayment (annuity)",
    "AMT_GOODS_PRICE": "Price of the goods",
    "INCOME_CREDIT_PERC": "Income relative to the credit",
    "INCOME_PER_PERSON": "Income per family member",
    "ANNUITY_INCOME_PERC": "Repayment relative to income",
    "PAYMENT_RATE": "Repayment rate (annuity / credit)",
    "CNT_CHILDREN": "Number of children",
    "CNT_FAM_MEMBERS": "Family size",
    "OWN_CAR_AGE": "Age of own car",
    "REGION_RATING_CLIENT": "Region rating",
    "REGION_RATING_CLIENT_W_CITY": "Region rating (with city)",
    "REGION_POPULATION_RELATIVE": "Population density of the region",
    "DPD": "days past due",
    "DBD": "days paid before due",
    "SK_DPD": "days past due",
    "SK_DPD_DEF": "days past due (with tolerance)",
    "PAYMENT_PERC": "share of instalment paid",
    "PAYMENT_DIFF": "unpaid part of instalment",
    "DAYS_CREDIT": "age of credit",
    "CREDIT_DAY_OVERDUE": "days overdue",
    "AMT_CREDIT_SUM_DEBT": "current debt",
    "AMT_CREDIT_SUM_OVERDUE": "amount overdue",
    "AMT_CREDIT_MAX_OVERDUE": "largest amount overdue",
    "CNT_CREDIT_PROLONG": "number of prolongations",
    "APP_CREDIT_PERC": "credit granted relative to requested",
    "CNT_PAYMENT": "number of instalments",
    "MONTHS_BALANCE": "months of history",
    "NAME_CONTRACT_STATUS": "contract status",
    "CNT_DRAWINGS_ATM_CURRENT": "ATM withdrawals",
}
WORDS = {
    "AMT": "amount",
    "CNT": "number of",
    "DAYS": "days",
    "NUM": "number",
    "PERC": "share",
    "CURR": "current",
    "PREV": "previous",
    "APPR": "application",
    "REG": "registered",
    "DEF": "default",
}


@cache
def feature_label(feature: str) -> str:
    """A short plain-language name: 'Credit bureau: age of credit (average)' for BURO_DAYS_CREDIT_MEAN."""
    if feature in NAMES:
        return NAMES[feature]
    prefix, _, rest = feature.partition("_")
    if prefix in SOURCES and rest:
        base, aggregate = _split_aggregate(rest)
        text = f"{SOURCES[prefix]}: {_base_label(base)}"
        return f"{text} ({aggregate})" if aggregate else text
    return _base_label(feature)


def format_value(feature: str, value: object) -> str:
    """The value as a person reads it: ages in years, amounts with separators, missing as 'no record'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no record"
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    if axis_scale(feature)[0] != 1.0:
        if number == schema.DAYS_CODE:
            return "not applicable"
        years = abs(number) / 365.25
        return f"{years:.1f} years" if years >= 1 else f"{abs(number):.0f} days"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if number.is_integer():
        return f"{number:.0f}"
    return f"{number:.2f}"


def axis_scale(feature: str) -> tuple[float, str]:
    """Factor and unit to draw a feature on an axis: day counts (negative, before applying) in years."""
    base = _split_aggregate(feature.partition("_")[2])[0] if feature.split("_")[0] in SOURCES else feature
    if base.startswith("DAYS_") and not base.endswith("PERC"):
        return -1 / 365.25, "years ago" if base != "DAYS_BIRTH" else "years"
    return 1.0, ""


def _split_aggregate(name: str) -> tuple[str, str]:
    """('DAYS_CREDIT', 'average') from 'DAYS_CREDIT_MEAN'."""
    head, _, tail = name.rpartition("_")
    if head and tail in AGGREGATES:
        return head, AGGREGATES[tail]
    return name, ""


def _base_label(column: str) -> str:
    """A name for a raw column: curated, else the column dictionary's, else the words of the name."""
    if column in NAMES:
        return NAMES[column]
    description = _dictionary_descriptions().get(column)
    if description and len(description) <= 50:
        return description[0].upper() + description[1:]
    words = [WORDS.get(part, part.lower()) for part in column.split("_") if part not in {"FLAG", "NAME"}]
    text = " ".join(words) or column
    return text[0].upper() + text[1:]


@cache
def _dictionary_descriptions() -> dict[str, str]:
    """Column -> description from the official column dictionary (first table that names it wins)."""
    out: dict[str, str] = {}
    for columns in schema.dictionary().values():
        for name, description in columns:
            out.setdefault(name, description.rstrip(". "))
    return out
