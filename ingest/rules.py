"""The impossible-value rules of ingestion, all in one place (domains of categories come from the contract)."""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.schema import DAYS_CODE

APPLICATIONS = ("application_train", "application_test")
BALANCES = ("POS_CASH_balance", "credit_card_balance")

ROW_GROUPS: dict[str, tuple[str, ...]] = {
    "installments_payments": ("SK_ID_PREV", "NUM_INSTALMENT_VERSION", "NUM_INSTALMENT_NUMBER"),
}
"""Tables without a key, and the columns of the rows that belong together: one instalment of a previous
credit has one row per payment (a part payment adds one), so no column set is unique, not even with the
payment day (two part payments may fall on one day, and missed payments have none). A re-delivered row is
recognised by its whole content, copies counted; a new row for an instalment whose payments are already
stored is a conflict (a correction or a late addition), quarantined: the stored rows are kept."""


@dataclass(frozen=True)
class Rule:
    """A value check: rows of `tables` whose `column` is not NULL must satisfy `holds` ({c} = the column)."""

    tables: tuple[str, ...]
    column: str
    holds: str
    reason: str


def _non_negative(tables_: tuple[str, ...], *columns: str) -> list[Rule]:
    """Rules saying that amounts or counts cannot be negative."""
    return [Rule(tables_, c, "{c} >= 0", f"{c} must not be negative") for c in columns]


RULES: tuple[Rule, ...] = (
    Rule(("application_train",), "TARGET", "{c} IN (0, 1)", "TARGET must be 0 or 1"),
    Rule(APPLICATIONS, "DAYS_BIRTH", "{c} < 0", "DAYS_BIRTH must be negative (days before the application)"),
    Rule(
        APPLICATIONS,
        "DAYS_EMPLOYED",
        f"{{c}} <= 0 OR {{c}} = {DAYS_CODE}",
        f"DAYS_EMPLOYED must be negative or the {DAYS_CODE} code",
    ),
    *_non_negative(APPLICATIONS, "CNT_CHILDREN", "AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"),
    *(
        Rule(APPLICATIONS, f"EXT_SOURCE_{i}", "{c} BETWEEN 0 AND 1", f"EXT_SOURCE_{i} must lie between 0 and 1")
        for i in (1, 2, 3)
    ),
    Rule(("bureau",), "DAYS_CREDIT", "{c} <= 0", "DAYS_CREDIT must not be positive (days before the application)"),
    *_non_negative(("bureau",), "CREDIT_DAY_OVERDUE", "AMT_CREDIT_SUM"),
    Rule(("bureau_balance",), "MONTHS_BALANCE", "{c} <= 0", "MONTHS_BALANCE must not be positive"),
    *_non_negative(("previous_application",), "AMT_APPLICATION", "AMT_CREDIT"),
    *(Rule(BALANCES, "MONTHS_BALANCE", "{c} < 0", "MONTHS_BALANCE must be negative"),),
    *_non_negative(BALANCES, "SK_DPD", "SK_DPD_DEF"),
    *_non_negative(("installments_payments",), "AMT_INSTALMENT", "AMT_PAYMENT"),
    # An outcome without its date or its value says nothing: both are required (NULL fails these).
    Rule(
        ("outcomes",),
        "OBSERVATION_DATE",
        "coalesce(TRY_STRPTIME({c}, '%Y-%m-%d') IS NOT NULL, false)",
        "OBSERVATION_DATE must be a date written YYYY-MM-DD",
    ),
    Rule(("outcomes",), "DEFAULTED", "coalesce({c} IN (0, 1), false)", "DEFAULTED must be 0 or 1"),
)
"""The impossible-value rules, all in one place; domains of categorical columns come from the contract."""
