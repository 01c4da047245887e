"""The generator's application table: one row per client, with the real columns' frequencies and ranges."""

from __future__ import annotations

import numpy as np

from generator.common import (
    MISSING_CODE,
    Columns,
    Population,
    code_of,
    pick,
    round_to,
    sigmoid,
    with_missing,
    zipf_weights,
)
from warehouse.schema import APPLICATION_DOMAINS as D
from warehouse.schema import DAYS_CODE

YEAR = 365.25

# Share missing of each building quantity (its _AVG, _MODE, _MEDI columns) and its Beta(mean, concentration).
BUILDING = {
    "APARTMENTS": (0.507, 0.117, 6.0),
    "BASEMENTAREA": (0.585, 0.088, 6.0),
    "YEARS_BEGINEXPLUATATION": (0.488, 0.977, 60.0),
    "YEARS_BUILD": (0.665, 0.752, 12.0),
    "COMMONAREA": (0.699, 0.045, 5.0),
    "ELEVATORS": (0.533, 0.079, 4.0),
    "ENTRANCES": (0.503, 0.150, 8.0),
    "FLOORSMAX": (0.498, 0.226, 8.0),
    "FLOORSMIN": (0.679, 0.232, 8.0),
    "LANDAREA": (0.594, 0.066, 4.0),
    "LIVINGAPARTMENTS": (0.684, 0.101, 6.0),
    "LIVINGAREA": (0.502, 0.107, 6.0),
    "NONLIVINGAPARTMENTS": (0.694, 0.009, 3.0),
    "NONLIVINGAREA": (0.552, 0.028, 3.0),
}
BUILDING_CATEGORIES = {
    "FONDKAPREMONT_MODE": (
        0.684,
        {
            "reg oper account": 0.74,
            "reg oper spec account": 0.12,
            "org spec account": 0.06,
            "not specified": 0.06,
        },
    ),
    "HOUSETYPE_MODE": (0.502, {"block of flats": 0.982, "specific housing": 0.01, "terraced house": 0.008}),
    "WALLSMATERIAL_MODE": (
        0.509,
        {
            "Panel": 0.43,
            "Stone, brick": 0.41,
            "Block": 0.06,
            "Wooden": 0.035,
            "Mixed": 0.015,
            "Monolithic": 0.012,
            "Others": 0.011,
        },
    ),
    "EMERGENCYSTATE_MODE": (0.474, {"No": 0.986, "Yes": 0.014}),
}
TOTALAREA_MISSING = 0.483

DOCUMENT_RATES = {
    2: 4e-5,
    3: 0.71,
    4: 8e-5,
    5: 0.015,
    6: 0.088,
    7: 2e-4,
    8: 0.081,
    9: 0.0039,
    10: 2e-5,
    11: 0.0039,
    12: 7e-6,
    13: 0.0035,
    14: 0.0029,
    15: 0.0012,
    16: 0.0099,
    17: 3e-4,
    18: 0.0081,
    19: 6e-4,
    20: 5e-4,
    21: 3e-4,
}
CREDIT_BUREAU_REQUESTS = {"HOUR": 0.006, "DAY": 0.007, "WEEK": 0.034, "MON": 0.27, "QRT": 0.27, "YEAR": 1.9}

INCOME_TYPE_WEIGHTS = {
    "Working": 0.516,
    "Commercial associate": 0.233,
    "State servant": 0.0706,
    "Unemployed": 7e-5,
    "Student": 6e-5,
    "Businessman": 3e-5,
    "Maternity leave": 2e-5,
}


def application_columns(rng: np.random.Generator, n: int, risk: np.ndarray, pop: Population) -> Columns:
    """Every application column except SK_ID_CURR and TARGET, for n clients with latent risk `risk`."""
    cols: Columns = {}
    _person(rng, n, pop, cols)
    _loan(rng, n, pop, cols)
    _contact_and_region(rng, n, cols)
    _external_scores(rng, n, risk, pop, cols)
    _building(rng, n, cols)
    _social_circle_and_documents(rng, n, risk, cols)
    return cols


