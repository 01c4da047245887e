"""Sign-in cannot be skipped: a page's URL opened first thing after the dashboard starts shows the sign-in form.

(Streamlit serves the scripts of a folder named pages/ by URL, without the app's entry script, to the first
visit after a start; the dashboard's pages live elsewhere for that reason.)"""

from __future__ import annotations

import shutil

import pytest

from dashboard import auth
from tests.dashboard_standin import build_standin_serving
from tests.e2e.test_dashboard_browser import serving_dashboard, settle
from warehouse.settings import Settings

USER, PASSWORD = "manager", "correct horse battery"


def test_a_page_url_opened_first_after_a_start_asks_to_sign_in(settings: Settings) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not found: `make browser` installs it (apt-get install chromium)")
    build_standin_serving(settings.serving_path, nights=2, clients=200)
    auth.add_user(settings, USER, PASSWORD)
    with serving_dashboard(settings) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{url}/portfolio")
        settle(page)
        shown = page.locator("body").inner_text()
        browser.close()
    assert "Credit decisions: sign in" in shown
    assert "Approval rate" not in shown and "Clients scored" not in shown, "no data before signing in"
