"""The built-in generator: Kaggle layout, realism, determinism, nightly batches, the planted risk signal."""

from __future__ import annotations

import hashlib
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from typer.testing import CliRunner

from cli.app import app
from generator import dataset as gen
from warehouse.schema import DAYS_CODE, tables

APPLICATION_FILES = ("application_train", "application_test")


@cache
def loaded(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with each generated file of a folder as a table named like it, and `truth`.

    Each file is read with the schema's column names and types, so a value that does not parse fails here."""
    con = duckdb.connect()
    for name, table in tables().items():
        if (folder / table.file_name).exists():
            columns = {c.name: c.type for c in table.columns}
            con.read_csv(str(folder / table.file_name), header=True, columns=columns).create(name)
    con.read_csv(str(folder / gen.TRUTH_FILE)).create("truth")
    return con


def query(folder: Path, sql: str) -> list[tuple]:
    """Run SQL over the tables of `loaded(folder)`."""
    return loaded(folder).cursor().sql(sql).fetchall()


def one(folder: Path, sql: str) -> float:
    """The single value a query returns."""
    return query(folder, sql)[0][0]


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.csv"))
    }


def test_files_have_kaggle_names_columns_and_types(small_dataset: Path) -> None:
    for name, table in tables().items():
        path = small_dataset / table.file_name
        with path.open() as f:
            header = f.readline().rstrip("\n").split(",")
        assert header == table.column_names, name
        assert one(small_dataset, f"select count(*) from {name}") > 0, name


def test_train_test_split_in_real_proportion_and_ids_from_100002(small_dataset: Path) -> None:
    train, test = (query(small_dataset, f"select count(*), min(SK_ID_CURR) from {n}")[0] for n in APPLICATION_FILES)
    assert train[0] + test[0] == 3000
    assert test[0] == round(3000 * gen.TEST_SHARE)
    assert min(train[1], test[1]) == gen.FIRST_ID


def test_categorical_values_come_from_their_domains(small_dataset: Path) -> None:
    for name, table in tables().items():
        for column in table.columns:
            if column.domain is None:
                continue
            values = {v for (v,) in query(small_dataset, f"select distinct {column.name} from {name}") if v is not None}
            assert values <= set(column.domain), (name, column.name, values - set(column.domain))


def test_keys_are_unique_and_children_reference_parents(small_dataset: Path) -> None:
    for name, table in tables().items():
        if table.key:
            key = ", ".join(table.key)
            assert one(small_dataset, f"select count(*) - count(distinct ({key})) from {name}") == 0, name
    orphans = """
        with clients as (
            select SK_ID_CURR from application_train union all select SK_ID_CURR from application_test
        )
        select (select count(*) from bureau where SK_ID_CURR not in (select * from clients))
             + (select count(*) from previous_application where SK_ID_CURR not in (select * from clients))
             + (select count(*) from bureau_balance
                where SK_ID_BUREAU not in (select SK_ID_BUREAU from bureau))
             + (select count(*) from {child} c left join previous_application p using (SK_ID_PREV)
                where p.SK_ID_CURR is null or p.SK_ID_CURR <> c.SK_ID_CURR)
    """
    for child in ("POS_CASH_balance", "credit_card_balance", "installments_payments"):
        assert one(small_dataset, orphans.format(child=child)) == 0, child