def _person(rng: np.random.Generator, n: int, pop: Population, cols: Columns) -> None:
    """Gender, family, income type, age, employment, education, housing, car, income."""
    cols["CODE_GENDER"] = pick(rng, n, D["CODE_GENDER"], {"F": 0.658, "M": 0.342, "XNA": 1.3e-5})
    pensioner = rng.random(n) < pop.pensioner_share
    income_type = pick(rng, n, D["NAME_INCOME_TYPE"], INCOME_TYPE_WEIGHTS)
    income_type[pensioner] = code_of(D["NAME_INCOME_TYPE"], "Pensioner")
    cols["NAME_INCOME_TYPE"] = income_type
    no_job = pensioner | (income_type == code_of(D["NAME_INCOME_TYPE"], "Unemployed"))

    age = np.where(pensioner, 55.5 + 13.5 * rng.beta(1.3, 1.6, n), 21.0 + 43.0 * rng.beta(1.5, 2.0, n))
    age = np.clip(age + pop.age_shift_years, 20.6, 68.9)
    cols["DAYS_BIRTH"] = -np.round(age * YEAR).astype(np.int64)
    working_years = np.maximum(age - 18.0, 0.1)
    employed_years = np.minimum(rng.exponential(6.5, n), working_years * rng.uniform(0.3, 1.0, n))
    cols["DAYS_EMPLOYED"] = np.where(no_job, DAYS_CODE, -np.maximum(np.round(employed_years * YEAR), 1)).astype(
        np.int64
    )
    cols["FLAG_EMP_PHONE"] = (~no_job).astype(np.int64)

    cols["NAME_EDUCATION_TYPE"] = pick(
        rng,
        n,
        D["NAME_EDUCATION_TYPE"],
        {
            "Secondary / secondary special": 0.71,
            "Higher education": 0.243,
            "Incomplete higher": 0.033,
            "Lower secondary": 0.0124,
            "Academic degree": 5e-4,
        },
    )
    family = pick(
        rng,
        n,
        D["NAME_FAMILY_STATUS"],
        {
            "Married": 0.639,
            "Single / not married": 0.148,
            "Civil marriage": 0.097,
            "Separated": 0.064,
            "Widow": 0.052,
            "Unknown": 7e-6,
        },
    )
    cols["NAME_FAMILY_STATUS"] = family
    children = rng.choice(6, size=n, p=[0.70, 0.199, 0.087, 0.012, 0.0015, 0.0005]).astype(np.int64)
    children[pensioner] = 0
    cols["CNT_CHILDREN"] = children
    couple = np.isin(
        family,
        [code_of(D["NAME_FAMILY_STATUS"], "Married"), code_of(D["NAME_FAMILY_STATUS"], "Civil marriage")],
    )
    cols["CNT_FAM_MEMBERS"] = (children + 1 + couple).astype(float)
    cols["NAME_HOUSING_TYPE"] = pick(
        rng,
        n,
        D["NAME_HOUSING_TYPE"],
        {
            "House / apartment": 0.887,
            "With parents": 0.048,
            "Municipal apartment": 0.036,
            "Rented apartment": 0.016,
            "Office apartment": 0.0085,
            "Co-op apartment": 0.0036,
        },
    )
    car = rng.random(n) < 0.34
    cols["FLAG_OWN_CAR"] = np.where(car, 0, 1).astype(np.int16)
    cols["OWN_CAR_AGE"] = np.where(car, np.minimum(np.round(rng.gamma(1.8, 6.7, n)), 65.0), np.nan)
    cols["FLAG_OWN_REALTY"] = np.where(rng.random(n) < 0.694, 0, 1).astype(np.int16)

    income = np.exp(pop.income_log_median + 0.5 * rng.standard_normal(n) - 0.25 * pensioner)
    cols["AMT_INCOME_TOTAL"] = np.maximum(round_to(income, 4500.0), 25_650.0)

    occupation = pick(rng, n, D["OCCUPATION_TYPE"], zipf_weights(D["OCCUPATION_TYPE"], 1.25))
    occupation[no_job | (rng.random(n) < 0.16)] = MISSING_CODE
    cols["OCCUPATION_TYPE"] = occupation
    organization = pick(rng, n, D["ORGANIZATION_TYPE"], zipf_weights(D["ORGANIZATION_TYPE"], 1.3, ("XNA",)))
    organization[no_job] = code_of(D["ORGANIZATION_TYPE"], "XNA")
    cols["ORGANIZATION_TYPE"] = organization
    cols["NAME_TYPE_SUITE"] = with_missing(
        rng,
        pick(
            rng,
            n,
            D["NAME_TYPE_SUITE"],
            {
                "Unaccompanied": 0.81,
                "Family": 0.131,
                "Spouse, partner": 0.037,
                "Children": 0.0106,
                "Other_B": 0.0058,
                "Other_A": 0.0028,
                "Group of people": 9e-4,
            },
        ),
        0.0042,
    )


