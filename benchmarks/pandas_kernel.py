"""Reference: the pandas notebook the feature store replaces, CSV files to one feature row per client.

    python -m benchmarks.pandas_kernel DIR    # prints one JSON line: seconds, peak_mb, clients, features

The feature engineering of the public Kaggle kernel "LightGBM with Simple Features" (jsaguiar), the issue's
reference: read the seven CSV files with pandas, one-hot encode, aggregate each history per client and join it all
onto the applications. Only what pandas 2 and 3 changed is adapted (DataFrame.append, inplace replace on a column,
get_dummies' 0/1 integers, text columns no longer of dtype object); its row-by-row `apply` for the payment delays
is kept as published. It stops where the kernel starts training. Run in a process of its own, so its peak memory is
its own. tests/integration/test_features.py checks that the features it shares with the store hold the same values.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DAY_CODE = 365243
"""The Kaggle files' code for a missing day count."""


def one_hot_encoder(df: pd.DataFrame, nan_as_category: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """The frame with its text columns one-hot encoded, and the new columns' names."""
    original = list(df.columns)
    categorical = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])]
    df = pd.get_dummies(df, columns=categorical, dummy_na=nan_as_category, dtype=np.uint8)
    return df, [c for c in df.columns if c not in original]


def _flat(agg: pd.DataFrame, prefix: str) -> pd.Index:
    """The kernel's names of aggregated columns: PREFIX + column + _ + FUNCTION."""
    return pd.Index([prefix + column + "_" + func.upper() for column, func in agg.columns.tolist()])


def _per_client(
    rows: pd.DataFrame, prefix: str, aggregations: dict, status: str, statuses: list[str], numeric: dict
) -> pd.DataFrame:
    """The kernel's per-client aggregates of `rows` (PREFIX_...), then the `numeric` ones of each status apart
    (STATUS_...: the rows whose one-hot column `status`_STATUS is 1)."""
    per_client = rows.groupby("SK_ID_CURR").agg(aggregations)
    per_client.columns = _flat(per_client, prefix)
    for value in statuses:
        subset = rows[rows[f"{status}_{value}"] == 1].groupby("SK_ID_CURR").agg(numeric)
        subset.columns = _flat(subset, value.upper() + "_")
        per_client = per_client.join(subset, how="left", on="SK_ID_CURR")
    return per_client


def _counted(rows: pd.DataFrame, prefix: str, aggregations: dict | list) -> pd.DataFrame:
    """The kernel's per-client aggregates of a monthly history (PREFIX_...), and its row count (PREFIX_COUNT)."""
    per_client = rows.groupby("SK_ID_CURR").agg(aggregations)
    per_client.columns = _flat(per_client, prefix)
    per_client[prefix + "COUNT"] = rows.groupby("SK_ID_CURR").size()
    return per_client


def application_train_test(folder: Path) -> pd.DataFrame:
    """Train and test applications with the kernel's ratios and encodings."""
    df = pd.concat([pd.read_csv(folder / "application_train.csv"), pd.read_csv(folder / "application_test.csv")])
    df = df.reset_index()
    df = df[df["CODE_GENDER"] != "XNA"]
    for feature in ["CODE_GENDER", "FLAG_OWN_CAR", "FLAG_OWN_REALTY"]:
        df[feature], _ = pd.factorize(df[feature])
    df, _ = one_hot_encoder(df, nan_as_category=False)
    df["DAYS_EMPLOYED"] = df["DAYS_EMPLOYED"].replace(DAY_CODE, np.nan)
    df["DAYS_EMPLOYED_PERC"] = df["DAYS_EMPLOYED"] / df["DAYS_BIRTH"]
    df["INCOME_CREDIT_PERC"] = df["AMT_INCOME_TOTAL"] / df["AMT_CREDIT"]
    df["INCOME_PER_PERSON"] = df["AMT_INCOME_TOTAL"] / df["CNT_FAM_MEMBERS"]
    df["ANNUITY_INCOME_PERC"] = df["AMT_ANNUITY"] / df["AMT_INCOME_TOTAL"]
    df["PAYMENT_RATE"] = df["AMT_ANNUITY"] / df["AMT_CREDIT"]
    return df


def bureau_and_balance(folder: Path) -> pd.DataFrame:
    """Credit bureau aggregates per client: all, active and closed credits, with their monthly balances."""
    bureau, bureau_cat = one_hot_encoder(pd.read_csv(folder / "bureau.csv"))
    bb, bb_cat = one_hot_encoder(pd.read_csv(folder / "bureau_balance.csv"))
    bb_aggregations = {"MONTHS_BALANCE": ["min", "max", "size"], **{c: ["mean"] for c in bb_cat}}
    bb_agg = bb.groupby("SK_ID_BUREAU").agg(bb_aggregations)
    bb_agg.columns = _flat(bb_agg, "")
    bureau = bureau.join(bb_agg, how="left", on="SK_ID_BUREAU").drop(columns=["SK_ID_BUREAU"])
    numeric = {
        "DAYS_CREDIT": ["min", "max", "mean", "var"],
        "DAYS_CREDIT_ENDDATE": ["min", "max", "mean"],
        "DAYS_CREDIT_UPDATE": ["mean"],
        "CREDIT_DAY_OVERDUE": ["max", "mean"],
        "AMT_CREDIT_MAX_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_DEBT": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM_LIMIT": ["mean", "sum"],
        "AMT_ANNUITY": ["max", "mean"],
        "CNT_CREDIT_PROLONG": ["sum"],
        "MONTHS_BALANCE_MIN": ["min"],
        "MONTHS_BALANCE_MAX": ["max"],
        "MONTHS_BALANCE_SIZE": ["mean", "sum"],
    }
    categories = {c: ["mean"] for c in bureau_cat} | {c + "_MEAN": ["mean"] for c in bb_cat}
    return _per_client(bureau, "BURO_", {**numeric, **categories}, "CREDIT_ACTIVE", ["Active", "Closed"], numeric)


