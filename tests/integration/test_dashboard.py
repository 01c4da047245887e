"""The dashboard: every page, sign-in, empty and odd cases, live publication, a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from cli.app import app as cli_app
from dashboard import APP_PATH, auth, data
from dashboard.ui import USER_KEY as SIGNED_IN_KEY
from monitoring.fairness import check_fairness
from notices.letters import load_notice, night_refusals
from scoring.publish import publish
from scoring.serving import connect_serving
from tests.conftest import copy_home
from tests.dashboard_standin import (  # hand-built edge cases: a client without history, one unscored
    HISTORY_PREFIXES,
    NO_HISTORY_CLIENT,
    UNSCORED_CLIENT,
    build_standin_serving,
)
from warehouse.settings import Settings
from warehouse.vocabulary import catalogue

USER, PASSWORD = "manager", "correct horse battery"
PAGES = {
    "client": "views/client.py",
    "population": "views/population.py",
    "portfolio": "views/portfolio.py",
    "model": "views/model.py",
    "monitoring": "views/monitoring.py",
    "performance": "views/performance.py",
}
SHOTS_DIR = Path("/tmp/dashboard-shots")
BROWSER_PAGES = {
    "client": "Client",
    "population": "Client vs population",
    "portfolio": "Portfolio",
    "model": "Model",
    "monitoring": "Monitoring",
}


# --- fixtures and helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A serving file with two nights of scores and one dashboard account, built once (read-only)."""
    settings = Settings(home=tmp_path_factory.mktemp("published"))
    build_standin_serving(settings.serving_path)
    auth.add_user(settings, USER, PASSWORD)
    return settings


@pytest.fixture
def served(published: Settings, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with their own copy of the published serving file and accounts; the app points at them."""
    for name in ("serving_path", "dashboard_users_file"):
        getattr(settings, name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(getattr(published, name), getattr(settings, name))
    _use(settings, monkeypatch)
    return settings


@pytest.fixture
def empty(published: Settings, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with an account but no serving file published yet."""
    settings.dashboard_users_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(published.dashboard_users_file, settings.dashboard_users_file)
    _use(settings, monkeypatch)
    return settings


def _use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the app (which calls Settings.load()) at these settings."""
    for key, value in dashboard_env(settings).items():
        monkeypatch.setenv(key, value)


def dashboard_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make Settings.load() find these settings' files."""
    return {
        "CREDIT_SCORING_HOME": str(settings.home),
        "CREDIT_SCORING_SERVING_PATH": str(settings.serving_path),
        "CREDIT_SCORING_DASHBOARD_USERS_FILE": str(settings.dashboard_users_file),
        "CREDIT_SCORING_REVIEWS_PATH": str(settings.reviews_path),
    }


def sign_in(at: AppTest, password: str) -> None:
    """Fill in and submit the sign-in form."""
    at.text_input[0].input(USER)
    at.text_input[1].input(password)
    at.button[0].click().run()


def open_page(page: str, client: str | None = None, at: AppTest | None = None) -> AppTest:
    """The app (new, or `at`) of a signed-in manager on a page, after searching a client if given."""
    if at is None:
        at = AppTest.from_file(str(APP_PATH), default_timeout=60)
        at.session_state[SIGNED_IN_KEY] = USER  # the sign-in form is tested on its own
        at.run()
    if client is not None:
        at.switch_page(PAGES["client"]).run()
        at.text_input(key="client_search").input(client).run()
    at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every piece of text the page shows, joined."""
    parts = [
        e.value
        for kind in ("markdown", "title", "subheader", "caption", "info", "warning", "error", "success", "metric")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def figures(at: AppTest) -> list[dict]:
    """The plotly figures of the page, as JSON specs."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


# --- sign-in and accounts ------------------------------------------------------------------------------


def test_passwords_are_hashed_and_checked(settings: Settings) -> None:
    auth.add_user(settings, USER, PASSWORD)
    stored = settings.dashboard_users_file.read_text()
    assert PASSWORD not in stored and "scrypt$" in stored
    assert oct(settings.dashboard_users_file.stat().st_mode)[-3:] == "600"
    assert auth.authenticate(settings, USER, PASSWORD).ok
    assert not auth.authenticate(settings, USER, PASSWORD + "x").ok
    assert not auth.authenticate(settings, "nobody", PASSWORD).ok
    with pytest.raises(auth.UserError, match="at least 8"):
        auth.add_user(settings, "other", "short")
    with pytest.raises(auth.UserError, match="User name"):
        auth.add_user(settings, "bad name!", PASSWORD)


def test_cli_adds_a_user(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(settings, monkeypatch)
    result = CliRunner().invoke(cli_app, ["dashboard-user", "add", "alice"], input=f"{PASSWORD}\n")  # piped
    assert result.exit_code == 0, result.output
    assert auth.authenticate(settings, "alice", PASSWORD).ok
    refused = CliRunner().invoke(cli_app, ["dashboard-user", "add", "bob"], input="short\n")
    assert refused.exit_code == 1 and "at least 8" in refused.output


def test_wrong_password_is_refused(served: Settings) -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=60).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGES["portfolio"])  # no page is reachable before signing in
    sign_in(at, "not the password")
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert not at.get("plotly_chart") and at.session_state.get(SIGNED_IN_KEY) is None
    sign_in(at, PASSWORD)
    assert at.session_state[SIGNED_IN_KEY] == USER and not at.error and figures(at)


