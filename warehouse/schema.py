"""The schema contract of the eight Kaggle "Home Credit Default Risk" files.

Column names and order come from the official column dictionary shipped in
`warehouse/reference/`, corrected where the real files differ from it
(bureau's key is SK_ID_BUREAU, and previous_application has no NFLAG_MICRO_CASH).
Types and value domains are those of the real files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

DICTIONARY_FILE = Path(__file__).parent / "reference" / "HomeCredit_columns_description.csv"

# DuckDB types used in the raw schema.
INT = "BIGINT"
FLOAT = "DOUBLE"
TEXT = "VARCHAR"

DAYS_CODE = 365243
"""Placeholder the real files use in DAYS_* columns for 'no date' (pensioners, open-ended loans)."""

WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
SUITES = ["Unaccompanied", "Family", "Spouse, partner", "Children", "Other_B", "Other_A", "Group of people"]
YES_NO = ["Y", "N"]

APPLICATION_DOMAINS: dict[str, list[str]] = {
    "NAME_CONTRACT_TYPE": ["Cash loans", "Revolving loans"],
    "CODE_GENDER": ["F", "M", "XNA"],
    "FLAG_OWN_CAR": YES_NO,
    "FLAG_OWN_REALTY": YES_NO,
    "NAME_TYPE_SUITE": SUITES,
    "NAME_INCOME_TYPE": [
        "Working",
        "Commercial associate",
        "Pensioner",
        "State servant",
        "Unemployed",
        "Student",
        "Businessman",
        "Maternity leave",
    ],
    "NAME_EDUCATION_TYPE": [
        "Secondary / secondary special",
        "Higher education",
        "Incomplete higher",
        "Lower secondary",
        "Academic degree",
    ],
    "NAME_FAMILY_STATUS": ["Married", "Single / not married", "Civil marriage", "Separated", "Widow", "Unknown"],
    "NAME_HOUSING_TYPE": [
        "House / apartment",
        "With parents",
        "Municipal apartment",
        "Rented apartment",
        "Office apartment",
        "Co-op apartment",
    ],
    "OCCUPATION_TYPE": [
        "Laborers",
        "Sales staff",
        "Core staff",
        "Managers",
        "Drivers",
        "High skill tech staff",
        "Accountants",
        "Medicine staff",
        "Security staff",
        "Cooking staff",
        "Cleaning staff",
        "Private service staff",
        "Low-skill Laborers",
        "Waiters/barmen staff",
        "Secretaries",
        "Realty agents",
        "HR staff",
        "IT staff",
    ],
    "WEEKDAY_APPR_PROCESS_START": WEEKDAYS,
    "ORGANIZATION_TYPE": [
        "Business Entity Type 3",
        "XNA",
        "Self-employed",
        "Other",
        "Medicine",
        "Business Entity Type 2",
        "Government",
        "School",
        "Trade: type 7",
        "Kindergarten",
        "Construction",
        "Business Entity Type 1",
        "Transport: type 4",
        "Trade: type 3",
        "Industry: type 9",
        "Industry: type 3",
        "Security",
        "Housing",
        "Industry: type 11",
        "Military",
        "Bank",
        "Agriculture",
        "Police",
        "Transport: type 2",
        "Postal",
        "Security Ministries",
        "Trade: type 2",
        "Restaurant",
        "Services",
        "University",
        "Industry: type 7",
        "Transport: type 3",
        "Industry: type 1",
        "Hotel",
        "Electricity",
        "Industry: type 4",
        "Trade: type 6",
        "Industry: type 5",
        "Insurance",
        "Telecom",
        "Emergency",
        "Industry: type 2",
        "Advertising",
        "Realtor",
        "Culture",
        "Industry: type 12",
        "Trade: type 1",
        "Mobile",
        "Legal Services",
        "Cleaning",
        "Transport: type 1",
        "Industry: type 6",
        "Industry: type 10",
        "Religion",
        "Industry: type 13",
        "Trade: type 4",
        "Trade: type 5",
        "Industry: type 8",
    ],
    "FONDKAPREMONT_MODE": ["reg oper account", "reg oper spec account", "org spec account", "not specified"],
    "HOUSETYPE_MODE": ["block of flats", "specific housing", "terraced house"],
    "WALLSMATERIAL_MODE": ["Panel", "Stone, brick", "Block", "Wooden", "Mixed", "Monolithic", "Others"],
    "EMERGENCYSTATE_MODE": ["No", "Yes"],
}

BUREAU_DOMAINS: dict[str, list[str]] = {
    "CREDIT_ACTIVE": ["Closed", "Active", "Sold", "Bad debt"],
    "CREDIT_CURRENCY": ["currency 1", "currency 2", "currency 3", "currency 4"],
    "CREDIT_TYPE": [
        "Consumer credit",
        "Credit card",
        "Car loan",
        "Mortgage",
        "Microloan",
        "Loan for business development",
        "Another type of loan",
        "Unknown type of loan",
        "Loan for working capital replenishment",
        "Cash loan (non-earmarked)",
        "Real estate loan",
        "Loan for the purchase of equipment",
        "Loan for purchase of shares (margin lending)",
        "Interbank credit",
        "Mobile operator loan",
    ],
}

BUREAU_BALANCE_STATUSES = ["C", "X", "0", "1", "2", "3", "4", "5"]

PREVIOUS_DOMAINS: dict[str, list[str]] = {
    "NAME_CONTRACT_TYPE": ["Cash loans", "Consumer loans", "Revolving loans", "XNA"],
    "WEEKDAY_APPR_PROCESS_START": WEEKDAYS,
    "FLAG_LAST_APPL_PER_CONTRACT": YES_NO,
    "NAME_CASH_LOAN_PURPOSE": [
        "XAP",
        "XNA",
        "Repairs",
        "Other",
        "Urgent needs",
        "Buying a used car",
        "Building a house or an annex",
        "Everyday expenses",
        "Medicine",
        "Payments on other loans",
        "Education",
        "Journey",
        "Purchase of electronic equipment",
        "Buying a new car",
        "Wedding / gift / holiday",
        "Buying a home",
        "Car repairs",
        "Furniture",
        "Buying a holiday home / land",
        "Business development",
        "Gasification / water supply",
        "Buying a garage",
        "Hobby",
        "Money for a third person",
        "Refusal to name the goal",
    ],
    "NAME_CONTRACT_STATUS": ["Approved", "Canceled", "Refused", "Unused offer"],
    "NAME_PAYMENT_TYPE": [
        "Cash through the bank",
        "XNA",
        "Non-cash from your account",
        "Cashless from the account of the employer",
    ],
    "CODE_REJECT_REASON": ["XAP", "HC", "LIMIT", "SCO", "CLIENT", "SCOFR", "XNA", "VERIF", "SYSTEM"],
    "NAME_TYPE_SUITE": SUITES,
    "NAME_CLIENT_TYPE": ["Repeater", "New", "Refreshed", "XNA"],
    "NAME_GOODS_CATEGORY": [
        "XNA",
        "Mobile",
        "Consumer Electronics",
        "Computers",
        "Audio/Video",
        "Furniture",
        "Photo / Cinema Equipment",
        "Construction Materials",
        "Clothing and Accessories",
        "Auto Accessories",
        "Jewelry",
        "Homewares",
        "Medical Supplies",
        "Vehicles",
        "Sport and Leisure",
        "Gardening",
        "Other",
        "Office Appliances",
        "Tourism",
        "Medicine",
        "Direct Sales",
        "Fitness",
        "Additional Service",
        "Education",
        "Weapon",
        "Insurance",
        "House Construction",
        "Animals",
    ],
    "NAME_PORTFOLIO": ["POS", "Cash", "XNA", "Cards", "Cars"],
    "NAME_PRODUCT_TYPE": ["XNA", "x-sell", "walk-in"],
    "CHANNEL_TYPE": [
        "Credit and cash offices",
        "Country-wide",
        "Stone",
        "Regional / Local",
        "Contact center",
        "AP+ (Cash loan)",
        "Channel of corporate sales",
        "Car dealer",
    ],
    "NAME_SELLER_INDUSTRY": [
        "XNA",
        "Consumer electronics",
        "Connectivity",
        "Furniture",
        "Construction",
        "Clothing",
        "Industry",
        "Auto technology",
        "Jewelry",
        "MLM partners",
        "Tourism",
    ],
    "NAME_YIELD_GROUP": ["XNA", "middle", "high", "low_normal", "low_action"],
    "PRODUCT_COMBINATION": [
        "Cash",
        "POS household with interest",
        "POS mobile with interest",
        "Cash X-Sell: middle",
        "Cash X-Sell: low",
        "Card Street",
        "POS industry with interest",
        "POS household without interest",
        "Card X-Sell",
        "Cash Street: high",
        "Cash X-Sell: high",
        "Cash Street: middle",
        "Cash Street: low",
        "POS mobile without interest",
        "POS other with interest",
        "POS industry without interest",
        "POS others without interest",
    ],
}

POS_CASH_DOMAINS: dict[str, list[str]] = {
    "NAME_CONTRACT_STATUS": [
        "Active",
        "Completed",
        "Signed",
        "Demand",
        "Returned to the store",
        "Approved",
        "Amortized debt",
        "Canceled",
        "XNA",
    ],
}

CREDIT_CARD_DOMAINS: dict[str, list[str]] = {
    "NAME_CONTRACT_STATUS": ["Active", "Completed", "Signed", "Demand", "Sent proposal", "Refused", "Approved"],
}

# Numeric columns stored as integers in the real files; every other numeric column is a float.
_INTEGER_COLUMNS = {
    "application": {
        "SK_ID_CURR",
        "TARGET",
        "CNT_CHILDREN",
        "DAYS_BIRTH",
        "DAYS_EMPLOYED",
        "DAYS_ID_PUBLISH",
        "FLAG_MOBIL",
        "FLAG_EMP_PHONE",
        "FLAG_WORK_PHONE",
        "FLAG_CONT_MOBILE",
        "FLAG_PHONE",
        "FLAG_EMAIL",
        "REGION_RATING_CLIENT",
        "REGION_RATING_CLIENT_W_CITY",
        "HOUR_APPR_PROCESS_START",
        "REG_REGION_NOT_LIVE_REGION",
        "REG_REGION_NOT_WORK_REGION",
        "LIVE_REGION_NOT_WORK_REGION",
        "REG_CITY_NOT_LIVE_CITY",
        "REG_CITY_NOT_WORK_CITY",
        "LIVE_CITY_NOT_WORK_CITY",
        *(f"FLAG_DOCUMENT_{i}" for i in range(2, 22)),
    },
    "bureau": {
        "SK_ID_CURR",
        "SK_ID_BUREAU",
        "DAYS_CREDIT",
        "CREDIT_DAY_OVERDUE",
        "CNT_CREDIT_PROLONG",
        "DAYS_CREDIT_UPDATE",
    },
    "bureau_balance": {"SK_ID_BUREAU", "MONTHS_BALANCE"},
    "previous_application": {
        "SK_ID_PREV",
        "SK_ID_CURR",
        "HOUR_APPR_PROCESS_START",
        "NFLAG_LAST_APPL_IN_DAY",
        "DAYS_DECISION",
        "SELLERPLACE_AREA",
    },
    "POS_CASH_balance": {"SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE", "SK_DPD", "SK_DPD_DEF"},
    "credit_card_balance": {
        "SK_ID_PREV",
        "SK_ID_CURR",
        "MONTHS_BALANCE",
        "AMT_CREDIT_LIMIT_ACTUAL",
        "CNT_DRAWINGS_CURRENT",
        "SK_DPD",
        "SK_DPD_DEF",
    },
    "installments_payments": {"SK_ID_PREV", "SK_ID_CURR", "NUM_INSTALMENT_NUMBER"},
}

_DICTIONARY_TABLE = {
    "application": "application_{train|test}.csv",
    "bureau": "bureau.csv",
    "bureau_balance": "bureau_balance.csv",
    "previous_application": "previous_application.csv",
    "POS_CASH_balance": "POS_CASH_balance.csv",
    "credit_card_balance": "credit_card_balance.csv",
    "installments_payments": "installments_payments.csv",
}
_RENAMED = {("bureau", "SK_BUREAU_ID"): "SK_ID_BUREAU", ("bureau_balance", "SK_BUREAU_ID"): "SK_ID_BUREAU"}
_NOT_IN_FILES = {("previous_application", "NFLAG_MICRO_CASH")}


@dataclass(frozen=True)
class Column:
    """One column of a Kaggle file: name, DuckDB type, meaning, allowed values."""

    name: str
    type: str
    description: str
    domain: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    """One Kaggle file: its name, columns in file order, key and parent links."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    parents: dict[str, str] = field(default_factory=dict)
    """Foreign key column -> parent table name (the parent's key has the same column name)."""

    @property
    def file_name(self) -> str:
        """The CSV file name, exactly as Kaggle publishes it."""
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        """Column names in file order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called `name`."""
        return next(c for c in self.columns if c.name == name)