def previous_applications(folder: Path) -> pd.DataFrame:
    """Previous Home Credit applications per client: all, approved and refused."""
    prev, cat_cols = one_hot_encoder(pd.read_csv(folder / "previous_application.csv"))
    for column in ["DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION", "DAYS_LAST_DUE"]:
        prev[column] = prev[column].replace(DAY_CODE, np.nan)
    prev["DAYS_TERMINATION"] = prev["DAYS_TERMINATION"].replace(DAY_CODE, np.nan)
    prev["APP_CREDIT_PERC"] = prev["AMT_APPLICATION"] / prev["AMT_CREDIT"]
    numeric = {
        "AMT_ANNUITY": ["min", "max", "mean"],
        "AMT_APPLICATION": ["min", "max", "mean"],
        "AMT_CREDIT": ["min", "max", "mean"],
        "APP_CREDIT_PERC": ["min", "max", "mean", "var"],
        "AMT_DOWN_PAYMENT": ["min", "max", "mean"],
        "AMT_GOODS_PRICE": ["min", "max", "mean"],
        "HOUR_APPR_PROCESS_START": ["min", "max", "mean"],
        "RATE_DOWN_PAYMENT": ["min", "max", "mean"],
        "DAYS_DECISION": ["min", "max", "mean"],
        "CNT_PAYMENT": ["mean", "sum"],
    }
    categories = {c: ["mean"] for c in cat_cols}
    return _per_client(
        prev, "PREV_", {**numeric, **categories}, "NAME_CONTRACT_STATUS", ["Approved", "Refused"], numeric
    )


def pos_cash(folder: Path) -> pd.DataFrame:
    """Point-of-sale and cash loans' monthly balances per client."""
    pos, cat_cols = one_hot_encoder(pd.read_csv(folder / "POS_CASH_balance.csv"))
    aggregations = {"MONTHS_BALANCE": ["max", "mean", "size"], "SK_DPD": ["max", "mean"], "SK_DPD_DEF": ["max", "mean"]}
    return _counted(pos, "POS_", {**aggregations, **{c: ["mean"] for c in cat_cols}})


def installments_payments(folder: Path) -> pd.DataFrame:
    """Instalments and their payments per client: amounts, shares and days late or early."""
    ins, cat_cols = one_hot_encoder(pd.read_csv(folder / "installments_payments.csv"))
    ins["PAYMENT_PERC"] = ins["AMT_PAYMENT"] / ins["AMT_INSTALMENT"]
    ins["PAYMENT_DIFF"] = ins["AMT_INSTALMENT"] - ins["AMT_PAYMENT"]
    ins["DPD"] = ins["DAYS_ENTRY_PAYMENT"] - ins["DAYS_INSTALMENT"]
    ins["DBD"] = ins["DAYS_INSTALMENT"] - ins["DAYS_ENTRY_PAYMENT"]
    ins["DPD"] = ins["DPD"].apply(lambda x: x if x > 0 else 0)
    ins["DBD"] = ins["DBD"].apply(lambda x: x if x > 0 else 0)
    aggregations = {
        "NUM_INSTALMENT_VERSION": ["nunique"],
        "DPD": ["max", "mean", "sum"],
        "DBD": ["max", "mean", "sum"],
        "PAYMENT_PERC": ["max", "mean", "sum", "var"],
        "PAYMENT_DIFF": ["max", "mean", "sum", "var"],
        "AMT_INSTALMENT": ["max", "mean", "sum"],
        "AMT_PAYMENT": ["min", "max", "mean", "sum"],
        "DAYS_ENTRY_PAYMENT": ["max", "mean", "sum"],
    }
    return _counted(ins, "INSTAL_", {**aggregations, **{c: ["mean"] for c in cat_cols}})


def credit_card_balance(folder: Path) -> pd.DataFrame:
    """Credit cards' monthly balances per client: min, max, mean, sum and variance of every column."""
    cc, _ = one_hot_encoder(pd.read_csv(folder / "credit_card_balance.csv"))
    return _counted(cc.drop(columns=["SK_ID_PREV"]), "CC_", ["min", "max", "mean", "sum", "var"])


def features(folder: Path) -> pd.DataFrame:
    """The kernel's feature table: the applications joined with every history's aggregates."""
    with warnings.catch_warnings():
        # the kernel builds its frames column by column, as published
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        df = application_train_test(folder)
        for history in (
            bureau_and_balance,
            previous_applications,
            pos_cash,
            installments_payments,
            credit_card_balance,
        ):
            df = df.join(history(folder), how="left", on="SK_ID_CURR")
    return df


def main() -> None:
    """Build the kernel's features from the CSV files in argv[1]; print seconds, peak memory and shape as JSON."""
    started = time.perf_counter()
    df = features(Path(sys.argv[1]))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"seconds": seconds, "peak_mb": peak_mb, "clients": len(df), "features": df.shape[1] - 3}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
