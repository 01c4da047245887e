"""The dbt feature store: a real `dbt build` on a small generated warehouse, features recomputed
independently in pandas from the CSVs, one row per client, incremental builds equal to full rebuilds,
no lingering file lock, the raw contract read from dbt's source YAML, and every feature described in words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from benchmarks import pandas_kernel
from featurestore import docs as feature_docs
from featurestore.build import LAST_BUILD_DIR, BuildResult, FeatureBuildError, build_features, dbt_dirs, run_build
from ingest.load import ingest_folder
from tests.conftest import copy_home
from warehouse.features import FEATURES_TABLE, NON_FEATURE_COLUMNS
from warehouse.schema import DAYS_CODE, tables
from warehouse.settings import PROJECT_ROOT, Settings

BATCH_APPLICATIONS = 40


@pytest.fixture(scope="module")
def built(feature_build: tuple[Settings, BuildResult]) -> tuple[Settings, BuildResult]:
    """The session's warehouse ingested from the small data set and built once by `dbt build` (models and tests)."""
    return feature_build


@pytest.fixture(scope="module")
def features(built: tuple[Settings, BuildResult]) -> pd.DataFrame:
    """features.client_features of the built warehouse, indexed by client."""
    with duckdb.connect(str(built[0].warehouse_path), read_only=True) as con:
        return con.execute(f"select * from {FEATURES_TABLE}").df().set_index("SK_ID_CURR")


@pytest.fixture(scope="module")
def csv(small_dataset: Path) -> dict[str, pd.DataFrame]:
    """The generated CSVs read by pandas, the 365243 day code replaced by NaN (as the kernel does)."""
    frames = {}
    for name in tables():
        frame = pd.read_csv(small_dataset / f"{name}.csv")
        days = [c for c in frame.columns if c.startswith("DAYS_")]
        frame[days] = frame[days].replace(DAYS_CODE, np.nan)
        frames[name] = frame
    return frames


def mismatched(actual: pd.Series, expected: pd.Series) -> np.ndarray:
    """Where a SQL feature and its pandas value differ (beyond float rounding; NaN equals NaN)."""
    return ~np.isclose(actual.astype(float), expected.astype(float), rtol=1e-7, atol=1e-9, equal_nan=True)


def assert_feature(features: pd.DataFrame, name: str, expected: pd.Series, *, fill: float | None = None) -> None:
    """The SQL feature equals the pandas one for every client (NaN where pandas has no value, or `fill`)."""
    expected = expected.reindex(features.index)
    if fill is not None:
        expected = expected.fillna(fill)
    actual = features[name].astype(float)
    mismatch = mismatched(actual, expected)
    assert not mismatch.any(), (
        f"{name}: {mismatch.sum()} clients differ, e.g.\n"
        f"{pd.DataFrame({'sql': actual, 'pandas': expected})[mismatch].head()}"
    )


def test_build_runs_every_model_and_passes_every_test(built: tuple[Settings, BuildResult]) -> None:
    _, result = built
    assert len(result.models) == 18 and all(m.status == "success" for m in result.models)
    assert {t.status for t in result.tests} == {"pass"}
    assert sum(t.kind == "unit_test" for t in result.tests) >= 9
    assert sum(t.kind == "test" for t in result.tests) > 50
    assert result.rows_processed["client_features"] == result.rows_processed["int_application__clients"]


def test_one_row_per_client_with_the_contract_columns(
    built: tuple[Settings, BuildResult], csv: dict[str, pd.DataFrame]
) -> None:
    with duckdb.connect(str(built[0].warehouse_path), read_only=True) as con:
        columns = con.execute(f"describe {FEATURES_TABLE}").fetchall()
        rows, clients = con.execute(f"select count(*), count(distinct SK_ID_CURR) from {FEATURES_TABLE}").fetchone()
    assert rows == clients == len(csv["application_train"]) + len(csv["application_test"])
    names = [c[0] for c in columns]
    assert tuple(names[: len(NON_FEATURE_COLUMNS)]) == NON_FEATURE_COLUMNS
    types = {c[0]: c[1] for c in columns[len(NON_FEATURE_COLUMNS) :]}
    assert set(types.values()) <= {"DOUBLE", "BIGINT", "INTEGER"}, set(types.values())
    assert len(types) > 800


