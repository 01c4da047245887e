"""Sign-in cannot be skipped: a page's URL opened first thing after the dashboard starts shows the sign-in form.

(Streamlit serves the scripts of a folder named pages/ by URL, without the app's entry script, to the first
visit after a start; the dashboard's pages live elsewhere for that reason.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dashboard import auth
from tests.dashboard_standin import build_standin_serving
from tests.e2e.test_dashboard_browser import Browser, serving_dashboard
from warehouse.settings import Settings

USER, PASSWORD = "manager", "correct horse battery"


def test_a_page_url_opened_first_after_a_start_asks_to_sign_in(settings: Settings, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not found: install it with `apt-get update && apt-get install -y chromium`")
    build_standin_serving(settings.serving_path, nights=2, clients=200)
    auth.add_user(settings, USER, PASSWORD)
    with serving_dashboard(settings) as url, Browser(chromium, tmp_path / "profile") as browser:
        browser.call("Page.navigate", url=f"{url}/portfolio")
        browser.settle()
        shown = browser.text()
    assert "Credit decisions: sign in" in shown
    assert "Approval rate" not in shown and "Clients scored" not in shown, "no data before signing in"