def _loan(rng: np.random.Generator, n: int, pop: Population, cols: Columns) -> None:
    """Contract type, goods price, credit, annuity (credit over a 10-60 month term at 10-26% a year)."""
    revolving = rng.random(n) < pop.revolving_share
    cols["NAME_CONTRACT_TYPE"] = revolving.astype(np.int16)
    income = cols["AMT_INCOME_TOTAL"]
    ratio = np.exp(pop.credit_ratio_log_median + 0.55 * rng.standard_normal(n))
    goods = np.maximum(round_to(income * np.clip(ratio, 0.4, 20.0), 4500.0), 45_000.0)
    insured = rng.random(n) < 0.65
    credit = goods * np.where(insured, 1.0 + rng.uniform(0.05, 0.25, n), 1.0)
    card_limit = round_to(np.clip(income * rng.uniform(0.5, 1.5, n), 27_000.0, 1_350_000.0), 22_500.0)
    credit = np.where(revolving, card_limit, np.round(credit, 1))
    goods = np.where(revolving, np.where(rng.random(n) < 0.003, np.nan, card_limit), goods)
    months = rng.choice(np.array([10, 12, 15, 18, 20, 24, 30, 36, 42, 48, 60]), size=n)
    rate = rng.uniform(0.10, 0.26, n) / 12.0
    annuity = credit * rate / (1.0 - (1.0 + rate) ** -months)
    annuity = np.where(revolving, credit * 0.05, annuity)
    cols["AMT_CREDIT"] = credit
    cols["AMT_GOODS_PRICE"] = goods
    cols["AMT_ANNUITY"] = with_missing(rng, np.round(annuity * 2.0) / 2.0, 4e-5)


def _contact_and_region(rng: np.random.Generator, n: int, cols: Columns) -> None:
    """Registration dates, phone flags, region population and rating, application weekday and hour."""
    age_days = -cols["DAYS_BIRTH"].astype(float)
    adult_days = age_days - 18 * YEAR
    cols["DAYS_REGISTRATION"] = -np.round(np.minimum(rng.exponential(5000.0, n), adult_days))
    cols["DAYS_ID_PUBLISH"] = -np.round(np.minimum(rng.uniform(0.0, 6500.0, n), adult_days)).astype(np.int64)
    cols["DAYS_LAST_PHONE_CHANGE"] = with_missing(
        rng,
        np.where(rng.random(n) < 0.12, 0.0, -np.round(np.minimum(rng.exponential(1000.0, n), 4292.0))),
        3e-6,
    )
    cols["FLAG_MOBIL"] = np.ones(n, dtype=np.int64)
    cols["FLAG_WORK_PHONE"] = (rng.random(n) < 0.2).astype(np.int64)
    cols["FLAG_CONT_MOBILE"] = (rng.random(n) < 0.998).astype(np.int64)
    cols["FLAG_PHONE"] = (rng.random(n) < 0.28).astype(np.int64)
    cols["FLAG_EMAIL"] = (rng.random(n) < 0.057).astype(np.int64)

    region = rng.choice(81, size=n, p=_region_weights())
    population = np.round(0.00029 * (0.0725 / 0.00029) ** (np.arange(81) / 80.0), 6)
    cols["REGION_POPULATION_RELATIVE"] = population[region]
    rating = np.where(region >= 70, 1, np.where(region < 14, 3, 2))
    cols["REGION_RATING_CLIENT"] = rating.astype(np.int64)
    city = rating + rng.choice([-1, 0, 1], size=n, p=[0.02, 0.96, 0.02])
    cols["REGION_RATING_CLIENT_W_CITY"] = np.clip(city, 1, 3).astype(np.int64)
    cols["WEEKDAY_APPR_PROCESS_START"] = pick(
        rng,
        n,
        D["WEEKDAY_APPR_PROCESS_START"],
        {
            "MONDAY": 0.165,
            "TUESDAY": 0.175,
            "WEDNESDAY": 0.169,
            "THURSDAY": 0.164,
            "FRIDAY": 0.164,
            "SATURDAY": 0.11,
            "SUNDAY": 0.053,
        },
    )
    cols["HOUR_APPR_PROCESS_START"] = np.clip(np.round(rng.normal(12.1, 3.3, n)), 0, 23).astype(np.int64)
    for name, rate in [
        ("REG_REGION_NOT_LIVE_REGION", 0.015),
        ("REG_REGION_NOT_WORK_REGION", 0.051),
        ("LIVE_REGION_NOT_WORK_REGION", 0.041),
        ("REG_CITY_NOT_LIVE_CITY", 0.078),
        ("REG_CITY_NOT_WORK_CITY", 0.23),
        ("LIVE_CITY_NOT_WORK_CITY", 0.18),
    ]:
        cols[name] = (rng.random(n) < rate).astype(np.int64)