def test_application_features_match_pandas(features: pd.DataFrame, csv: dict[str, pd.DataFrame]) -> None:
    app = pd.concat([csv["application_train"], csv["application_test"]]).set_index("SK_ID_CURR")
    assert (
        features["DATASET"] == np.where(features.index.isin(csv["application_train"].SK_ID_CURR), "train", "test")
    ).all()
    assert_feature(features, "TARGET", app["TARGET"])
    assert_feature(features, "PAYMENT_RATE", app.AMT_ANNUITY / app.AMT_CREDIT)
    assert_feature(features, "INCOME_CREDIT_PERC", app.AMT_INCOME_TOTAL / app.AMT_CREDIT)
    assert_feature(features, "DAYS_EMPLOYED_PERC", app.DAYS_EMPLOYED / app.DAYS_BIRTH)
    assert_feature(features, "INCOME_PER_PERSON", app.AMT_INCOME_TOTAL / app.CNT_FAM_MEMBERS.replace(0, np.nan))
    assert_feature(features, "DAYS_EMPLOYED", app.DAYS_EMPLOYED)


def test_bureau_features_match_pandas(features: pd.DataFrame, csv: dict[str, pd.DataFrame]) -> None:
    bureau, balance = csv["bureau"], csv["bureau_balance"]
    per_credit = balance.groupby("SK_ID_BUREAU").agg(
        MONTHS_BALANCE_SIZE=("MONTHS_BALANCE", "size"),
        STATUS_1_MEAN=("STATUS", lambda s: (s.astype(str) == "1").mean()),
    )
    credits = bureau.join(per_credit, on="SK_ID_BUREAU")
    by_client = credits.groupby("SK_ID_CURR")
    assert_feature(features, "BURO_COUNT", by_client.size(), fill=0)
    assert_feature(features, "BURO_DAYS_CREDIT_VAR", by_client.DAYS_CREDIT.var())  # pandas: ddof=1
    assert_feature(features, "BURO_AMT_CREDIT_SUM_DEBT_SUM", by_client.AMT_CREDIT_SUM_DEBT.sum(min_count=1))
    assert_feature(features, "BURO_MONTHS_BALANCE_SIZE_MEAN", by_client.MONTHS_BALANCE_SIZE.mean())
    assert_feature(features, "BURO_STATUS_1_MEAN_MEAN", by_client.STATUS_1_MEAN.mean())
    active = credits[credits.CREDIT_ACTIVE == "Active"].groupby("SK_ID_CURR")
    assert_feature(features, "ACTIVE_AMT_CREDIT_SUM_MEAN", active.AMT_CREDIT_SUM.mean())
    assert_feature(features, "ACTIVE_COUNT", active.size(), fill=0)
    recent = balance[balance.MONTHS_BALANCE >= -12].groupby("SK_ID_BUREAU").MONTHS_BALANCE.size()
    windowed = bureau.join(recent.rename("N"), on="SK_ID_BUREAU").groupby("SK_ID_CURR")
    assert_feature(features, "BURO_L12M_MONTHS_BALANCE_SIZE_SUM", windowed.N.sum(min_count=1))


