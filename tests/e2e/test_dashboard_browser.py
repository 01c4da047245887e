"""The dashboard end to end: `credit-scoring dashboard` on the real pipeline's publication, in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IDLE_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || ['running', 'initial'].includes(app.dataset.testScriptState)) return false;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"], '
                             + '[data-testid="stSpinner"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return charts.every(c => c.querySelector('.main-svg'));
})()"""


class Browser:
    """Headless Chromium driven over the DevTools protocol: type, click, wait for Streamlit, screenshot."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-allow-origins=*",
        "--remote-debugging-port=0",
    )

    def __init__(self, chromium: str, profile: Path, width: int = 1400, height: int = 2200) -> None:
        self.command = [
            chromium,
            *self.FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.profile, self.size, self.calls = profile, (width, height), 0
        self.stack = ExitStack()

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        process = self.stack.enter_context(
            subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        self.stack.callback(process.terminate)  # runs before Popen's exit, which waits for the process
        port_file = self.profile / "DevToolsActivePort"
        _wait_until(lambda: port_file.is_file() and port_file.read_text().strip(), 60, "Chromium's DevTools")
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.socket = self.stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        width, height = self.size
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def call(self, method: str, **params: object) -> dict:
        """Send one DevTools command and return its result (events in between are ignored)."""
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> object:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def settle(self, timeout: float = 60) -> None:
        """Wait until Streamlit has finished running the script and every chart is drawn (twice in a row)."""
        time.sleep(0.5)  # let a rerun triggered by the last action start
        _wait_until(
            lambda: self.evaluate(IDLE_JS) and (time.sleep(0.5) or self.evaluate(IDLE_JS)),
            timeout,
            "the Streamlit page to finish rendering",
        )

    def type_into(self, label: str, text: str) -> None:
        """Type into the text input with that label and press Enter."""
        assert self.evaluate(
            f"(() => {{ const e = document.querySelector('input[aria-label=\"{label}\"]');"
            " if (!e) return false; e.focus(); e.select(); return true; })()"
        ), label
        self.call("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)

    def click(self, selector: str, text: str) -> None:
        """Click the element matching a CSS selector whose visible text is `text`."""
        found = self.evaluate(
            f"(() => {{ const e = [...document.querySelectorAll({json.dumps(selector)})]"
            ".find(x => x.innerText.trim().split('\\n').pop().trim() === "
            f"{json.dumps(text)});"
            " if (!e) return false; e.click(); return true; })()"
        )
        assert found, f"nothing to click: {selector} {text!r}"

    def text(self) -> str:
        """The visible text of the page."""
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the page."""
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


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


def test_real_browser_signs_in_and_shows_every_page(dashboard_server: str, published: Settings, tmp_path: Path) -> None:
    with duckdb.connect(str(published.serving_path), read_only=True) as con:
        (client,) = con.execute(
            "SELECT SK_ID_CURR FROM scores.latest ORDER BY decision = 'refuse' DESC, SK_ID_CURR LIMIT 1"
        ).fetchone() or (None,)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not found: install it with `apt-get update && apt-get install -y chromium`")
    shots = tmp_path / "shots"
    shots.mkdir()
    with Browser(chromium, tmp_path / "profile") as browser:
        browser.call("Page.navigate", url=dashboard_server)
        browser.settle()
        browser.screenshot(shots / "sign-in.png")
        browser.type_into("User name", USER)
        browser.type_into("Password", PASSWORD)
        browser.click("button", "Sign in")
        browser.settle()
        browser.type_into("Search by client id", str(client))
        browser.settle()
        for page, title in BROWSER_PAGES.items():
            browser.click('[data-testid="stSidebarNav"] a', title)
            browser.settle()
            browser.screenshot(shots / f"{page}.png")
            shown = browser.text()
            assert "Traceback" not in shown and not browser.evaluate(
                "document.querySelector('[data-testid=\"stException\"]') !== null"
            ), page
            if page == "client":
                assert str(client) in shown and ("Accepted" in shown or "Refused" in shown)
                assert browser.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 2
    SHOTS_DIR.mkdir(exist_ok=True)
    for shot in shots.iterdir():
        assert shot.stat().st_size > 20_000, f"{shot.name} looks blank"
        shutil.copy(shot, SHOTS_DIR / shot.name)