def _region_weights() -> np.ndarray:
    """Client share of each of the 81 regions (bigger regions, bigger share)."""
    w = 0.3 + np.arange(81) / 20.0
    w[70:] *= 1.6
    return w / w.sum()


def _external_scores(rng: np.random.Generator, n: int, risk: np.ndarray, pop: Population, cols: Columns) -> None:
    """EXT_SOURCE_1/2/3: scores in (0, 1) that partly see the client's latent risk."""
    for k, (loading, spread, missing) in enumerate(
        [(0.55, 0.95, 0.564), (0.55, 0.85, 0.0021), (0.55, 0.95, 0.198)], start=1
    ):
        latent = -loading * risk + np.sqrt(1 - loading**2) * rng.standard_normal(n)
        score = sigmoid(0.15 + pop.ext_shift + spread * 1.15 * latent)
        cols[f"EXT_SOURCE_{k}"] = with_missing(rng, np.round(np.clip(score, 1e-4, 0.9999), 9), missing)


def _building(rng: np.random.Generator, n: int, cols: Columns) -> None:
    """Building description columns: missing together per client (nested by each column's missing share)."""
    known = rng.random(n)
    for name, (missing, mean, concentration) in BUILDING.items():
        value = rng.beta(mean * concentration, (1 - mean) * concentration, n)
        for suffix in ("AVG", "MODE", "MEDI"):
            noisy = value if suffix == "AVG" else np.clip(value * rng.normal(1.0, 0.03, n), 0.0, 1.0)
            cols[f"{name}_{suffix}"] = np.where(known < missing, np.nan, np.round(noisy, 4))
    cols["TOTALAREA_MODE"] = np.where(known < TOTALAREA_MISSING, np.nan, np.round(rng.beta(0.6, 5.4, n), 4))
    for name, (missing, weights) in BUILDING_CATEGORIES.items():
        codes = pick(rng, n, D[name], weights)
        codes[known < missing] = MISSING_CODE
        cols[name] = codes


def _social_circle_and_documents(rng: np.random.Generator, n: int, risk: np.ndarray, cols: Columns) -> None:
    """Social-circle default counts, document flags and credit-bureau enquiry counts."""
    observed = rng.geometric(0.42, n) - 1.0
    defaulted = rng.binomial(observed.astype(np.int64), np.clip(0.09 * np.exp(0.3 * risk), 0, 1)).astype(float)
    extra = rng.binomial(1, 0.05, n)
    circle_missing = rng.random(n) < 0.0033
    for name, value in [
        ("OBS_30_CNT_SOCIAL_CIRCLE", observed),
        ("DEF_30_CNT_SOCIAL_CIRCLE", defaulted),
        ("OBS_60_CNT_SOCIAL_CIRCLE", observed + extra),
        ("DEF_60_CNT_SOCIAL_CIRCLE", np.maximum(defaulted - rng.binomial(1, 0.1, n), 0)),
    ]:
        cols[name] = np.where(circle_missing, np.nan, value)
    for k, rate in DOCUMENT_RATES.items():
        cols[f"FLAG_DOCUMENT_{k}"] = (rng.random(n) < rate).astype(np.int64)
    enquiries_missing = rng.random(n) < 0.135
    for period, mean in CREDIT_BUREAU_REQUESTS.items():
        count = rng.poisson(mean, n).astype(float)
        cols[f"AMT_REQ_CREDIT_BUREAU_{period}"] = np.where(enquiries_missing, np.nan, count)
