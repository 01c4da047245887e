"""The dashboard end to end: `credit-scoring dashboard` on the real pipeline's publication, in a real browser
(Playwright driving the system Chromium: no browser download)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from dashboard import auth
from tests.conftest import copy_home
from warehouse.settings import Settings

USER, PASSWORD = "manager", "correct horse battery"
SHOTS_DIR = Path("/tmp/dashboard-shots")
"""Where the screenshots of the last run are kept, to look at what a relationship manager sees."""
BROWSER_PAGES = {
    "client": "Client",
    "population": "Client vs population",
    "portfolio": "Portfolio",
    "model": "Model",
    "monitoring": "Monitoring",
}
FORBIDDEN = re.compile(r"_|perc\b|e\+0|log-odds", re.IGNORECASE)
"""What the Client page a relationship manager reads may not contain."""


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(condition: object, timeout: float, what: str) -> None:
    """Poll a callable until it returns something true; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def published(served_warehouse: Settings, tmp_path: Path) -> Settings:
    """A copy of the real pipeline's data folder, with a dashboard account."""
    settings = copy_home(served_warehouse, tmp_path / "home")
    auth.add_user(settings, USER, PASSWORD)
    return settings


@contextmanager
def serving_dashboard(settings: Settings) -> Iterator[str]:
    """`credit-scoring dashboard` on these settings' files, on a free localhost port; yields its URL."""
    port = _free_port()
    env = {
        **os.environ,
        "CREDIT_SCORING_HOME": str(settings.home),
        "CREDIT_SCORING_SERVING_PATH": str(settings.serving_path),
        "CREDIT_SCORING_DASHBOARD_USERS_FILE": str(settings.dashboard_users_file),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.app", "dashboard", "--port", str(port), "--address", "127.0.0.1"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
        except OSError:
            return False

    try:
        _wait_until(healthy, 90, "the dashboard server")
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.fixture
def dashboard_server(published: Settings) -> Iterator[str]:
    """`credit-scoring dashboard` serving the real publication on a free localhost port; yields its URL."""
    with serving_dashboard(published) as url:
        yield url


def settle(page: object) -> None:
    """Wait until Streamlit has run the script and drawn every chart."""
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
          const app = document.querySelector('[data-testid="stApp"]');
          if (!app || ['running', 'initial'].includes(app.dataset.testScriptState)) return false;
          if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')) return false;
          const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
          return charts.every(c => c.querySelector('.main-svg'));
        }""",
        timeout=90_000,
    )


def test_real_browser_shows_a_refusal_a_manager_can_explain(
    dashboard_server: str, published: Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not found: `make browser` installs it (apt-get install chromium)")
    with duckdb.connect(str(published.serving_path), read_only=True) as con:
        client, points, band, changer = con.execute(
            "SELECT SK_ID_CURR, points, score_band, decision_changer FROM scores.latest WHERE decision = 'refuse' "
            "ORDER BY largest_accepted_credit IS NULL, SK_ID_CURR LIMIT 1"
        ).fetchone()
        reasons = [
            r[0]
            for r in con.execute(
                "SELECT sentence FROM scores.reasons WHERE SK_ID_CURR = ? ORDER BY rank", [client]
            ).fetchall()
        ]
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 2600}, accept_downloads=True)
        page.goto(dashboard_server)
        settle(page)
        page.screenshot(path=str(shots / "sign-in.png"))
        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        settle(page)
        page.get_by_label("Search by client id").fill(str(client))
        page.keyboard.press("Enter")
        settle(page)
        for name, title in BROWSER_PAGES.items():
            if name != "client":
                page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
                settle(page)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            assert not page.locator('[data-testid="stException"]').count(), name
            shown = page.locator('[data-testid="stMain"]').inner_text()
            assert "Traceback" not in shown, name
            if name == "client":
                assert str(client) in shown and "Refused" in shown
                assert f"{points:.0f} points" in shown and band in shown
                assert reasons and all(reason in shown for reason in reasons)
                assert changer in shown
                assert not FORBIDDEN.search(shown), FORBIDDEN.search(shown)
                assert page.locator(".js-plotly-plot").count() == 2
                with page.expect_download() as download:
                    page.get_by_role("button", name="Notice (PDF)").click()
                pdf = tmp_path / "notice.pdf"
                download.value.save_as(pdf)
                if shutil.which("pdftotext"):
                    text = " ".join(
                        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split()
                    )
                    assert all(reason in text for reason in reasons) and "Article 22" in text
                page.screenshot(path=str(shots / "client.png"), full_page=True)
        browser.close()
    SHOTS_DIR.mkdir(exist_ok=True)
    for shot in shots.iterdir():
        assert shot.stat().st_size > 20_000, f"{shot.name} looks blank"
        shutil.copy(shot, SHOTS_DIR / shot.name)