def test_days_are_negative_and_consistent(small_dataset: Path) -> None:
    checks = {
        "age out of 20-69 years": """select count(*) from application_train
            where DAYS_BIRTH not between -25200 and -7500""",
        "365243 not exactly pensioners and unemployed": f"""select count(*) from application_train
            where (DAYS_EMPLOYED = {DAYS_CODE}) <> (NAME_INCOME_TYPE in ('Pensioner', 'Unemployed'))""",
        "employed longer than adult life": f"""select count(*) from application_train
            where DAYS_EMPLOYED <> {DAYS_CODE}
            and (DAYS_EMPLOYED >= 0 or DAYS_EMPLOYED < DAYS_BIRTH + 18 * 365)""",
        "bureau credit dates": """select count(*) from bureau where DAYS_CREDIT not between -2922 and 0
            or DAYS_CREDIT_ENDDATE < DAYS_CREDIT
            or DAYS_ENDDATE_FACT < DAYS_CREDIT or DAYS_ENDDATE_FACT > 0""",
        "end date fact on an active credit": """select count(*) from bureau
            where CREDIT_ACTIVE = 'Active' and DAYS_ENDDATE_FACT is not null""",
        "months not before the application": """select
            (select count(*) from bureau_balance where MONTHS_BALANCE > -1)
            + (select count(*) from POS_CASH_balance where MONTHS_BALANCE > -1)
            + (select count(*) from credit_card_balance where MONTHS_BALANCE > -1)""",
        "instalment after the application": """select count(*) from installments_payments
            where DAYS_INSTALMENT >= 0 or DAYS_ENTRY_PAYMENT >= 0""",
        "loan ends before it starts": f"""select count(*) from previous_application
            where DAYS_DECISION >= 0 or (DAYS_LAST_DUE <> {DAYS_CODE} and DAYS_LAST_DUE < DAYS_FIRST_DUE)
            or (DAYS_TERMINATION <> {DAYS_CODE} and DAYS_TERMINATION < DAYS_DECISION)""",
    }
    for problem, sql in checks.items():
        assert one(small_dataset, sql) == 0, problem
    for column in (
        "DAYS_FIRST_DRAWING",
        "DAYS_FIRST_DUE",
        "DAYS_LAST_DUE_1ST_VERSION",
        "DAYS_LAST_DUE",
        "DAYS_TERMINATION",
    ):
        assert one(small_dataset, f"select count(*) from previous_application where {column} = {DAYS_CODE}") > 0
    assert 0.15 < one(small_dataset, f"select avg((DAYS_EMPLOYED = {DAYS_CODE})::int) from application_train") < 0.21


def test_missing_values_at_real_rates(small_dataset: Path) -> None:
    expected = {
        "EXT_SOURCE_1": 0.56,
        "EXT_SOURCE_2": 0.002,
        "EXT_SOURCE_3": 0.20,
        "OCCUPATION_TYPE": 0.31,
        "OWN_CAR_AGE": 0.66,
        "AMT_REQ_CREDIT_BUREAU_YEAR": 0.135,
        "APARTMENTS_AVG": 0.507,
        "COMMONAREA_MEDI": 0.699,
        "YEARS_BEGINEXPLUATATION_MODE": 0.488,
    }
    for column, rate in expected.items():
        share = one(small_dataset, f"select avg(({column} is null)::int) from application_train")
        assert abs(share - rate) < 0.04, (column, share)
    together = """select count(*) from application_train
        where (APARTMENTS_AVG is null) <> (APARTMENTS_MODE is null)
           or (APARTMENTS_AVG is null) <> (APARTMENTS_MEDI is null)
           or (COMMONAREA_AVG is not null and APARTMENTS_AVG is null)
           or (OWN_CAR_AGE is null) <> (FLAG_OWN_CAR = 'N')"""
    assert one(small_dataset, together) == 0
    no_bureau = """select avg((SK_ID_CURR not in (select SK_ID_CURR from bureau))::int) from application_train"""
    assert 0.11 < one(small_dataset, no_bureau) < 0.17


def test_frequencies_and_codes_like_the_real_data(small_dataset: Path) -> None:
    shares = {
        "select avg((NAME_CONTRACT_TYPE = 'Cash loans')::int) from application_train": (0.86, 0.94),
        "select avg((CODE_GENDER = 'F')::int) from application_train": (0.62, 0.70),
        "select avg((NAME_CONTRACT_STATUS = 'Approved')::int) from previous_application": (0.57, 0.67),
        "select avg((NAME_CONTRACT_STATUS = 'Canceled')::int) from previous_application": (0.15, 0.23),
        "select avg((NAME_CONTRACT_STATUS = 'Refused')::int) from previous_application": (0.13, 0.21),
        "select avg((NAME_CASH_LOAN_PURPOSE in ('XAP', 'XNA'))::int) from previous_application": (0.9, 1.0),
        "select avg((AMT_PAYMENT = AMT_INSTALMENT)::int) from installments_payments": (0.7, 0.95),
        "select avg((DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT)::int) from installments_payments": (0.03, 0.2),
        "select avg((AMT_BALANCE <= AMT_CREDIT_LIMIT_ACTUAL)::int) from credit_card_balance": (0.9, 1.0),
    }
    for sql, (low, high) in shares.items():
        assert low < one(small_dataset, sql) < high, sql
    assert (
        one(
            small_dataset,
            """select count(*) from previous_application
        where NAME_CONTRACT_STATUS in ('Approved', 'Canceled') and CODE_REJECT_REASON <> 'XAP'""",
        )
        == 0
    )
    median_income = one(small_dataset, "select median(AMT_INCOME_TOTAL) from application_train")
    assert 120_000 < median_income < 175_000
    ratios = query(
        small_dataset,
        """select median(AMT_CREDIT / AMT_INCOME_TOTAL),
        median(AMT_GOODS_PRICE / AMT_CREDIT), median(AMT_CREDIT / AMT_ANNUITY) from application_train
        where NAME_CONTRACT_TYPE = 'Cash loans'""",
    )[0]
    assert 2 < ratios[0] < 5 and 0.8 < ratios[1] <= 1 and 10 < ratios[2] < 60