@cache
def dictionary() -> dict[str, list[tuple[str, str]]]:
    """Columns and descriptions per dictionary table, in dictionary order (file order)."""
    out: dict[str, list[tuple[str, str]]] = {}
    with DICTIONARY_FILE.open(encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["Table"], []).append((row["Row"].strip(), row["Description"].strip()))
    return out


def _columns(kind: str, domains: dict[str, list[str]]) -> list[Column]:
    """Build the columns of one dictionary table with the real files' types and domains."""
    cols = []
    for name, description in dictionary()[_DICTIONARY_TABLE[kind]]:
        if (kind, name) in _NOT_IN_FILES:
            continue
        name = _RENAMED.get((kind, name), name)
        domain = tuple(domains[name]) if name in domains else None
        if domain is not None:
            col_type = TEXT
        elif name in _INTEGER_COLUMNS[kind]:
            col_type = INT
        else:
            col_type = FLOAT
        cols.append(Column(name, col_type, description, domain))
    return cols


@cache
def tables() -> dict[str, Table]:
    """The eight Kaggle files by name, in load order (parents before children)."""
    app = _columns("application", APPLICATION_DOMAINS)
    app_test = [c for c in app if c.name != "TARGET"]
    bureau_balance = _columns("bureau_balance", {"STATUS": BUREAU_BALANCE_STATUSES})
    specs = [
        Table("application_train", tuple(app), ("SK_ID_CURR",)),
        Table("application_test", tuple(app_test), ("SK_ID_CURR",)),
        Table("bureau", tuple(_columns("bureau", BUREAU_DOMAINS)), ("SK_ID_BUREAU",), {"SK_ID_CURR": "application"}),
        Table("bureau_balance", tuple(bureau_balance), ("SK_ID_BUREAU", "MONTHS_BALANCE"), {"SK_ID_BUREAU": "bureau"}),
        Table(
            "previous_application",
            tuple(_columns("previous_application", PREVIOUS_DOMAINS)),
            ("SK_ID_PREV",),
            {"SK_ID_CURR": "application"},
        ),
        Table(
            "POS_CASH_balance",
            tuple(_columns("POS_CASH_balance", POS_CASH_DOMAINS)),
            ("SK_ID_PREV", "MONTHS_BALANCE"),
            {"SK_ID_PREV": "previous_application", "SK_ID_CURR": "application"},
        ),
        Table(
            "credit_card_balance",
            tuple(_columns("credit_card_balance", CREDIT_CARD_DOMAINS)),
            ("SK_ID_PREV", "MONTHS_BALANCE"),
            {"SK_ID_PREV": "previous_application", "SK_ID_CURR": "application"},
        ),
        Table(
            "installments_payments",
            tuple(_columns("installments_payments", {})),
            (),
            {"SK_ID_PREV": "previous_application", "SK_ID_CURR": "application"},
        ),
    ]
    return {t.name: t for t in specs}