def test_previous_application_features_match_pandas(features: pd.DataFrame, csv: dict[str, pd.DataFrame]) -> None:
    prev = csv["previous_application"].copy()
    prev["APP_CREDIT_PERC"] = prev.AMT_APPLICATION / prev.AMT_CREDIT.replace(0, np.nan)
    by_client = prev.groupby("SK_ID_CURR")
    assert_feature(features, "PREV_COUNT", by_client.size(), fill=0)
    assert_feature(features, "PREV_APP_CREDIT_PERC_VAR", by_client.APP_CREDIT_PERC.var())
    refused = prev[prev.NAME_CONTRACT_STATUS == "Refused"].groupby("SK_ID_CURR")
    assert_feature(features, "REFUSED_AMT_CREDIT_MEAN", refused.AMT_CREDIT.mean())
    last3 = (
        prev.sort_values(
            ["SK_ID_CURR", "DAYS_DECISION", "SK_ID_PREV"], ascending=[True, False, False], na_position="last"
        )
        .groupby("SK_ID_CURR")
        .head(3)
    )
    assert_feature(features, "PREV_LAST3_AMT_CREDIT_MEAN", last3.groupby("SK_ID_CURR").AMT_CREDIT.mean())


def test_pos_and_card_features_match_pandas(features: pd.DataFrame, csv: dict[str, pd.DataFrame]) -> None:
    pos = csv["POS_CASH_balance"]
    assert_feature(features, "POS_COUNT", pos.groupby("SK_ID_CURR").size(), fill=0)
    assert_feature(features, "POS_SK_DPD_MEAN", pos.groupby("SK_ID_CURR").SK_DPD.mean())
    last_6_months = pos[pos.MONTHS_BALANCE >= -6].groupby("SK_ID_CURR")
    assert_feature(features, "POS_L6M_SK_DPD_MAX", last_6_months.SK_DPD.max())
    card = csv["credit_card_balance"]
    assert_feature(features, "CC_COUNT", card.groupby("SK_ID_CURR").size(), fill=0)
    assert_feature(features, "CC_AMT_BALANCE_VAR", card.groupby("SK_ID_CURR").AMT_BALANCE.var())
    assert_feature(
        features, "CC_L12M_AMT_BALANCE_MEAN", card[card.MONTHS_BALANCE >= -12].groupby("SK_ID_CURR").AMT_BALANCE.mean()
    )


def test_instalment_features_match_pandas(features: pd.DataFrame, csv: dict[str, pd.DataFrame]) -> None:
    ins = csv["installments_payments"].copy()
    ins["DPD"] = (ins.DAYS_ENTRY_PAYMENT - ins.DAYS_INSTALMENT).clip(lower=0)
    ins["DBD"] = (ins.DAYS_INSTALMENT - ins.DAYS_ENTRY_PAYMENT).clip(lower=0)
    ins["PAYMENT_PERC"] = ins.AMT_PAYMENT / ins.AMT_INSTALMENT.replace(0, np.nan)
    ins["PAYMENT_DIFF"] = ins.AMT_INSTALMENT - ins.AMT_PAYMENT
    by_client = ins.groupby("SK_ID_CURR")
    assert_feature(features, "INSTAL_COUNT", by_client.size(), fill=0)
    assert_feature(features, "INSTAL_DPD_MAX", by_client.DPD.max())
    assert_feature(features, "INSTAL_DBD_MEAN", by_client.DBD.mean())
    assert_feature(features, "INSTAL_PAYMENT_PERC_VAR", by_client.PAYMENT_PERC.var())
    assert_feature(features, "INSTAL_PAYMENT_DIFF_SUM", by_client.PAYMENT_DIFF.sum(min_count=1))
    assert_feature(
        features, "INSTAL_NUM_INSTALMENT_VERSION_NUNIQUE", by_client.NUM_INSTALMENT_VERSION.nunique(), fill=0
    )


