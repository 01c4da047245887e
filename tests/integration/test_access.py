"""Nobody let in: private data folders, dashboard sign-in (cost, attempt limit, idle and changed accounts),
passwords never on the command line, no tracebacks in the browser, only LightGBM text models loaded, and a
dashboard cache that never serves an old publication under a new one's key."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import mlflow
import pytest
import yaml
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from cli.app import app as cli_app
from cli.dashboard import streamlit_options
from dashboard import APP_PATH, auth, data
from dashboard.ui import NOTICE_KEY
from scoring.registry import UnsafeModelError, champion_version, connect, read_booster
from tests.dashboard_standin import build_standin_serving
from warehouse import secrets
from warehouse.settings import Settings

USER, PASSWORD = "manager", "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dashboard_home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A published stand-in serving file and one account; the app (Settings.load()) points at them."""
    build_standin_serving(settings.serving_path, nights=2, clients=200)
    auth.add_user(settings, USER, PASSWORD)
    monkeypatch.setenv("CREDIT_SCORING_HOME", str(settings.home))
    return settings


def signed_in_app(password: str = PASSWORD) -> AppTest:
    """The app after a manager filled in and sent the sign-in form."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=60).run()
    at.text_input[0].input(USER)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def on_sign_in_page(at: AppTest) -> bool:
    """Whether the app shows the sign-in page."""
    return [t.value for t in at.title] == ["Credit decisions: sign in"]


# --- accounts and sign-in ------------------------------------------------------------------------------


def test_hashes_cost_owasp_scrypt_and_old_ones_are_upgraded_at_sign_in(settings: Settings) -> None:
    auth.add_user(settings, USER, PASSWORD)
    stored = auth.load_users(settings.dashboard_users_file)[USER]
    assert stored.split("$")[1:4] == [str(2**17), "8", "1"]
    legacy = stored.replace(f"${2**17}$", f"${2**14}$", 1)  # the salt and key of a 2**14 hash, recomputed below
    scheme, n, r, p, salt, _ = legacy.split("$")
    old_key = secrets.scrypt(PASSWORD, base64.b64decode(salt), 2**14, 8, 1, 32)
    legacy = "$".join([scheme, n, r, p, salt, base64.b64encode(old_key).decode()])
    auth._write_users(settings.dashboard_users_file, {USER: legacy})
    assert secrets.outdated(legacy) and secrets.check_secret(PASSWORD, legacy)
    assert auth.authenticate(settings, USER, PASSWORD).ok, "an existing hash still verifies"
    upgraded = auth.load_users(settings.dashboard_users_file)[USER]
    assert upgraded.split("$")[1] == str(2**17) and secrets.check_secret(PASSWORD, upgraded)
    assert not secrets.check_secret(PASSWORD, upgraded.replace(f"${2**17}$", f"${2**30}$", 1)), "bounded cost"


def test_failed_sign_ins_are_logged_and_then_must_wait(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    name = "target-of-guessing"
    auth.add_user(settings, name, PASSWORD)
    caplog.set_level(logging.INFO, logger="dashboard.auth")
    tries = [auth.authenticate(settings, name, f"guess {i}", client="10.0.0.7") for i in range(5)]
    assert [t.wait_s for t in tries[:4]] == [0, 0, 0, 0] and tries[4].wait_s == auth.FIRST_WAIT_S
    started = time.perf_counter()
    refused = auth.authenticate(settings, name, PASSWORD)
    assert not refused.ok and 0 < refused.wait_s <= auth.FIRST_WAIT_S, "even the right password must wait"
    assert time.perf_counter() - started < 0.2, "nothing is hashed while the account must wait"
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 5 and all("10.0.0.7" in m and name in m for m in failed)
    assert any("refused" in r.getMessage() for r in caplog.records)
    auth.THROTTLE.forget(name)
    assert auth.authenticate(settings, name, PASSWORD).ok


def test_the_sign_in_page_says_when_to_try_again(dashboard_home: Settings) -> None:
    try:
        for _ in range(dashboard_home.dashboard_signin_attempts):
            at = signed_in_app("not the password")
        assert [e.value for e in at.error] == [
            f"Too many failed attempts: wait {auth.FIRST_WAIT_S:.0f} s before trying again."
        ]
        assert on_sign_in_page(signed_in_app())
    finally:
        auth.THROTTLE.forget(USER)


def test_an_idle_session_is_signed_out(dashboard_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # long enough that one page run on a busy machine stays well inside it
    monkeypatch.setenv("CREDIT_SCORING_DASHBOARD_IDLE_TIMEOUT_S", "10")
    at = signed_in_app()
    assert not on_sign_in_page(at) and not at.exception
    at.run()
    assert not on_sign_in_page(at), "activity keeps the session"
    time.sleep(10.5)
    at.run()
    assert on_sign_in_page(at)
    assert "signed out after 10 seconds without activity" in at.info[0].value


@pytest.mark.parametrize("change", ["removed", "new password"])
def test_a_removed_or_changed_account_ends_its_sessions_at_the_next_page_run(
    dashboard_home: Settings, change: str
) -> None:
    at = signed_in_app()
    assert not on_sign_in_page(at)
    if change == "removed":
        result = CliRunner().invoke(cli_app, ["dashboard-user", "remove", USER])
    else:
        result = CliRunner().invoke(cli_app, ["dashboard-user", "add", USER], input="another long password\n")
    assert result.exit_code == 0, result.output
    at.run()
    assert on_sign_in_page(at) and "account was removed or its password changed" in at.session_state[NOTICE_KEY]


def test_passwords_never_go_on_the_command_line(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_SCORING_HOME", str(settings.home))
    runner = CliRunner()
    argv = runner.invoke(cli_app, ["dashboard-user", "add", "alice", "--password", PASSWORD])
    assert argv.exit_code == 2 and "No such option" in argv.output
    assert not settings.dashboard_users_file.exists()
    piped = subprocess.run(
        [Path(sys.executable).parent / "credit-scoring", "dashboard-user", "add", "alice"],
        input=f"{PASSWORD}\n",
        env={**os.environ, "CREDIT_SCORING_HOME": str(settings.home)},
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert auth.authenticate(settings, "alice", PASSWORD).ok


def test_the_browser_never_gets_error_details() -> None:
    options = streamlit_options(8501, "localhost")
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show", *options], capture_output=True, text=True, cwd=ROOT
    )
    assert shown.returncode == 0, shown.stderr
    assert 'showErrorDetails = "none"' in shown.stdout


# --- private data ---------------------------------------------------------------------------------------


def test_every_data_folder_and_file_a_command_creates_is_owner_only(tmp_path: Path) -> None:
    """Even under a permissive umask (022): the warehouse, its audit, the inbox, the users file, the locks..."""
    home = tmp_path / "home"
    env = {**os.environ, "CREDIT_SCORING_HOME": str(home)}
    cli = str(Path(sys.executable).parent / "credit-scoring")
    for args, stdin in (
        (["generate", "--clients", "300", "--seed", "3"], None),
        (["ingest", str(home / "warehouse" / "data")], None),
        (["generate", "--batch-date", "2026-03-01", "--applications", "20"], None),
        (["run-nightly", "--date", "2026-02-28"], None),
        (["dashboard-user", "add", "alice"], f"{PASSWORD}\n"),
    ):
        done = subprocess.run(
            [cli, *args], env=env, input=stdin, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022)
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    made = list((home / "warehouse").rglob("*"))
    assert len(made) > 10
    exposed = [str(p) for p in [home / "warehouse", *made] if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert exposed == []


# --- models ---------------------------------------------------------------------------------------------


def test_only_lightgbm_text_models_are_loaded(champion_warehouse: Settings, tmp_path: Path) -> None:
    version = champion_version(connect(champion_warehouse), champion_warehouse)
    assert version is not None
    booster, metadata = read_booster(str(version.source))
    assert booster.num_trees() > 0 and metadata["features"] == booster.feature_name()
    original = Path(mlflow.artifacts.download_artifacts(artifact_uri=str(version.source)))

    def tampered(change: dict) -> str:
        folder = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
        shutil.copytree(original, folder)
        description = yaml.safe_load((folder / "MLmodel").read_text())
        description["flavors"]["lightgbm"].update(change)
        (folder / "MLmodel").write_text(yaml.safe_dump(description))
        return str(folder)

    (tmp_path / "evil.lgb").write_bytes(b"\x80\x04pickled")
    for change in (
        {"model_class": "lightgbm.sklearn.LGBMClassifier", "data": "model.pkl"},
        {"data": "../evil.lgb"},
        {"data": "model.pkl"},
    ):
        with pytest.raises(UnsafeModelError):
            read_booster(tampered(change))


# --- the dashboard's cache ------------------------------------------------------------------------------


def _publish(path: Path, value: int) -> None:
    """Replace the serving file atomically with one whose table holds `value`."""
    staging = path.with_name(f"{path.name}.{value}.tmp")
    with duckdb.connect(str(staging)) as con:
        con.execute(f"CREATE TABLE t AS SELECT {value} AS v")
    os.replace(staging, path)


def test_the_cache_keeps_each_result_under_the_publication_its_connection_read(settings: Settings) -> None:
    """Another reader in the process still holds the old file open while a publication swaps it in: DuckDB would
    hand the old database to a plain connect; the dashboard reads the new one, and caches it under its key."""
    path = settings.serving_path
    path.parent.mkdir(parents=True)
    _publish(path, 1)
    assert data.query(settings, "SELECT v FROM t")["v"].tolist() == [1]
    with duckdb.connect(str(path), read_only=True) as held:  # a long query of another session, say
        before = data.serving(settings)
        _publish(path, 2)
        assert held.execute("SELECT v FROM t").fetchall() == [(1,)]
        assert data.query(settings, "SELECT v FROM t")["v"].tolist() == [2]
        with pytest.raises(data._Swapped):  # a query begun on the old version is not answered (nor cached)
            data._query(before, "SELECT v FROM t")
    assert data.query(settings, "SELECT v FROM t")["v"].tolist() == [2]