def test_no_account_yet_says_how_to_create_one(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(settings, monkeypatch)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60).run()
    assert not at.exception and "credit-scoring dashboard-user add" in texts(at)


# --- pages ---------------------------------------------------------------------------------------------


def test_client_without_history_shows_what_it_has(served: Settings) -> None:
    at = open_page("client", str(NO_HISTORY_CLIENT))
    assert at.selectbox[0].value == NO_HISTORY_CLIENT
    explanation = data.client_explanation(served, NO_HISTORY_CLIENT, 1)  # scored on the first night
    history = explanation[explanation["feature"].str.startswith(HISTORY_PREFIXES)]
    assert history["value"].isna().all() and (history["contribution"] == 0).all()
    waterfall = figures(at)[1]["data"][0]
    titles = {code.title for code in catalogue().values()}
    assert set(waterfall["y"][1:-1]) <= titles | {"Everything else"}
    assert "No principal reasons were stored" in texts(at)  # the stand-in publishes none: said, not a traceback


def test_unscored_client_and_unknown_id(served: Settings) -> None:
    at = open_page("client", str(UNSCORED_CLIENT))
    assert at.selectbox[0].value == UNSCORED_CLIENT
    assert "has no score yet" in texts(at) and not figures(at)
    assert at.dataframe  # the profile is still shown
    open_page("client", "999999", at)
    assert "No client has an id starting with '999999'" in texts(at) and not at.selectbox
    open_page("client", "abc", at)
    assert "is not one" in texts(at)


def test_model_and_monitoring_pages(served: Settings) -> None:
    model = open_page("model")
    metrics = {m.label: m.value for m in model.metric}
    assert metrics["Model version"] == "3" and metrics["Refusal threshold"] == "12.0%"
    assert "roc_auc" in set(model.dataframe[0].value["Name"])
    assert "No importance per reason code published" in texts(model) and "No fairness check published" in texts(model)
    monitoring = open_page("monitoring", at=model)
    runs = monitoring.dataframe[0].value
    assert "✖ failed" in set(runs["status"]) and "Of the 3 most recent runs, 1 failed." in texts(monitoring)
    assert "2 of 4 monitored features drifted" in texts(monitoring)
    assert "50% of monitored features drifted" in texts(monitoring)
    assert monitoring.get("download_button"), "the evidently report is offered"


def test_empty_warehouse_pages_explain(empty: Settings) -> None:
    at = None
    for page in PAGES:
        at = open_page(page, at=at)
        assert "No scores have been published yet" in texts(at) and "credit-scoring score" in texts(at), page


def test_pages_follow_a_new_publication(served: Settings) -> None:
    """Pages keep answering while another process replaces the serving file repeatedly; new data shows."""
    at = open_page("portfolio")
    code = (
        f"from tests.dashboard_standin import publish_repeatedly; publish_repeatedly({str(served.serving_path)!r}, 3)"
    )
    publisher = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2])
    views = 0
    while publisher.poll() is None or views < 3:
        at.run()
        views += 1
        assert not at.exception, [e.value for e in at.exception]
        assert {m.label for m in at.metric} >= {"Clients scored", "Approval rate"}
        assert re.search(r"[23] successful runs", texts(at))
    assert publisher.wait() == 0
    build_standin_serving(served.serving_path, nights=4, clients=200)
    at.run()
    assert "4 successful runs" in texts(at)