def test_row_counts_per_client_scale_to_the_full_data_set(small_dataset: Path) -> None:
    full = {
        "bureau": 1_716_428,
        "bureau_balance": 27_299_925,
        "previous_application": 1_670_214,
        "POS_CASH_balance": 10_001_358,
        "credit_card_balance": 3_840_312,
        "installments_payments": 13_605_401,
    }
    for name, rows in full.items():
        scaled = one(small_dataset, f"select count(*) from {name}") * gen.FULL_SCALE_CLIENTS / 3000
        assert abs(scaled / rows - 1) < 0.15, (name, scaled)


def test_truth_file_matches_targets_and_default_rate(small_dataset: Path) -> None:
    assert one(small_dataset, "select count(*) from truth") == 3000
    assert (
        one(
            small_dataset,
            "select count(*) from truth join application_train a using (SK_ID_CURR) where truth.TARGET <> a.TARGET",
        )
        == 0
    )
    assert 0.05 < one(small_dataset, "select avg(TARGET) from application_train") < 0.11
    assert one(small_dataset, "select min(TRUE_PD) > 0 and max(TRUE_PD) < 1 from truth")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("pool_a", "pool_b"):
        with monkeypatch.context() as patched:
            patched.setattr(gen, "CHUNK_CLIENTS", 200)  # two chunks, rendered by the worker pool
            summary = gen.generate_dataset(tmp_path / name, 400, seed=5)
        assert summary.rows["application_train"] + summary.rows["application_test"] == 400
    assert digest(tmp_path / "pool_a") == digest(tmp_path / "pool_b")
    for name, seed in (("seed_5", 5), ("seed_6", 6)):
        gen.generate_dataset(tmp_path / name, 400, seed=seed)
    same, other = digest(tmp_path / "seed_5"), digest(tmp_path / "seed_6")
    assert {k for k, v in same.items() if other[k] != v} == set(same)


