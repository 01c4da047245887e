"""Done when (issue 12, outcomes and the challenger): three simulated months of nights through the scheduler's own
functions, outcomes arriving 50 days after scoring, a segment deteriorating in the third month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from cli.app import app
from dashboard import APP_PATH, auth
from dashboard.ui import USER_KEY
from generator.dataset import generate_batch
from generator.outcomes import Deterioration, batch_folders, outcome_rows
from monitoring.challenger import verdict
from monitoring.performance import ALL_BANDS, CALIBRATION_ALERT, GINI_ALERT
from scheduler.history import SUCCEEDED, JobRun
from scheduler.nightly import STEPS, run_nightly
from scoring import registry
from scoring.data import load_training_data
from scoring.train import train
from tests.conftest import copy_home
from tests.integration.test_nightly import settings_env
from warehouse.settings import Settings

APPLICATIONS = 600
DELAY_DAYS = 50
SEED = 12
NIGHTS = [date(2026, 1, 10), date(2026, 2, 1), date(2026, 3, 5), date(2026, 3, 30)]
"""A night in January, one in February, two in March: the January batch's outcomes arrive on March 5, the
February batch's on March 30 (50 days after scoring), deteriorated in one segment."""
COHORTS = ["2026-01-10", "2026-02-01"]
DETERIORATED = date(2026, 3, 30)
pytestmark = pytest.mark.timeout(1200)  # the module's fixture runs the whole pipeline: four nights and a training
SEGMENT = Deterioration("NAME_INCOME_TYPE", "Working", odds_factor=6.0)


@dataclass(frozen=True)
class Months:
    """The simulated months: settings, the nightly runs in order, the versions at the start."""

    settings: Settings
    runs: list[JobRun]
    champion: int
    challenger: int


