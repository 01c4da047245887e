"""bureau and bureau_balance for the generator: other lenders' credits and their monthly statuses."""

from __future__ import annotations

import numpy as np

from generator.common import (
    Columns,
    code_of,
    counts_to_owner,
    pick,
    rank_within,
    round_to,
    sigmoid,
    with_missing,
)
from warehouse.schema import BUREAU_BALANCE_STATUSES, BUREAU_DOMAINS

D = BUREAU_DOMAINS
MONTH = 30.4375
MAX_CREDITS = 32
"""At most this many bureau credits per client: each client owns a block of SK_ID_BUREAU ids this wide."""
NO_BUREAU_SHARE = 0.14
BALANCE_SHARE = 0.476
"""Share of bureau credits with monthly rows in bureau_balance (817,395 of 1,716,428 in the real data)."""
LATE_CODES = np.arange(3, 8)
"""Codes of the late statuses '1'..'5' in BUREAU_BALANCE_STATUSES."""


def bureau_tables(
    rng: np.random.Generator, ids: np.ndarray, income: np.ndarray, propensity: np.ndarray
) -> tuple[Columns, Columns, np.ndarray]:
    """bureau and bureau_balance rows for clients `ids`, and the bureau row -> client index map."""
    n = len(ids)
    counts = np.where(
        rng.random(n) < NO_BUREAU_SHARE,
        0,
        np.minimum(1 + rng.negative_binomial(1.3, 1.3 / (1.3 + 4.6), n), MAX_CREDITS),
    )
    owner = counts_to_owner(counts)
    m = len(owner)
    bad = propensity[owner]
    days_credit = -np.round(rng.beta(1.0, 1.9, m) * 2922).astype(np.int64)
    credit_type = pick(
        rng,
        m,
        D["CREDIT_TYPE"],
        {
            "Consumer credit": 0.73,
            "Credit card": 0.235,
            "Car loan": 0.016,
            "Mortgage": 0.011,
            "Microloan": 0.0072,
            "Loan for business development": 0.0011,
            "Another type of loan": 6e-4,
            "Unknown type of loan": 3e-4,
            "Loan for working capital replenishment": 2.7e-4,
            "Cash loan (non-earmarked)": 3e-5,
            "Real estate loan": 2e-5,
            "Loan for the purchase of equipment": 2e-5,
            "Loan for purchase of shares (margin lending)": 2e-6,
            "Interbank credit": 1e-6,
            "Mobile operator loan": 1e-6,
        },
    )
    card = credit_type == code_of(D["CREDIT_TYPE"], "Credit card")
    active = rng.random(m) < 0.95 * np.exp(days_credit / 900.0) + 0.06
    closed_code = np.where(
        rng.random(m) < 0.006 * np.exp(0.8 * bad),
        code_of(D["CREDIT_ACTIVE"], "Sold"),
        code_of(D["CREDIT_ACTIVE"], "Closed"),
    )
    status = np.where(active, code_of(D["CREDIT_ACTIVE"], "Active"), closed_code).astype(np.int16)

    planned = np.round(rng.gamma(2.0, 380.0, m)) + 30
    enddate = (days_credit + planned).astype(float)
    enddate[active] = np.maximum(enddate[active], rng.integers(1, 1800, active.sum()))
    fact = np.where(
        active, np.nan, np.round(days_credit + rng.uniform(0.3, 1.0, m) * np.minimum(planned, -days_credit))
    )
    enddate = np.where(rng.random(m) < np.where(card, 0.2, 0.03), np.nan, enddate)

    overdue_now = active & (rng.random(m) < sigmoid(-5.4 + 1.4 * bad))
    day_overdue = np.where(overdue_now, rng.geometric(1 / 40.0, m), 0).astype(np.int64)
    amount = np.round(np.exp(rng.normal(np.log(140_000.0), 1.0, m)) * np.where(card, 0.6, 1.0), -2)
    debt = np.where(active, np.round(amount * rng.uniform(0.0, 1.0, m), 2), 0.0)
    sum_overdue = np.where(overdue_now, np.round(debt * rng.uniform(0.02, 0.3, m), 2), 0.0)
    ever_overdue = overdue_now | (rng.random(m) < sigmoid(-3.0 + 1.1 * bad))
    max_overdue = np.where(ever_overdue, np.maximum(np.round(np.exp(rng.normal(8.0, 1.5, m)), 2), sum_overdue), 0.0)

    bureau: Columns = {
        "SK_ID_CURR": ids[owner],
        "SK_ID_BUREAU": ids[owner] * (2 * MAX_CREDITS) + rank_within(counts),
        "CREDIT_ACTIVE": status,
        "CREDIT_CURRENCY": pick(
            rng,
            m,
            D["CREDIT_CURRENCY"],
            {"currency 1": 0.9992, "currency 2": 7e-4, "currency 3": 1e-4, "currency 4": 6e-6},
        ),
        "DAYS_CREDIT": days_credit,
        "CREDIT_DAY_OVERDUE": day_overdue,
        "DAYS_CREDIT_ENDDATE": enddate,
        "DAYS_ENDDATE_FACT": fact,
        "AMT_CREDIT_MAX_OVERDUE": np.where(overdue_now, max_overdue, with_missing(rng, max_overdue, 0.66)),
        "CNT_CREDIT_PROLONG": (rng.random(m) < 0.005).astype(np.int64),
        "AMT_CREDIT_SUM": amount,
        "AMT_CREDIT_SUM_DEBT": np.where(active, debt, with_missing(rng, debt, 0.22)),
        "AMT_CREDIT_SUM_LIMIT": with_missing(rng, np.where(card & active, np.round(amount - debt, 2), 0.0), 0.34),
        "AMT_CREDIT_SUM_OVERDUE": sum_overdue,
        "CREDIT_TYPE": credit_type,
        "DAYS_CREDIT_UPDATE": np.where(
            active, -rng.integers(0, 45, m), np.minimum(np.nan_to_num(fact) + rng.integers(0, 40, m), 0)
        ).astype(np.int64),
        "AMT_ANNUITY": with_missing(rng, round_to(amount / np.maximum(planned / MONTH, 1.0), 0.5), 0.71),
    }
    return bureau, _balance(rng, bureau, bad), owner