def test_clients_without_history_get_zero_counts_and_null_aggregates(
    features: pd.DataFrame, csv: dict[str, pd.DataFrame]
) -> None:
    without_bureau = features.index.difference(csv["bureau"].SK_ID_CURR.unique())
    without_cards = features.index.difference(csv["credit_card_balance"].SK_ID_CURR.unique())
    assert len(without_bureau) > 0 and len(without_cards) > 0
    assert (
        (features.loc[without_bureau, ["BURO_COUNT", "ACTIVE_COUNT", "BURO_MONTHS_BALANCE_SIZE_SUM"]].iloc[:, :2] == 0)
        .all()
        .all()
    )
    assert features.loc[without_bureau, "BURO_DAYS_CREDIT_MEAN"].isna().all()
    assert (features.loc[without_cards, "CC_COUNT"] == 0).all()
    assert features.loc[without_cards, "CC_AMT_BALANCE_MEAN"].isna().all()


KERNEL_DEPARTURES = {
    "APP_CREDIT_PERC": "the kernel divides by a zero AMT_CREDIT into infinity; the store's ratio is NULL",
    "INSTAL_DPD_MEAN": "the kernel's apply makes a missing payment 0 days late; the store leaves it out",
    "INSTAL_DBD_MEAN": "the kernel's apply makes a missing payment 0 days early; the store leaves it out",
    "CODE_GENDER": "the kernel numbers the values in order of appearance; the store's code is fixed",
    "FLAG_OWN_CAR": "the kernel numbers the values in order of appearance; the store's code is fixed",
    "FLAG_OWN_REALTY": "the kernel numbers the values in order of appearance; the store's code is fixed",
}
"""Shared features that differ from the pandas kernel's by design, and why."""


def test_every_feature_shared_with_the_pandas_kernel_agrees(features: pd.DataFrame, small_dataset: Path) -> None:
    """The benchmark's reference computes the same features: every column named as in the kernel holds its values,
    once the store's two conventions are applied (a client without rows has a count of 0; a sum over no values,
    which pandas makes 0, is NULL)."""
    kernel = pandas_kernel.features(small_dataset).set_index("SK_ID_CURR").reindex(features.index)
    shared = [c for c in kernel.columns if c in features.columns and c != "TARGET"]
    compared = [c for c in shared if not any(k in c for k in KERNEL_DEPARTURES)]
    assert len(compared) > 400 and all(any(k in c for c in shared) for k in KERNEL_DEPARTURES)
    differing = {}
    for name in compared:
        expected = kernel[name].astype(float)
        if name.endswith(("_COUNT", "_SIZE", "_NUNIQUE")):
            expected = expected.fillna(0)
        elif name.endswith("_SUM"):
            expected = expected.mask(features[name].isna() & (expected == 0))
        if (mismatch := mismatched(features[name], expected)).any():
            differing[name] = int(mismatch.sum())
    assert not differing, f"features that differ from the kernel's (clients): {differing}"


RUN_DBT = """
import json, subprocess, sys
from pathlib import Path
if sys.argv[2] == "fork":
    import dbt.cli.main  # as the scheduler's fork server preloads it

    class NoDbtProgram(subprocess.Popen):
        def __init__(self, args, *rest, **options):
            assert not str(args[0]).endswith("dbt"), "dbt was started as a new program"
            super().__init__(args, *rest, **options)

    subprocess.Popen = NoDbtProgram
from featurestore.build import run_dbt
from warehouse.settings import Settings
settings = Settings(home=Path(sys.argv[1]))
commands = {"good": ["ls", "--select", "client_features", "--output", "name"], "bad": ["build", "--no-such-option"]}
runs = {name: run_dbt(settings, *args) for name, args in commands.items()}
print(json.dumps({name: [run.code, run.output] for name, run in runs.items()}))
"""