def test_batches_have_their_own_ids_and_test_layout(tmp_path: Path, small_dataset: Path) -> None:
    first = gen.generate_batch(tmp_path / "d1", date(2026, 11, 24), 300, seed=1, drift=False)
    gen.generate_batch(tmp_path / "d2", date(2026, 11, 25), 300, seed=1, drift=False)
    assert set(first.rows) == {"application_test", *gen.CHILD_TABLES}
    assert not (tmp_path / "d1" / "application_train.csv").exists()
    ids = {
        folder: {r[0] for r in query(tmp_path / folder, "select SK_ID_CURR from application_test")}
        for folder in ("d1", "d2")
    }
    base = {
        r[0]
        for r in query(
            small_dataset,
            "select SK_ID_CURR from application_test union all select SK_ID_CURR from application_train",
        )
    }
    assert len(ids["d1"]) == 300 and not ids["d1"] & ids["d2"] and not (ids["d1"] | ids["d2"]) & base
    assert one(tmp_path / "d1", "select count(*) from truth where TARGET is null") == 0
    with pytest.raises(ValueError, match="applications"):
        gen.generate_batch(tmp_path / "d3", date(2026, 11, 26), gen.BATCH_BLOCK + 1, seed=1, drift=False)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of `actual` against deciles of `expected` (NaN ignored)."""
    expected, actual = expected[~np.isnan(expected)], actual[~np.isnan(actual)]
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, 11)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected), minlength=len(edges) + 1) / len(expected) + 1e-4
    a = np.bincount(np.searchsorted(edges, actual), minlength=len(edges) + 1) / len(actual) + 1e-4
    return float(np.sum((a - e) * np.log(a / e)))


def test_drift_shifts_income_age_and_scores(tmp_path: Path, small_dataset: Path) -> None:
    day = date(2026, 11, 24)
    gen.generate_batch(tmp_path / "same", day, 2000, seed=3, drift=False)
    gen.generate_batch(tmp_path / "drift", day, 2000, seed=3, drift=True)
    columns = ["AMT_INCOME_TOTAL", "DAYS_BIRTH", "EXT_SOURCE_2", "EXT_SOURCE_3", "AMT_CREDIT"]
    select = "select " + ", ".join(f"{c}::double" for c in columns) + " from "
    base = np.array(query(small_dataset, select + "application_train"), dtype=float)
    for folder, drifted in (("same", False), ("drift", True)):
        batch = np.array(query(tmp_path / folder, select + "application_test"), dtype=float)
        values = [psi(base[:, i], batch[:, i]) for i in range(len(columns))]
        assert all(v > 0.2 for v in values) if drifted else all(v < 0.1 for v in values), (folder, values)


AGGREGATES = """
    with bureau_agg as (
        select SK_ID_CURR, count(*) filter (where CREDIT_DAY_OVERDUE > 0) as overdue,
               sum(AMT_CREDIT_SUM_DEBT) filter (where CREDIT_ACTIVE = 'Active') as active_debt
        from bureau group by all
    ), balance_agg as (
        select SK_ID_CURR, avg((STATUS in ('1', '2', '3', '4', '5'))::int) as late_months
        from bureau join bureau_balance using (SK_ID_BUREAU) group by all
    ), previous_agg as (
        select SK_ID_CURR, avg((NAME_CONTRACT_STATUS = 'Refused')::int) as refused
        from previous_application group by all
    ), instalment_agg as (
        select SK_ID_CURR, avg((DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT)::int) as late,
               avg((AMT_PAYMENT < AMT_INSTALMENT)::int) as short
        from installments_payments group by all
    ), pos_agg as (
        select SK_ID_CURR, avg((SK_DPD > 0)::int) as dpd from POS_CASH_balance group by all
    ), card_agg as (
        select SK_ID_CURR, avg(AMT_BALANCE / AMT_CREDIT_LIMIT_ACTUAL) as utilisation
        from credit_card_balance group by all
    )
    select SK_ID_CURR, TARGET, EXT_SOURCE_1, EXT_SOURCE_2, EXT_SOURCE_3, DAYS_BIRTH,
           nullif(DAYS_EMPLOYED, 365243),
           AMT_INCOME_TOTAL, AMT_CREDIT / AMT_INCOME_TOTAL, AMT_ANNUITY / AMT_INCOME_TOTAL,
           AMT_CREDIT / AMT_GOODS_PRICE, (CODE_GENDER = 'M')::int,
           (NAME_EDUCATION_TYPE = 'Higher education')::int,
           REGION_RATING_CLIENT,
           overdue, active_debt / AMT_INCOME_TOTAL, late_months, refused, late, short, dpd, utilisation
    from application_train
    left join bureau_agg using (SK_ID_CURR) left join balance_agg using (SK_ID_CURR)
    left join previous_agg using (SK_ID_CURR) left join instalment_agg using (SK_ID_CURR)
    left join pos_agg using (SK_ID_CURR) left join card_agg using (SK_ID_CURR)
    order by SK_ID_CURR
"""
APPLICATION_COLUMNS = 12


def test_histories_carry_risk_signal_beyond_the_application(tmp_path: Path) -> None:
    gen.generate_dataset(tmp_path, 8000, seed=11)
    data = np.array(query(tmp_path, AGGREGATES), dtype=float)
    y, x = data[:, 1], data[:, 2:]
    model = LGBMClassifier(
        n_estimators=150, learning_rate=0.05, num_leaves=15, min_child_samples=40, n_jobs=1, verbose=-1
    )

    def cv_auc(features: np.ndarray) -> float:
        return roc_auc_score(y, cross_val_predict(model, features, y, cv=3, method="predict_proba")[:, 1])

    application_only, with_history = cv_auc(x[:, :APPLICATION_COLUMNS]), cv_auc(x)
    true_pd = np.array(
        query(
            tmp_path,
            "select TRUE_PD from truth join application_train using (SK_ID_CURR) order by SK_ID_CURR",
        )
    )[:, 0]
    assert with_history - application_only > 0.04, (application_only, with_history)
    assert with_history > 0.93 * roc_auc_score(y, true_pd)


def test_cli_generates_a_data_set_and_a_batch(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--clients", "300", "--out", str(tmp_path / "g"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "installments_payments" in result.output
    result = runner.invoke(
        app,
        [
            "generate",
            "--batch-date",
            "2026-11-24",
            "--applications",
            "100",
            "--drift",
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "application_test.csv").exists()
