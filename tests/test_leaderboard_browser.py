"""The leaderboard page in a real browser: headless Chromium on 127.0.0.1 (skipped where none is installed).

The browser is driven through the DevTools protocol (``websockets``, which Streamlit
already depends on); a host-resolver rule keeps it from contacting anything but
127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard_fixtures import IMG, SCRIPT, write_hostile_results

from hubserver import free_port

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "leaderboard" / "app.py"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
PAYLOAD = IMG  # the LLM id of a SpeechLLM results file
TITLE = "kodek: speech tokenizers on Polish speech"
CELLS = "Array.from(document.querySelectorAll('[data-testid^=\"glide-cell\"]')).map(e => e.textContent)"


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


@contextlib.contextmanager
def streamlit_server(results: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "KODEK_RESULTS": str(results), "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        _wait(healthy, 60, "the Streamlit server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Page:
    """The one page of a headless Chromium, through the DevTools protocol."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@contextlib.contextmanager
def chromium_page(executable: str, profile: Path) -> Iterator[Page]:
    from websockets.sync.client import connect

    command = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--window-size=3800,1200",
        "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        active = profile / "DevToolsActivePort"
        port = _wait(lambda: active.is_file() and active.read_text().split("\n")[0], 30, "Chromium did not start")
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5).read())
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield Page(socket)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def hostile_results(tmp_path) -> Path:
    folder = tmp_path / "results"
    write_hostile_results(folder)
    return folder


def render(page: Page, url: str, ready: str, timeout: float = 30) -> str:
    """Load ``url`` and wait until the page's text holds ``ready``; returns that text."""
    page.call("Page.enable")
    page.call("Page.navigate", url=url)
    return _wait(
        lambda: (text := page.evaluate("document.body ? document.body.innerText : ''")) and ready in text and text,
        timeout,
        f"{url} never showed {ready!r}",
    )


@pytest.mark.skipif(browser() is None, reason="no Chromium installed (scripts/system-deps.sh installs it)")
def test_the_page_renders_in_headless_chromium(tmp_path, hostile_results):
    profile = tmp_path / "profile"
    with streamlit_server(hostile_results) as url, chromium_page(browser(), profile) as page:
        # Any script that a hostile string managed to run would call alert: record it.
        page.call("Page.addScriptToEvaluateOnNewDocument", source="window.alert = () => { window.__xss = true; };")
        page.call("Network.enable")
        text = render(page, url, "results files rejected")  # the last element of the page
        assert TITLE in text and "Reconstruction" in text and "synthetic data" in text
        # The table draws on a canvas; its accessible cells carry the text, a hostile codec family included.
        cells = _wait(lambda: page.evaluate(CELLS), 30, "the reconstruction table never rendered")
        assert "synthetic-acoustic-000" in cells and SCRIPT in cells

        text = render(page, f"{url}/?view=SpeechLLM", "LLM:")
        assert PAYLOAD in text  # shown as text ...
        assert not page.evaluate("window.__xss === true")  # ... never run
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        shot = page.call("Page.captureScreenshot", format="png")
        assert len(base64.b64decode(shot["data"])) > 10_000  # a real render, not a blank page
        requested = {e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"}
        assert requested and all(u.startswith((url, "data:", "blob:", "ws://127.0.0.1")) for u in requested), requested
