"""previous_application and its histories: POS_CASH_balance, credit_card_balance, installments_payments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.common import (
    MISSING_CODE,
    Columns,
    code_of,
    counts_to_owner,
    pick,
    rank_within,
    round_to,
    sigmoid,
    with_missing,
    zipf_weights,
)
from warehouse.schema import CREDIT_CARD_DOMAINS, DAYS_CODE, POS_CASH_DOMAINS, PREVIOUS_DOMAINS

D = PREVIOUS_DOMAINS
MONTH = 30.4375
MAX_PREVIOUS = 32
"""At most this many previous applications per client (SK_ID_PREV = SK_ID_CURR * 64 + 32 + rank)."""
NO_PREVIOUS_SHARE = 0.05
SPLIT_PAYMENT_SHARE = 0.13
"""Share of instalments paid in two parts (two rows with the same instalment number)."""
CASH, CONSUMER, REVOLVING, XNA_TYPE = (
    code_of(D["NAME_CONTRACT_TYPE"], v) for v in ("Cash loans", "Consumer loans", "Revolving loans", "XNA")
)
APPROVED, CANCELED, REFUSED, UNUSED = (
    code_of(D["NAME_CONTRACT_STATUS"], v) for v in ("Approved", "Canceled", "Refused", "Unused offer")
)
CASH_TERMS = (
    np.array([6, 12, 18, 24, 30, 36, 48, 60]),
    np.array([0.06, 0.3, 0.12, 0.24, 0.04, 0.14, 0.06, 0.04]),
)
CONSUMER_TERMS = (np.array([4, 6, 8, 10, 12, 18, 24]), np.array([0.06, 0.22, 0.08, 0.2, 0.3, 0.06, 0.08]))


@dataclass(frozen=True)
class Behaviour:
    """Client-level propensities (standardised) that drive each history."""

    refusal: np.ndarray
    late: np.ndarray
    utilisation: np.ndarray


def previous_tables(
    rng: np.random.Generator, ids: np.ndarray, behaviour: Behaviour
) -> tuple[dict[str, Columns], dict[str, np.ndarray]]:
    """previous_application with its POS, card and instalment rows; each table's row -> client index map."""
    n = len(ids)
    counts = np.where(
        rng.random(n) < NO_PREVIOUS_SHARE,
        0,
        np.minimum(1 + rng.negative_binomial(1.6, 1.6 / (1.6 + 3.95), n), MAX_PREVIOUS),
    )
    owner = counts_to_owner(counts)
    prev = _applications(rng, ids, owner, counts, behaviour)
    late = behaviour.late
    loans = np.flatnonzero((prev["NAME_CONTRACT_STATUS"] == APPROVED) & (prev["NAME_CONTRACT_TYPE"] != REVOLVING))
    cards = np.flatnonzero((prev["NAME_CONTRACT_STATUS"] == APPROVED) & (prev["NAME_CONTRACT_TYPE"] == REVOLVING))
    installments, pos, inst_loan, pos_loan = _loans(rng, prev, loans, late[owner[loans]])
    card, card_inst, card_rows, card_inst_rows = _cards(
        rng, prev, cards, late[owner[cards]], behaviour.utilisation[owner[cards]]
    )
    tables = {
        "previous_application": prev,
        "POS_CASH_balance": pos,
        "credit_card_balance": card,
        "installments_payments": {k: np.concatenate([installments[k], card_inst[k]]) for k in installments},
    }
    owners = {
        "previous_application": owner,
        "POS_CASH_balance": owner[loans][pos_loan],
        "credit_card_balance": owner[cards][card_rows],
        "installments_payments": np.concatenate([owner[loans][inst_loan], owner[cards][card_inst_rows]]),
    }
    return tables, owners