def test_dbt_forked_by_a_process_that_imported_it_answers_as_the_executable(
    feature_warehouse: Settings, tmp_path: Path
) -> None:
    """A nightly step (its fork server imported dbt) runs dbt in a fork of itself, two seconds sooner than the
    `dbt` program: same exit codes and same answers, for a good command and a bad one."""
    home = copy_home(feature_warehouse, tmp_path / "home").home
    answers = {}
    for how in ("exec", "fork"):
        done = subprocess.run(
            [sys.executable, "-c", RUN_DBT, str(home), how], capture_output=True, text=True, cwd=PROJECT_ROOT
        )
        assert done.returncode == 0, done.stderr
        answers[how] = json.loads(done.stdout.strip().splitlines()[-1])
    for how, answer in answers.items():
        (good_code, good_output), (bad_code, bad_output) = answer["good"], answer["bad"]
        assert (good_code, bad_code) == (0, 2), (how, answer)
        assert "client_features" in good_output.splitlines(), (how, good_output)
        assert "No such option '--no-such-option'" in bad_output, (how, bad_output)
    assert answers["fork"]["bad"] == answers["exec"]["bad"]
    listed = {
        how: [line for line in answer["good"][1].splitlines() if ":" not in line] for how, answer in answers.items()
    }
    assert listed["fork"] == listed["exec"]


def test_building_without_a_warehouse_says_so(tmp_path: Path) -> None:
    with pytest.raises(FeatureBuildError, match="No warehouse"):
        build_features(Settings(home=tmp_path))


def test_raw_tables_and_staging_follow_the_source_yaml(built: tuple[Settings, BuildResult]) -> None:
    """Ingestion created the raw tables from _sources.yml, and staging keeps every contract column with its type."""
    with duckdb.connect(str(built[0].warehouse_path), read_only=True) as con:
        for table in tables().values():
            raw = con.execute(f'describe raw."{table.name}"').fetchall()
            assert [(r[0], r[1]) for r in raw if r[0] != "_load_id"] == [(c.name, c.type) for c in table.columns]
        staged = dict(con.execute("select column_name, column_type from (describe staging.stg_bureau)").fetchall())
    assert all(staged[c.name] == c.type for c in tables()["bureau"].columns)


def test_every_feature_is_described_in_words(built: tuple[Settings, BuildResult], tmp_path: Path) -> None:
    """`credit-scoring docs` writes a plain-language comment on every column of client_features."""
    settings = copy_home(built[0], tmp_path / "home")
    assert feature_docs.comment_features(settings.warehouse_path) > 800
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        comments = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() "
                "where schema_name = 'features' and table_name = 'client_features'"
            ).fetchall()
        )
    assert all(text and len(text) > 10 for text in comments.values()), [c for c, t in comments.items() if not t]
    assert "most recent previous applications" in comments["PREV_LAST3_AMT_CREDIT_MEAN"]
    assert "last 12 months" in comments["CC_L12M_AMT_BALANCE_MEAN"]
    assert feature_docs.comment_features(settings.warehouse_path) == 0  # already up to date
    with pytest.raises(feature_docs.UndescribedColumn):
        feature_docs.describe_features({"client_features": ["MYSTERY_FEATURE"]})