# --- the same pages on what the real pipeline published --------------------------------------------------


@pytest.fixture
def pipeline_served(
    served_warehouse: Settings, published: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The serving file published by the real pipeline (generate, ingest, dbt, train, score), for the app, with
    the manager's account and a reviews file (in copies of their own: the pipeline's home stays as the session built
    it)."""
    users = tmp_path / "dashboard_users.toml"
    shutil.copy(published.dashboard_users_file, users)
    settings = served_warehouse.replace(dashboard_users_file=users, reviews_path=tmp_path / "reviews.sqlite")
    _use(settings, monkeypatch)
    return settings


FORBIDDEN = re.compile(r"_|perc\b|e\+0|log-odds|\{", re.IGNORECASE)


def test_client_page_explains_a_refusal_of_the_real_pipeline(pipeline_served: Settings) -> None:
    with duckdb.connect(str(pipeline_served.serving_path), read_only=True) as con:
        client = con.execute(
            "SELECT SK_ID_CURR FROM scores.latest WHERE decision = 'refuse' ORDER BY probability DESC LIMIT 1"
        ).fetchone()[0]
    at = open_page("client", str(client))
    row = data.client_decision(pipeline_served, at.selectbox[0].value)
    assert at.selectbox[0].value == client and row is not None and row["decision"] == "refuse"
    gauge, waterfall = figures(at)[:2]
    assert gauge["data"][0]["value"] == pytest.approx(100 * row["probability"])
    bars = waterfall["data"][0]
    assert bars["x"][0] + sum(bars["x"][1:-1]) == pytest.approx(100 * row["probability"])
    titles = {code.title for code in catalogue().values()}
    assert 2 <= len(bars["y"]) <= 11 and set(bars["y"][1:-1]) <= titles | {"Everything else"}
    shown = texts(at)
    assert "Refused" in shown and f"{row['points']:.0f} points" in shown and row["score_band"] in shown
    reasons = data.client_reasons(pipeline_served, client, row["run_id"])
    assert 1 <= len(reasons) <= 4
    for r in reasons.itertuples():
        assert r.sentence in shown and r.manager_sentence in shown
    assert row["decision_changer"] in shown
    assert not FORBIDDEN.search(shown), FORBIDDEN.search(shown)
    assert {b.label for b in at.get("download_button")} == {"Notice (PDF)", "Notice (HTML)"}
    profile = at.dataframe[0].value
    assert {"Gender", "Age", "Yearly income", "Credit asked for"} <= set(profile["Fact"])
    assert not FORBIDDEN.search(" ".join(map(str, profile["Value"])))


def test_population_page_marks_the_client_on_the_figures_of_its_reasons(pipeline_served: Settings) -> None:
    with duckdb.connect(str(pipeline_served.serving_path), read_only=True) as con:
        client = con.execute("SELECT min(SK_ID_CURR) FROM scores.latest WHERE decision = 'refuse'").fetchone()[0]
    at = open_page("population", str(client))
    charts = figures(at)
    assert 2 <= len(charts) <= 5  # the client's strongest charted codes, then the chosen one
    assert {trace["name"] for trace in charts[0]["data"]} == {"Accepted", "Refused"}
    titles = {code.title for code in catalogue().values()}
    assert charts[0]["layout"]["xaxis"]["title"]["text"] in titles
    assert "is higher than" in texts(at) or "has no record" in texts(at)
    assert not re.search(r"[A-Z]{3,}_[A-Z]", texts(at)), "no column names"


def test_portfolio_page_shows_score_bands(pipeline_served: Settings) -> None:
    at = open_page("portfolio")
    summary = data.portfolio_summary(pipeline_served)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clients scored"] == f"{int(summary['clients']):,}"
    bands = data.band_summary(pipeline_served)
    assert bands["clients"].sum() == summary["clients"]
    assert list(bands["score_band"]) == sorted(bands["score_band"])
    table = at.dataframe[0].value
    assert list(table["Band"]) == list(bands["score_band"]) and "each band down doubles the odds" in texts(at)


def test_model_page_shows_the_card_of_the_real_champion(pipeline_served: Settings) -> None:
    with duckdb.connect(str(pipeline_served.serving_path), read_only=True) as con:
        version, threshold = con.execute(
            "SELECT model_version, threshold FROM scores.runs WHERE status = 'succeeded' ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    at = open_page("model")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Model version"] == str(version)
    assert metrics["Refusal threshold"] == f"{100 * threshold:.1f}%"
    assert {"auc", "gini", "ks", "cost_per_client"} <= set(at.dataframe[0].value["Name"])
    assert not [i.value for i in at.info if "No model card" in i.value]
    catalogue_table = at.dataframe[1].value
    assert set(catalogue_table["Code"]) == set(catalogue())
    assert not catalogue_table["The client reads"].str.contains(r"[{}_]").any()
    assert len(figures(at)) == 1  # importance per reason code


def test_model_page_shows_the_fairness_table(
    served_warehouse: Settings, published: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = copy_home(served_warehouse, tmp_path / "home")
    shutil.copy(published.dashboard_users_file, settings.dashboard_users_file)
    check_fairness(settings)
    publish(settings)
    _use(settings, monkeypatch)
    at = open_page("model")
    fairness = at.dataframe[2].value
    assert {"Gender", "Age band", "Family status"} == set(fairness["Attribute"])
    assert {"all latest decisions", "training (out-of-fold)"} == set(fairness["Decisions"])
    assert "four-fifths rule" in texts(at) or "less than 80%" in texts(at)


@pytest.mark.parametrize("page", ["population", "portfolio", "model", "monitoring"])
def test_every_page_renders_the_real_pipeline_output(pipeline_served: Settings, page: str) -> None:
    with duckdb.connect(str(pipeline_served.serving_path), read_only=True) as con:
        client = con.execute("SELECT min(SK_ID_CURR) FROM scores.latest").fetchone()[0]
    at = open_page(page, str(client))
    assert texts(at), f"the {page} page shows nothing"


def test_a_manager_reviews_a_decision_and_the_portfolio_counts_it_after_the_night(
    served_warehouse: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler import steps

    cfg = copy_home(served_warehouse, tmp_path / "home")
    auth.add_user(cfg, USER, PASSWORD)
    _use(cfg, monkeypatch)
    with duckdb.connect(str(cfg.serving_path), read_only=True) as con:
        client = con.execute("SELECT min(SK_ID_CURR) FROM scores.latest WHERE decision = 'refuse'").fetchone()[0]
    at = open_page("client", str(client))
    at.radio(key="review_action").set_value("override")
    at.selectbox(key="review_reason").set_value("CONFIRM_DOCUMENTS")
    at.text_area(key="review_comment").input("The payslips show a second income.")
    record = next(b for b in at.button if b.label == f"Record the review as {USER}")
    record.click().run()
    assert [e.value for e in at.error] == [
        "Not saved: the reason 'Documents checked with the client confirm the decision' cannot justify a review "
        "that overrides"
    ]
    assert at.text_area(key="review_comment").value == "The payslips show a second income.", "nothing typed is lost"
    at.selectbox(key="review_reason").set_value("OVERRIDE_INCOME_EVIDENCE")
    next(b for b in at.button if b.label == f"Record the review as {USER}").click().run()
    assert not at.exception and not at.error
    assert "Review 1 saved: ✔ Accepted" in texts(at)
    assert f"**{USER}** overrode the model: the decision is now **✔ Accepted**" in texts(at)
    assert at.text_area(key="review_comment").value == "", "a fresh form for the next review"

    steps.import_reviews(cfg)
    steps.publish(cfg)
    with duckdb.connect(str(cfg.serving_path), read_only=True) as con:
        final = con.execute(
            "SELECT final_decision, overridden, reviewed_by, review_reason FROM scores.latest WHERE SK_ID_CURR = ?",
            [client],
        ).fetchone()
    assert final == ("accept", True, USER, "OVERRIDE_INCOME_EVIDENCE")
    with connect_serving(cfg) as con:
        assert load_notice(con, cfg, client) is None, "no refusal notice once a person accepted"
        assert client not in night_refusals(con, None)
    portfolio = open_page("portfolio")
    assert "1 current decision reviewed, 1 overridden (100.0% of those reviewed" in texts(portfolio)