def _applications(
    rng: np.random.Generator, ids: np.ndarray, owner: np.ndarray, counts: np.ndarray, behaviour: Behaviour
) -> Columns:
    """One row per previous application, with status, amounts, terms and the 365243-coded dates."""
    m = len(owner)
    ctype = pick(
        rng,
        m,
        D["NAME_CONTRACT_TYPE"],
        {"Cash loans": 0.447, "Consumer loans": 0.436, "Revolving loans": 0.116, "XNA": 2e-4},
    )
    refused = rng.random(m) < sigmoid(-1.75 + 0.9 * behaviour.refusal[owner])
    outcome = np.array([APPROVED, CANCELED, UNUSED])
    other = np.where(
        ctype == CONSUMER,
        rng.choice(outcome, size=m, p=[0.94, 0.02, 0.04]),
        rng.choice(outcome, size=m, p=[0.6, 0.4, 0.0]),
    )
    status = np.where(refused, REFUSED, other).astype(np.int16)
    status[ctype == XNA_TYPE] = CANCELED
    approved = status == APPROVED
    cash, consumer, revolving = ctype == CASH, ctype == CONSUMER, ctype == REVOLVING
    canceled = status == CANCELED

    decision = -np.round(rng.beta(0.8, 2.2, m) * 2921 + 1).astype(np.int64)
    decision[approved & revolving] = -np.round(rng.beta(1.2, 1.65, (approved & revolving).sum()) * 2880 + 40)
    decision[approved & ~revolving] = np.minimum(decision[approved & ~revolving], -40)

    application = np.where(
        consumer,
        round_to(np.exp(rng.normal(np.log(60_000), 0.9, m)), 9.0),
        round_to(np.exp(rng.normal(np.log(230_000), 0.8, m)), 4500.0),
    )
    application = np.where(
        revolving, np.where(rng.random(m) < 0.7, 0.0, round_to(application * 0.5, 22500.0)), application
    )
    application[canceled & (rng.random(m) < 0.9)] = 0.0
    with_down = consumer & (rng.random(m) < 0.5)
    down = np.where(with_down, np.round(application * rng.uniform(0.05, 0.35, m), 1), 0.0)
    credit = np.where(
        approved | (status == UNUSED),
        (application - down) * np.where(cash & (rng.random(m) < 0.6), rng.uniform(1.0, 1.15, m), 1.0),
        application,
    )
    limit = np.maximum(round_to(np.exp(rng.normal(np.log(160_000), 0.7, m)), 22500.0), 22500.0)
    credit = np.where(revolving, np.where(canceled, 0.0, limit), np.round(credit, 1))
    term = np.where(
        cash,
        rng.choice(CASH_TERMS[0], size=m, p=CASH_TERMS[1]),
        rng.choice(CONSUMER_TERMS[0], size=m, p=CONSUMER_TERMS[1]),
    ).astype(float)
    term[revolving] = 0.0
    rate = rng.uniform(0.12, 0.40, m) / 12.0
    annuity = np.where(revolving, credit * 0.05, credit * rate / (1.0 - (1.0 + rate) ** -np.maximum(term, 1)))
    unpriced = canceled & (application == 0)
    term[unpriced] = np.nan
    annuity = np.where(unpriced, np.nan, np.round(annuity, 3))
    goods = np.where(revolving | unpriced, np.nan, application)

    prev: Columns = {
        "SK_ID_PREV": ids[owner] * (2 * MAX_PREVIOUS) + MAX_PREVIOUS + rank_within(counts),
        "SK_ID_CURR": ids[owner],
        "NAME_CONTRACT_TYPE": ctype,
        "AMT_ANNUITY": annuity,
        "AMT_APPLICATION": application,
        "AMT_CREDIT": credit,
        "AMT_DOWN_PAYMENT": np.where(consumer & ~unpriced, down, np.nan),
        "AMT_GOODS_PRICE": goods,
        "WEEKDAY_APPR_PROCESS_START": pick(
            rng,
            m,
            D["WEEKDAY_APPR_PROCESS_START"],
            {
                "MONDAY": 0.154,
                "TUESDAY": 0.153,
                "WEDNESDAY": 0.152,
                "THURSDAY": 0.15,
                "FRIDAY": 0.151,
                "SATURDAY": 0.144,
                "SUNDAY": 0.096,
            },
        ),
        "HOUR_APPR_PROCESS_START": np.clip(np.round(rng.normal(12.5, 3.3, m)), 0, 23).astype(np.int64),
        "FLAG_LAST_APPL_PER_CONTRACT": (rng.random(m) < 0.005).astype(np.int16),
        "NFLAG_LAST_APPL_IN_DAY": (rng.random(m) < 0.9965).astype(np.int64),
        "RATE_DOWN_PAYMENT": np.where(consumer & ~unpriced, np.round(down / np.maximum(application, 1.0), 9), np.nan),
        "RATE_INTEREST_PRIMARY": np.where(rng.random(m) < 0.0036, np.round(rng.uniform(0.03, 1.0, m), 9), np.nan),
        "RATE_INTEREST_PRIVILEGED": np.where(rng.random(m) < 0.0036, np.round(rng.uniform(0.37, 1.0, m), 9), np.nan),
        "NAME_CASH_LOAN_PURPOSE": _cash_purpose(rng, cash),
        "NAME_CONTRACT_STATUS": status,
        "DAYS_DECISION": decision,
        "NAME_PAYMENT_TYPE": _payment_type(rng, status),
        "CODE_REJECT_REASON": _reject_reason(rng, status),
        "NAME_TYPE_SUITE": with_missing(
            rng,
            pick(
                rng,
                m,
                D["NAME_TYPE_SUITE"],
                {
                    "Unaccompanied": 0.6,
                    "Family": 0.25,
                    "Spouse, partner": 0.08,
                    "Children": 0.04,
                    "Other_B": 0.02,
                    "Other_A": 0.01,
                    "Group of people": 0.003,
                },
            ),
            0.49,
        ),
        "NAME_CLIENT_TYPE": _client_type(rng, counts),
        **_product(rng, ctype, status),
        "SELLERPLACE_AREA": np.where(
            consumer, np.round(np.exp(rng.normal(3.5, 1.6, m))), np.where(rng.random(m) < 0.85, -1, 0)
        ).astype(np.int64),
        "CNT_PAYMENT": term,
        **_dates(rng, decision, term, approved, revolving),
        "NFLAG_INSURED_ON_APPROVAL": np.where(approved & ~revolving, (rng.random(m) < 0.33).astype(float), np.nan),
    }
    return prev