def rows(settings: Settings, sql: str, path: Path | None = None) -> list[tuple]:
    """A read-only query on the warehouse (or another DuckDB file)."""
    with duckdb.connect(str(path or settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def months(champion_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Months:
    """A challenger registered beside the champion, then four nights over three months, each delivering the
    outcomes of the batches scored 50 days before (deteriorated in one segment on the last night)."""
    home = tmp_path_factory.mktemp("lifecycle")
    settings = copy_home(champion_warehouse, home).replace(
        performance_cohort="night", performance_min_outcomes=300, promotion_min_outcomes=500
    )
    champion = registry.load_champion(settings).version
    challenger = train(settings.replace(seed=SEED), search_iterations=0, as_challenger=True).version
    done = []
    for night in NIGHTS:
        earlier = batch_folders([settings.inbox_dir, settings.processed_dir])
        segment = SEGMENT if night == DETERIORATED else None
        arrived = outcome_rows(night, earlier, DELAY_DAYS, seed=SEED, deteriorate=segment)
        folder = settings.inbox_dir / night.isoformat()
        generate_batch(folder, night, APPLICATIONS, seed=SEED, drift=False, outcomes=arrived)
        done.append(run_nightly(settings, night))
    return Months(settings, done, champion, challenger)


def test_every_night_succeeds_with_a_backtesting_step(months: Months) -> None:
    errors = [r.error for r in months.runs]
    assert [(r.night, r.status) for r in months.runs] == [(n, SUCCEEDED) for n in NIGHTS], errors
    steps = rows(months.settings, f"SELECT DISTINCT step FROM ops.job_steps WHERE run_id = {months.runs[-1].run_id}")
    assert {s for (s,) in steps} == set(STEPS) and "performance" in STEPS
    loaded = rows(months.settings, "SELECT count(*), sum(DEFAULTED) FROM raw.outcomes")[0]
    assert loaded[0] == 2 * APPLICATIONS, "the January and February batches' outcomes, each once"
    assert not rows(months.settings, "SELECT * FROM audit.quarantine WHERE table_name = 'outcomes'")


def test_performance_and_its_alert_appear_in_the_third_month_only(months: Months) -> None:
    cfg = months.settings
    checked = rows(
        cfg,
        "SELECT j.night, count(p.check_id) FROM ops.job_runs j LEFT JOIN monitoring.performance p "
        "ON p.job_run_id = j.run_id GROUP BY ALL ORDER BY j.night",
    )
    assert [night.month == 3 for night, count in checked if count] == [True, True]
    assert all(count == 0 for night, count in checked if night.month < 3)
    alerts = dict(rows(cfg, "SELECT run_id, list(kind ORDER BY kind) FROM monitoring.alerts GROUP BY run_id"))
    by_night = {r.night: alerts.get(r.run_id, []) for r in months.runs}
    performance = {n: [k for k in kinds if k.startswith("performance")] for n, kinds in by_night.items()}
    assert performance[date(2026, 3, 5)] == [], "the January cohort turned out as predicted: no alert"
    assert GINI_ALERT in performance[DETERIORATED] or CALIBRATION_ALERT in performance[DETERIORATED]
    assert all(not kinds for night, kinds in performance.items() if night.month < 3)
    last = pd.DataFrame(
        rows(
            cfg,
            "SELECT cohort, score_band, outcomes, observed_default_rate, predicted_default_rate, gini, expected_gini "
            "FROM monitoring.performance WHERE check_id = (SELECT max(check_id) FROM monitoring.performance)",
        ),
        columns=["cohort", "band", "outcomes", "observed", "predicted", "gini", "expected"],
    )
    whole = last[last["band"] == ALL_BANDS].set_index("cohort")
    assert list(whole.index) == COHORTS
    assert (whole["outcomes"] == APPLICATIONS).all()
    assert whole.loc[COHORTS[1], "observed"] > 1.5 * whole.loc[COHORTS[0], "observed"]
    assert whole.loc[COHORTS[1], "gini"] < whole.loc[COHORTS[0], "gini"]
    assert last[last["band"] != ALL_BANDS].groupby("cohort")["outcomes"].sum().eq(APPLICATIONS).all()
    published = rows(cfg, "SELECT count(*) FROM monitoring.performance", cfg.serving_path)[0][0]
    assert published == rows(cfg, "SELECT count(*) FROM monitoring.performance")[0][0], "the dashboard reads it"
    shown = CliRunner().invoke(app, ["performance"], env={**settings_env(cfg), "COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert COHORTS[1] in shown.output and "Alert" in shown.output


def test_the_challenger_is_scored_in_shadow_on_the_same_clients_and_compared(months: Months) -> None:
    cfg = months.settings
    pairs = rows(
        cfg,
        "SELECT p.run_id, count(*), count(c.SK_ID_CURR), any_value(c.model_version), any_value(p.model_version) "
        "FROM scores.predictions p LEFT JOIN scores.challenger_predictions c USING (run_id, SK_ID_CURR) "
        "WHERE p.run_id IN (SELECT run_id FROM scores.runs WHERE mode = 'new') GROUP BY ALL",
    )
    assert len(pairs) == len(NIGHTS), "one scoring run a night (the first also scores the test file's clients)"
    versions = (months.challenger, months.champion)
    assert all(scored == shadowed and (c, v) == versions for _, scored, shadowed, c, v in pairs)
    decided = rows(cfg, "SELECT DISTINCT model_version FROM scores.latest")
    assert decided == [(months.champion,)], "the challenger never decides"
    compared = rows(
        cfg,
        "SELECT cohort, outcomes, champion_cost_per_client, challenger_cost_per_client "
        "FROM monitoring.challenger_comparison "
        "WHERE check_id = (SELECT max(check_id) FROM monitoring.challenger_comparison) ORDER BY cohort",
    )
    assert [(c, n) for c, n, _, _ in compared] == [*((c, APPLICATIONS) for c in COHORTS), (ALL_BANDS, 2 * APPLICATIONS)]


def test_promotion_follows_the_rule_and_force_is_recorded(months: Months, tmp_path: Path) -> None:
    cfg = copy_home(months.settings, tmp_path / "home")
    env = {**settings_env(cfg), "COLUMNS": "250"}
    last = pd.DataFrame(
        rows(cfg, "SELECT * FROM monitoring.challenger_comparison"),
        columns=[c for (c,) in rows(cfg, "SELECT column_name FROM (DESCRIBE monitoring.challenger_comparison)")],
    )
    overall = last[last["cohort"] == ALL_BANDS].iloc[-1]
    by_rule = (
        overall["outcomes"] >= cfg.promotion_min_outcomes
        and overall["challenger_cost_per_client"] < overall["champion_cost_per_client"]
        and overall["challenger_gini"] >= overall["champion_gini"]
    )
    assert verdict(last.tail(3), months.champion, months.challenger, cfg).promote == by_rule
    decided = CliRunner().invoke(app, ["promote"], env=env)
    assert decided.exit_code == 0, decided.output
    assert "Rule: promote the challenger when, on at least 500 clients" in decided.output
    client = registry.connect(cfg)
    champion = int(registry.champion_version(client, cfg).version)  # type: ignore[union-attr]
    assert champion == (months.challenger if by_rule else months.champion)
    if not by_rule:
        forced = CliRunner().invoke(app, ["promote", "--force"], env=env)
        assert forced.exit_code == 0 and "forced against the rule" in forced.output
        assert int(registry.champion_version(client, cfg).version) == months.challenger  # type: ignore[union-attr]
    assert registry.alias_version(client, cfg, registry.CHALLENGER_ALIAS) is None
    recorded = rows(cfg, "SELECT promoted, forced, candidate_version FROM ops.promotions ORDER BY promotion_id")
    assert recorded[0] == (by_rule, False, months.challenger)
    assert recorded[-1][:2] == (True, not by_rule)


def test_training_can_learn_from_the_outcomes_that_arrived(months: Months) -> None:
    plain = load_training_data(months.settings)
    more = load_training_data(months.settings, with_outcomes=True)
    assert more.n_rows == plain.n_rows + 2 * APPLICATIONS
    outcomes = dict(rows(months.settings, "SELECT SK_ID_CURR, DEFAULTED FROM raw.outcomes"))
    labelled = dict(zip(more.ids.tolist(), more.y.tolist(), strict=True))
    assert all(labelled[client] == value for client, value in outcomes.items())
    assert more.data_hash != plain.data_hash


def test_the_backtesting_page_shows_the_published_results(months: Months, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = months.settings
    auth.add_user(cfg, "manager", "correct horse battery")
    for key, value in settings_env(cfg).items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.session_state[USER_KEY] = "manager"
    at.run()
    at.switch_page("views/performance.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(e.value) for kind in ("markdown", "warning", "subheader") for e in getattr(at, kind))
    assert "Backtesting alert" in shown
    assert all(f"**In short:** {cohort} (v" in shown for cohort in COHORTS)
    cohorts = at.dataframe[0].value
    assert list(cohorts["cohort"]) == COHORTS
