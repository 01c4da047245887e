"""Backtesting over the warehouse (stand-in scores, hand-made outcomes): cohorts by night of decision, the
challenger's comparison and cost, alerts stored only for a nightly run, nothing before outcomes arrive."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.load import connect, ensure_schema
from monitoring.challenger import compare
from monitoring.performance import ALL_BANDS, CALIBRATION_ALERT, check_performance
from scheduler.history import JOB_RUNS
from scoring import score_tables as st
from warehouse.settings import Settings

NIGHTS = {1: "2026-01-05", 2: "2026-01-20"}
CLIENTS = 300


def warehouse(settings: Settings, *, outcomes: dict[int, float]) -> None:
    """Two nights of champion (v1) and shadow challenger (v2) scores; outcomes of night run -> odds factor."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        st.create_tables(con, "UBIGINT")
        JOB_RUNS.create(con)
        con.execute(
            "INSERT INTO scores.model_card (model_name, model_version, metrics) VALUES ('m', 1, '{\"auc\": 0.8}')"
        )
        for run, night in NIGHTS.items():
            con.execute(
                "INSERT INTO scores.runs (run_id, model_name, model_version, model_run_id, threshold, mode, "
                "started_at, status) VALUES (?, 'm', 1, 'r', 0.3, 'new', now(), 'succeeded')",
                [run],
            )
            con.execute(
                "INSERT INTO ops.job_runs (run_id, job, night, started_at, status, load_id) "
                "VALUES (?, 'nightly', ?, now(), 'succeeded', ?)",
                [run, night, run],
            )
            ids = run * 10_000 + np.arange(CLIENTS)
            p = 1 / (1 + np.exp(-rng.normal(-2.2, 1.2, CLIENTS)))
            frame = pd.DataFrame({"SK_ID_CURR": ids, "run_id": run, "p": p, "refused": p >= 0.3})
            con.register("_f", frame)
            con.execute("INSERT INTO raw.application_test (SK_ID_CURR, _load_id) SELECT SK_ID_CURR, run_id FROM _f")
            con.execute(
                "INSERT INTO scores.predictions BY NAME SELECT run_id, SK_ID_CURR, 1 AS model_version, "
                "p AS probability, CASE WHEN refused THEN 'refuse' ELSE 'accept' END AS decision, "
                "0.3 AS threshold, 1 AS FEATURE_HASH, "
                "now() AS scored_at, 600 - 400 * p AS points FROM _f"
            )
            con.execute(
                "INSERT INTO scores.challenger_predictions BY NAME SELECT run_id, SK_ID_CURR, 2 AS model_version, "
                "p AS probability, 'accept' AS decision, 0.5 AS threshold, now() AS scored_at FROM _f"
            )
            if run in outcomes:
                worse = outcomes[run] * p / (1 - p + outcomes[run] * p)
                con.register("_o", frame.assign(d=(rng.random(CLIENTS) < worse).astype(int)))
                con.execute("INSERT INTO raw.outcomes SELECT SK_ID_CURR, '2026-03-05', d, 9 FROM _o")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, performance_cohort="night", performance_min_outcomes=200)


def test_nothing_is_measured_before_outcomes_arrive(settings: Settings) -> None:
    warehouse(settings, outcomes={})
    result = check_performance(settings, job_run_id=9)
    assert result.table.empty and not result.alerts
    assert "no cohort has enough observed outcomes" in result.summary()
    assert compare(settings).empty


def test_cohorts_are_nights_of_decision_and_a_deteriorated_one_alerts_in_a_nightly_run(settings: Settings) -> None:
    warehouse(settings, outcomes={1: 1.0, 2: 5.0})
    by_hand = check_performance(settings)
    assert by_hand.alerts, "the deteriorated night is off calibration"
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alerts'").fetchall()[0][0]
    nightly = check_performance(settings, job_run_id=9)
    whole = nightly.table[nightly.table["score_band"] == ALL_BANDS].set_index("cohort")
    assert list(whole.index) == list(NIGHTS.values())
    assert whole["expected_gini"].tolist() == pytest.approx([0.6, 0.6])
    assert whole.loc["2026-01-20", "observed_default_rate"] > whole.loc["2026-01-05", "observed_default_rate"]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        kinds = {k for (k,) in con.execute("SELECT kind FROM monitoring.alerts WHERE run_id = 9").fetchall()}
    assert CALIBRATION_ALERT in kinds
    calibration = next(a for a in nightly.alerts if a.kind == CALIBRATION_ALERT)
    assert "2026-01-20" in calibration.message


def test_the_challenger_is_compared_on_cost_with_its_own_decisions(settings: Settings) -> None:
    warehouse(settings, outcomes={1: 1.0})
    table = compare(settings, job_run_id=9).set_index("cohort")
    assert list(table.index) == ["2026-01-05", ALL_BANDS]
    row = table.loc[ALL_BANDS]
    assert row["outcomes"] == CLIENTS and row["challenger_refusal_rate"] == 0.0
    assert row["challenger_cost_per_client"] == pytest.approx(settings.cost_false_negative * row["defaults"] / CLIENTS)
    assert row["champion_gini"] == pytest.approx(row["challenger_gini"]), "same probabilities, same ranking"