def _cash_purpose(rng: np.random.Generator, cash: np.ndarray) -> np.ndarray:
    """XAP unless a cash loan; cash loans mostly XNA, a few with a named purpose."""
    domain = D["NAME_CASH_LOAN_PURPOSE"]
    named = pick(rng, len(cash), domain, zipf_weights(domain, 1.2, ("XAP", "XNA")))
    purpose = np.where(rng.random(len(cash)) < 0.9, code_of(domain, "XNA"), named)
    return np.where(cash, purpose, code_of(domain, "XAP")).astype(np.int16)


def _payment_type(rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
    """Cash through the bank for most approved applications, XNA for most others."""
    domain = D["NAME_PAYMENT_TYPE"]
    paid = pick(
        rng,
        len(status),
        domain,
        {
            "Cash through the bank": 0.985,
            "Non-cash from your account": 0.013,
            "Cashless from the account of the employer": 0.0015,
        },
    )
    xna = (status != APPROVED) & (rng.random(len(status)) < 0.85) | (rng.random(len(status)) < 0.07)
    return np.where(xna, code_of(domain, "XNA"), paid).astype(np.int16)


def _reject_reason(rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
    """XAP unless refused (a refusal reason) or an unused offer (CLIENT)."""
    domain = D["CODE_REJECT_REASON"]
    reason = pick(
        rng,
        len(status),
        domain,
        {
            "HC": 0.6,
            "LIMIT": 0.19,
            "SCO": 0.13,
            "SCOFR": 0.045,
            "XNA": 0.018,
            "VERIF": 0.012,
            "SYSTEM": 0.0025,
        },
    )
    reason = np.where(status == REFUSED, reason, code_of(domain, "XAP"))
    return np.where(status == UNUSED, code_of(domain, "CLIENT"), reason).astype(np.int16)


def _client_type(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """New for a client's first application, Repeater or Refreshed later, XNA rarely."""
    domain = D["NAME_CLIENT_TYPE"]
    later = pick(rng, counts.sum(), domain, {"Repeater": 0.9, "Refreshed": 0.098, "XNA": 0.002})
    return np.where(rank_within(counts) == 0, code_of(domain, "New"), later).astype(np.int16)


def _product(rng: np.random.Generator, ctype: np.ndarray, status: np.ndarray) -> Columns:
    """Goods category, portfolio, product type, channel, seller industry, yield group, product combination."""
    m = len(ctype)
    consumer, cash, revolving = ctype == CONSUMER, ctype == CASH, ctype == REVOLVING
    canceled = status == CANCELED

    def coded(column: str, value: str) -> int:
        return code_of(D[column], value)

    goods = pick(rng, m, D["NAME_GOODS_CATEGORY"], zipf_weights(D["NAME_GOODS_CATEGORY"], 1.35, ("XNA",)))
    portfolio = np.select(
        [consumer, cash & ~canceled, revolving & ~canceled, ctype == XNA_TYPE],
        [
            coded("NAME_PORTFOLIO", "POS"),
            coded("NAME_PORTFOLIO", "Cash"),
            coded("NAME_PORTFOLIO", "Cards"),
            coded("NAME_PORTFOLIO", "XNA"),
        ],
        coded("NAME_PORTFOLIO", "XNA"),
    )
    portfolio[consumer & (rng.random(m) < 0.001)] = coded("NAME_PORTFOLIO", "Cars")
    product_type = pick(rng, m, D["NAME_PRODUCT_TYPE"], {"x-sell": 0.72, "walk-in": 0.28})
    seller = pick(rng, m, D["NAME_SELLER_INDUSTRY"], zipf_weights(D["NAME_SELLER_INDUSTRY"], 1.5, ("XNA",)))
    yield_group = pick(
        rng, m, D["NAME_YIELD_GROUP"], {"middle": 0.34, "high": 0.3, "low_normal": 0.28, "low_action": 0.08}
    )
    combination = np.select(
        [consumer, cash & canceled, cash, revolving],
        [
            pick(
                rng,
                m,
                D["PRODUCT_COMBINATION"],
                {
                    "POS household with interest": 0.31,
                    "POS mobile with interest": 0.26,
                    "POS industry with interest": 0.12,
                    "POS household without interest": 0.1,
                    "POS mobile without interest": 0.03,
                    "POS other with interest": 0.03,
                    "POS industry without interest": 0.015,
                    "POS others without interest": 0.005,
                },
            ),
            np.full(m, coded("PRODUCT_COMBINATION", "Cash")),
            pick(
                rng,
                m,
                D["PRODUCT_COMBINATION"],
                {
                    "Cash X-Sell: middle": 0.23,
                    "Cash X-Sell: low": 0.2,
                    "Cash Street: high": 0.11,
                    "Cash X-Sell: high": 0.11,
                    "Cash Street: middle": 0.08,
                    "Cash Street: low": 0.06,
                },
            ),
            pick(rng, m, D["PRODUCT_COMBINATION"], {"Card Street": 0.55, "Card X-Sell": 0.45}),
        ],
        MISSING_CODE,
    )
    return {
        "NAME_GOODS_CATEGORY": np.where(consumer, goods, coded("NAME_GOODS_CATEGORY", "XNA")).astype(np.int16),
        "NAME_PORTFOLIO": portfolio.astype(np.int16),
        "NAME_PRODUCT_TYPE": np.where(consumer | canceled, coded("NAME_PRODUCT_TYPE", "XNA"), product_type).astype(
            np.int16
        ),
        "CHANNEL_TYPE": pick(
            rng,
            m,
            D["CHANNEL_TYPE"],
            {
                "Credit and cash offices": 0.43,
                "Country-wide": 0.297,
                "Stone": 0.127,
                "Regional / Local": 0.065,
                "Contact center": 0.043,
                "AP+ (Cash loan)": 0.034,
                "Channel of corporate sales": 0.0037,
                "Car dealer": 3e-4,
            },
        ),
        "NAME_SELLER_INDUSTRY": np.where(consumer, seller, coded("NAME_SELLER_INDUSTRY", "XNA")).astype(np.int16),
        "NAME_YIELD_GROUP": np.where(
            canceled | revolving | (ctype == XNA_TYPE), coded("NAME_YIELD_GROUP", "XNA"), yield_group
        ).astype(np.int16),
        "PRODUCT_COMBINATION": combination.astype(np.int16),
    }


def _dates(
    rng: np.random.Generator,
    decision: np.ndarray,
    term: np.ndarray,
    approved: np.ndarray,
    revolving: np.ndarray,
) -> Columns:
    """First drawing, due and termination days of approved credits, 365243 where a date does not apply."""
    m = len(decision)
    first_due = decision + rng.integers(5, 35, m)
    last_due_planned = first_due + 30 * (np.nan_to_num(term) - 1)
    early = rng.random(m) < 0.25
    last_due = np.where(
        early, first_due + np.floor((last_due_planned - first_due) * rng.uniform(0, 1, m)), last_due_planned
    )
    finished = last_due < 0
    loan = approved & ~revolving

    def only_approved(values: np.ndarray) -> np.ndarray:
        return np.where(approved, values, np.nan).astype(float)

    return {
        "DAYS_FIRST_DRAWING": only_approved(np.where(revolving, decision + rng.integers(0, 30, m), DAYS_CODE)),
        "DAYS_FIRST_DUE": only_approved(np.where(loan, first_due, DAYS_CODE)),
        "DAYS_LAST_DUE_1ST_VERSION": only_approved(np.where(loan, last_due_planned, DAYS_CODE)),
        "DAYS_LAST_DUE": only_approved(np.where(loan & finished, last_due, DAYS_CODE)),
        "DAYS_TERMINATION": only_approved(
            np.where(loan & finished, np.minimum(last_due + rng.integers(0, 10, m), -1), DAYS_CODE)
        ),
    }


def _loans(
    rng: np.random.Generator, prev: Columns, loans: np.ndarray, late: np.ndarray
) -> tuple[Columns, Columns, np.ndarray, np.ndarray]:
    """Instalments and monthly POS/cash balances of approved cash and consumer loans."""
    first_due = prev["DAYS_FIRST_DUE"][loans]
    last_due = prev["DAYS_LAST_DUE"][loans]
    term = prev["CNT_PAYMENT"][loans].astype(np.int64)
    annuity = prev["AMT_ANNUITY"][loans]
    paid_off = np.where(last_due == DAYS_CODE, term, np.floor((last_due - first_due) / 30) + 1).astype(np.int64)
    due_so_far = np.ceil(-first_due / 30).astype(np.int64)
    n_inst = np.clip(np.minimum(paid_off, due_so_far), 1, None)
    loan = counts_to_owner(n_inst)
    number = rank_within(n_inst)
    due = first_due[loan] + 30.0 * number
    amount = np.where(
        number == n_inst[loan] - 1,
        np.where(paid_off[loan] < term[loan], annuity[loan] * (term[loan] - number), annuity[loan]),
        annuity[loan],
    )
    installments, source, days_late = _payments(
        rng, loan, due, np.round(amount, 3), number + 1, np.ones(len(loan)), late
    )

    start = np.floor(prev["DAYS_DECISION"][loans] / MONTH).astype(np.int64)
    n_pos = np.minimum(n_inst + (n_inst >= paid_off), -start)
    pos_loan = counts_to_owner(n_pos)
    step = rank_within(n_pos)
    remaining = np.maximum(term[pos_loan] - step, 0)
    completed = (remaining == 0) | (
        (step == n_pos[pos_loan] - 1) & (paid_off[pos_loan] < term[pos_loan]) & (n_inst[pos_loan] >= paid_off[pos_loan])
    )
    status = np.where(
        completed,
        code_of(POS_CASH_DOMAINS["NAME_CONTRACT_STATUS"], "Completed"),
        code_of(POS_CASH_DOMAINS["NAME_CONTRACT_STATUS"], "Active"),
    ).astype(np.int16)
    status[(step == 0) & (rng.random(len(step)) < 0.05)] = code_of(POS_CASH_DOMAINS["NAME_CONTRACT_STATUS"], "Signed")
    inst_start = np.cumsum(n_inst) - n_inst
    paid_index = inst_start[pos_loan] + np.minimum(step, n_inst[pos_loan]) - 1
    dpd = np.where(step > 0, days_late[np.maximum(paid_index, 0)], 0).astype(np.int64)
    pos = {
        "SK_ID_PREV": prev["SK_ID_PREV"][loans][pos_loan],
        "SK_ID_CURR": prev["SK_ID_CURR"][loans][pos_loan],
        "MONTHS_BALANCE": start[pos_loan] + step,
        "CNT_INSTALMENT": with_missing(rng, term[pos_loan].astype(float), 0.0026),
        "CNT_INSTALMENT_FUTURE": with_missing(rng, remaining.astype(float), 0.0026),
        "NAME_CONTRACT_STATUS": status,
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 30, dpd, 0).astype(np.int64),
    }
    installments["SK_ID_PREV"] = prev["SK_ID_PREV"][loans][loan[source]]
    installments["SK_ID_CURR"] = prev["SK_ID_CURR"][loans][loan[source]]
    return installments, pos, loan[source], pos_loan


def _payments(
    rng: np.random.Generator,
    credit: np.ndarray,
    due: np.ndarray,
    amount: np.ndarray,
    number: np.ndarray,
    version: np.ndarray,
    late: np.ndarray,
) -> tuple[Columns, np.ndarray, np.ndarray]:
    """Instalment rows: paid a few days early as a rule, sometimes late or short, sometimes in two parts,
    unpaid if due after the application; also each row's instalment index and each instalment's days late."""
    rows = len(credit)
    propensity = late[credit]
    is_late = rng.random(rows) < sigmoid(-2.9 + 1.1 * propensity)
    days_late = np.where(is_late, rng.geometric(1 / 9.0, rows), 0)
    entry = np.where(is_late, due + days_late, due - rng.geometric(1 / 7.0, rows) + 1)
    short = rng.random(rows) < sigmoid(-3.6 + 1.1 * propensity)
    payment = np.where(short, np.round(amount * rng.uniform(0.05, 0.95, rows), 3), amount)
    unpaid = entry >= 0
    parts = 1 + (~unpaid & (rng.random(rows) < SPLIT_PAYMENT_SHARE))
    source = counts_to_owner(parts)
    split = parts[source] == 2
    first_part = split & (rank_within(parts) == 0)
    share = np.where(first_part, rng.uniform(0.2, 0.8, len(source)), 1.0)
    share[1:][split[1:] & ~first_part[1:]] = 1.0 - share[:-1][split[1:] & ~first_part[1:]]
    earlier = np.where(first_part, rng.integers(1, 20, len(source)), 0)
    columns = {
        "NUM_INSTALMENT_VERSION": version[source].astype(float),
        "NUM_INSTALMENT_NUMBER": number[source].astype(np.int64),
        "DAYS_INSTALMENT": due[source].astype(float),
        "DAYS_ENTRY_PAYMENT": np.where(unpaid[source], np.nan, entry[source] - earlier).astype(float),
        "AMT_INSTALMENT": amount[source],
        "AMT_PAYMENT": np.where(unpaid[source], np.nan, np.round(payment[source] * share, 3)),
    }
    return columns, source, np.where(unpaid, 0, days_late)


def _cards(
    rng: np.random.Generator, prev: Columns, cards: np.ndarray, late: np.ndarray, usage: np.ndarray
) -> tuple[Columns, Columns, np.ndarray, np.ndarray]:
    """Monthly card balances (mostly under the limit) and the card's payments as instalments."""
    limit = prev["AMT_CREDIT"][cards]
    start = np.floor(prev["DAYS_DECISION"][cards] / MONTH).astype(np.int64)
    months = np.minimum(-start, 96)
    card = counts_to_owner(months)
    rows = len(card)
    step = rank_within(months)
    level = sigmoid(-1.0 + 1.2 * usage + 0.5 * rng.standard_normal(len(cards)))
    util = np.clip(level[card] + 0.12 * rng.standard_normal(rows), 0.0, 1.08)
    util[(rng.random(rows) < 0.25) | (step == 0)] = 0.0
    balance = np.round(limit[card] * util, 3)
    previous = np.concatenate([[0.0], balance[:-1]])
    previous[step == 0] = 0.0
    minimum = np.round(0.05 * previous, 3)
    behaviour = late[card]
    skipped = (previous > 0) & (rng.random(rows) < sigmoid(-3.2 + 1.1 * behaviour))
    payment = np.where(previous > 0, np.round(np.minimum(previous, minimum * rng.uniform(1.0, 4.0, rows)), 3), 0.0)
    payment = np.where(skipped, 0.0, payment)
    drawn = np.round(np.maximum(balance - previous + payment, 0.0), 3)
    atm_share = np.where(rng.random(rows) < 0.5, 1.0, rng.uniform(0, 1, rows))
    detail_missing = rng.random(rows) < 0.195
    count = np.where(drawn > 0, np.maximum(np.round(drawn / 9000.0), 1), 0)
    dpd = np.where(skipped, rng.geometric(1 / 20.0, rows), 0).astype(np.int64)

    def detail(values: np.ndarray) -> np.ndarray:
        return np.where(detail_missing, np.nan, values)

    closed = (months < -start) | (rng.random(len(cards)) < 0.1)
    statuses = CREDIT_CARD_DOMAINS["NAME_CONTRACT_STATUS"]
    status = np.where(
        closed[card] & (step >= months[card] - 2), code_of(statuses, "Completed"), code_of(statuses, "Active")
    ).astype(np.int16)
    status[(step == 0) & (rng.random(rows) < 0.15)] = code_of(statuses, "Signed")
    table = {
        "SK_ID_PREV": prev["SK_ID_PREV"][cards][card],
        "SK_ID_CURR": prev["SK_ID_CURR"][cards][card],
        "MONTHS_BALANCE": start[card] + step,
        "AMT_BALANCE": balance,
        "AMT_CREDIT_LIMIT_ACTUAL": limit[card].astype(np.int64),
        "AMT_DRAWINGS_ATM_CURRENT": detail(np.round(drawn * atm_share, 3)),
        "AMT_DRAWINGS_CURRENT": drawn,
        "AMT_DRAWINGS_OTHER_CURRENT": detail(np.zeros(rows)),
        "AMT_DRAWINGS_POS_CURRENT": detail(np.round(drawn * (1 - atm_share), 3)),
        "AMT_INST_MIN_REGULARITY": with_missing(rng, minimum, 0.08),
        "AMT_PAYMENT_CURRENT": np.where(payment > 0, payment, np.nan),
        "AMT_PAYMENT_TOTAL_CURRENT": payment,
        "AMT_RECEIVABLE_PRINCIPAL": np.round(balance * 0.96, 3),
        "AMT_RECIVABLE": balance,
        "AMT_TOTAL_RECEIVABLE": balance,
        "CNT_DRAWINGS_ATM_CURRENT": detail(np.round(count * atm_share)),
        "CNT_DRAWINGS_CURRENT": count.astype(np.int64),
        "CNT_DRAWINGS_OTHER_CURRENT": detail(np.zeros(rows)),
        "CNT_DRAWINGS_POS_CURRENT": detail(count - np.round(count * atm_share)),
        "CNT_INSTALMENT_MATURE_CUM": detail(_running_count(payment > 0, months)),
        "NAME_CONTRACT_STATUS": status,
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 30, dpd, 0).astype(np.int64),
    }
    paid_rows = np.flatnonzero(minimum > 0)
    due = (table["MONTHS_BALANCE"][paid_rows] + 1) * 30.0 - rng.integers(1, 10, len(paid_rows))
    inst, source, _ = _payments(
        rng,
        card[paid_rows],
        due,
        minimum[paid_rows],
        _running_count(minimum > 0, months)[paid_rows],
        np.zeros(len(paid_rows)),
        late,
    )
    paid_card_rows = card[paid_rows][source]
    inst["SK_ID_PREV"] = prev["SK_ID_PREV"][cards][paid_card_rows]
    inst["SK_ID_CURR"] = prev["SK_ID_CURR"][cards][paid_card_rows]
    return table, inst, card, paid_card_rows


def _running_count(flag: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, how many flagged rows its owner had up to and including it."""
    total = np.cumsum(flag)
    starts = np.cumsum(counts) - counts
    before = np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0)
    return (total - np.repeat(before, counts)).astype(float)