def _balance(rng: np.random.Generator, bureau: Columns, bad: np.ndarray) -> Columns:
    """Monthly statuses from each credit's start to the month before the application (C after closing)."""
    m = len(bureau["SK_ID_BUREAU"])
    start = np.minimum(np.floor(bureau["DAYS_CREDIT"] / MONTH), -1).astype(np.int64)
    months = np.where(rng.random(m) < BALANCE_SHARE, -start, 0)
    credit = counts_to_owner(months)
    rows = len(credit)
    month = start[credit] + rank_within(months)
    closed_month = np.floor(np.nan_to_num(bureau["DAYS_ENDDATE_FACT"], nan=1e9) / MONTH)[credit]
    unknown_until = start + np.floor(months * rng.uniform(0, 1, m) * (rng.random(m) < 0.45))
    late = rng.random(rows) < sigmoid(-4.6 + 1.2 * bad[credit])
    severity = rng.choice(5, size=rows, p=[0.72, 0.12, 0.05, 0.03, 0.08])
    status = np.full(rows, code_of(BUREAU_BALANCE_STATUSES, "0"), dtype=np.int16)
    status[late] = LATE_CODES[severity[late]]
    status[month < unknown_until[credit]] = code_of(BUREAU_BALANCE_STATUSES, "X")
    status[month > closed_month] = code_of(BUREAU_BALANCE_STATUSES, "C")
    return {"SK_ID_BUREAU": bureau["SK_ID_BUREAU"][credit], "MONTHS_BALANCE": month, "STATUS": status}