def test_nightly_batch_builds_only_its_clients_and_equals_a_full_rebuild(
    built: tuple[Settings, BuildResult], tmp_path: Path
) -> None:
    """`credit-scoring build` (run from another directory) after a batch rebuilds only the batch's clients;
    the features then equal a --full-refresh rebuild; and nothing holds the warehouse file afterwards.
    It works on a copy: the shared warehouse stays as other test files expect it."""
    from generator.dataset import generate_batch

    settings = copy_home(built[0], tmp_path / "home")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        before = con.execute(f"select count(*) from {FEATURES_TABLE}").fetchone()[0]
    batch = tmp_path / "batch"
    generate_batch(batch, date(2026, 11, 23), BATCH_APPLICATIONS, seed=3, drift=False)
    ingest_folder(batch, settings, progress=False)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "CREDIT_SCORING_HOME": str(settings.home),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "cli.app", "build", "--select", "resource_type:model"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert not (elsewhere / "logs").exists() and not (elsewhere / "target").exists()

    with duckdb.connect(str(settings.warehouse_path)) as con:  # read-write: no dbt process holds the file
        processed = dict(
            con.execute(
                "select model, rows_processed from intermediate.dbt_build_log where invocation_id = (select "
                "invocation_id from intermediate.dbt_build_log order by logged_at desc limit 1)"
            ).fetchall()
        )
        incremental = con.execute(f"select * from {FEATURES_TABLE} order by SK_ID_CURR").df()
    assert processed["client_features"] == BATCH_APPLICATIONS
    assert processed["int_application__clients"] == BATCH_APPLICATIONS
    assert max(v for k, v in processed.items() if k.endswith("__per_client")) <= BATCH_APPLICATIONS
    assert len(incremental) == incremental.SK_ID_CURR.nunique() == before + BATCH_APPLICATIONS

    result = build_features(settings, select="resource_type:model", full_refresh=True)
    assert result.rows_processed["client_features"] == len(incremental)
    lock_free = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table lock_check as select 1')",
            str(settings.warehouse_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lock_free.returncode == 0, lock_free.stderr
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rebuilt = con.execute(f"select * from {FEATURES_TABLE} order by SK_ID_CURR").df()
    pd.testing.assert_frame_equal(incremental, rebuilt, check_exact=False, rtol=1e-9)


def test_a_night_leaves_unchanged_seeds_and_views_alone_and_rebuilds_what_changed(
    built: tuple[Settings, BuildResult], tmp_path: Path
) -> None:
    """A night's build runs the incremental models and their tests; seeds and staging views are rebuilt (with their
    tests) only when they changed since the last complete build, compared with that build's kept manifest."""
    from generator.dataset import generate_batch

    project = tmp_path / "dbt"
    shutil.copytree(PROJECT_ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = copy_home(built[0], tmp_path / "home").replace(dbt_project_dir=project)

    def night(day: date | None) -> dict[str, set[str]]:
        if day is not None:
            generate_batch(tmp_path / day.isoformat(), day, BATCH_APPLICATIONS, seed=day.day, drift=False)
            ingest_folder(tmp_path / day.isoformat(), settings, progress=False)
        result = build_features(settings)
        assert result.rows_processed["client_features"] == (BATCH_APPLICATIONS if day else 0)
        return {kind: {n.name.split(" ")[0] for n in result.nodes if n.kind == kind} for kind in ("model", "seed")}

    first = night(date(2026, 11, 23))  # no build kept yet for this copy: everything is selected
    assert "stg_bureau" in first["model"] and "score_bands" in first["seed"]
    assert (dbt_dirs(settings)[0] / LAST_BUILD_DIR / "manifest.json").exists()
    second = night(date(2026, 11, 24))
    assert second["seed"] == set() and not any(name.startswith("stg_") for name in second["model"])
    assert "client_features" in second["model"] and "int_bureau__per_client" in second["model"]

    bands = project / "seeds" / "score_bands.csv"
    bands.write_text(bands.read_text().replace("Very low risk", "Lowest risk"))
    view = project / "models" / "staging" / "stg_bureau.sql"
    view.write_text(view.read_text() + "\n-- changed\n")
    changed = night(None)
    assert changed["seed"] == {"score_bands"}
    assert {name for name in changed["model"] if name.startswith("stg_")} == {"stg_bureau"}


def test_the_unique_test_still_finds_a_duplicated_key(built: tuple[Settings, BuildResult], tmp_path: Path) -> None:
    """The project's `unique` (checking only the rebuilt keys in a night) checks every key outside a build."""
    settings = copy_home(built[0], tmp_path / "home")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("insert into intermediate.int_pos__per_prev select * from intermediate.int_pos__per_prev limit 1")
    with pytest.raises(FeatureBuildError, match=r"unique_int_pos__per_prev_SK_ID_PREV .*: fail: Got 1 result"):
        run_build(settings, "test", "--select", "int_pos__per_prev")
