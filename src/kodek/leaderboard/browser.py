"""The leaderboard in a real browser: a Streamlit server on 127.0.0.1 and headless Chromium driven through the
DevTools protocol (``websockets``, which Streamlit already depends on).

Used by ``kodek bench leaderboard`` (page-load and widget-change times) and by the browser test. A host-resolver
rule keeps Chromium from contacting anything but 127.0.0.1.

When a page is ready (it shows what a reader came for) is a JavaScript expression that the page itself tests in the
next frame after each change of its DOM or image loaded, so a load or a tab switch is timed in the page, to the
frame, not by polling it from here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kodek.errors import KodekError
from kodek.leaderboard import server_flags

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
STREAMLIT_FLAGS = ("--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1")
BODY_TEXT = "document.body ? document.body.innerText : ''"
# The tables are static HTML (``kodek.leaderboard.render``): a reader's text is in their cells and headers.
CELLS = "Array.from(document.querySelectorAll('.kodek-table td')).map(e => e.textContent)"
HEADERS = "Array.from(document.querySelectorAll('.kodek-table th')).map(e => e.textContent)"
# A watcher of the page: the first frame in which ``READY`` holds, in ms after ``SINCE`` (on the page's clock). It is
# tested at the next frame after any change of the DOM (or an image loaded), once per frame: when the page is
# drawn anyway, so testing adds no layout of its own.
WATCH = """(() => {
  if (window.__kodekWatch) window.__kodekWatch.disconnect();
  const state = {since: SINCE, at: null};
  const ready = () => { try { return Boolean(READY); } catch (error) { return false; } };
  let planned = false;
  const check = () => { planned = false; if (state.at === null && ready()) state.at = performance.now(); };
  const plan = () => { if (!planned && state.at === null) { planned = true; requestAnimationFrame(check); } };
  const watch = new MutationObserver(plan);
  watch.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  document.addEventListener("load", plan, true);  // an image loads without a change of the DOM
  window.__kodekWatch = watch;
  window.__kodekState = state;
  check();
  return state.at !== null;
})()"""
WAITED = "(s => s && s.at !== null ? [s.at - s.since] : null)(window.__kodekState)"


class BrowserError(KodekError):
    """The browser or the server did not do what was asked in time."""


def stop(process: subprocess.Popen) -> None:
    """End a server or browser we started: politely, then by force."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise BrowserError(what)


@contextlib.contextmanager
def streamlit_server(app: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app`` on a free local port, with the leaderboard's server settings (every page the benchmark
    compares is served alike); yields its URL once it answers its health check."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), *STREAMLIT_FLAGS]
    command += server_flags()
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise BrowserError(f"the Streamlit server for {app.name} exited with code {process.returncode}")
        try:
            return urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 90, "the Streamlit server did not start")
        yield url
    finally:
        stop(process)


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
            message = json.loads(self.socket.recv(timeout=60))
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == self.next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def text(self) -> str:
        return self.evaluate(BODY_TEXT) or ""

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def holds(self, ready: str) -> bool:
        return bool(self.evaluate(ready))

    def open(self, url: str, ready: str, timeout: float = 60) -> float:
        """Load ``url`` in a fresh document and wait until the JavaScript expression ``ready`` holds; returns the
        seconds from the start of the navigation to the first frame in which it held, on the page's clock."""
        self.call("Page.navigate", url="about:blank")
        source = WATCH.replace("SINCE", "0").replace("READY", ready)  # 0: the navigation's start
        script = self.call("Page.addScriptToEvaluateOnNewDocument", source=source)["identifier"]
        try:
            self.call("Page.navigate", url=url)
            return self.waited(timeout, f"{url} never became ready")
        finally:
            self.call("Page.removeScriptToEvaluateOnNewDocument", identifier=script)

    def watch(self, ready: str) -> None:
        """Start timing, in this document, until the JavaScript expression ``ready`` holds (it must not yet)."""
        if self.evaluate(WATCH.replace("SINCE", "performance.now()").replace("READY", ready)):
            raise BrowserError(f"the page is ready before anything happened: {ready}")

    def waited(self, timeout: float, what: str) -> float:
        """Seconds from the start of the watch to the first frame in which its expression held (waits up to
        ``timeout``)."""
        return wait_for(lambda: self.evaluate(WAITED), timeout, what)[0] / 1000

    def screenshot(self, path: Path) -> Path:
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def click_tab(self, label: str) -> None:
        """Click a tab as a reader would (a real mouse event: the tabs ignore a script's ``click()``)."""
        self.click('[role="tab"]', label)

    def click(self, selector: str, label: str) -> None:
        """Click the element matching ``selector`` whose text (its first line: a popover's button also shows an
        icon's name) is ``label``, with the mouse."""
        box = self.evaluate(
            f"(() => {{ const t = Array.from(document.querySelectorAll({json.dumps(selector)}))"
            f".find(b => b.innerText.trim().split('\\n')[0] === {json.dumps(label)}); if (!t) return null;"
            " t.scrollIntoView({block: 'nearest', inline: 'nearest'}); const r = t.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if not box:
            raise BrowserError(f"nothing labelled {label!r} to click")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


@contextlib.contextmanager
def chromium(executable: str, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A headless Chromium that may reach 127.0.0.1 only; yields its page."""
    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory(prefix="kodek-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            active = Path(profile) / "DevToolsActivePort"
            port = wait_for(
                lambda: active.is_file() and active.read_text().split("\n")[0], 30, "Chromium did not start"
            )
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5).read())
            target = next(t for t in targets if t["type"] == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None) as sock:
                page = Page(sock)
                page.call("Page.enable")
                page.resize(width, height)
                yield page
        finally:
            stop(process)


# -- what "the view has rendered" means, per view (JavaScript expressions) ---------------------------------------

# No script run in progress (Streamlit shows a status widget while one is) and no widget still a placeholder
# (widgets load their code lazily and show a skeleton until then).
IDLE = (
    '!document.querySelector(\'[data-testid="stStatusWidget"], [data-testid="stSkeleton"],'
    ' [data-testid="stSkeletonElement"]\')'
)
TABLE_SHOWN = "!!document.querySelector('.kodek-table td')"
PLOT_SHOWN = "Array.from(document.querySelectorAll('[data-testid=\"stImage\"] img')).some(i => i.complete)"
# What a view says when it has nothing to show (e.g. no SpeechLLM results yet): rendered as well.
EMPTY_VIEW = ("No SpeechLLM results", "No reconstruction results", "No results", "No listening examples")


def shows(*texts: str) -> str:
    """The page shows one of ``texts`` (as a reader sees it: hidden text and scripts do not count)."""
    return f"(text => {json.dumps(texts)}.some(t => text.includes(t)))(document.body.innerText)"


EMPTY = shows(*EMPTY_VIEW)


def rendered(view: str) -> str:
    """When ``view`` shows what a reader came for, and the page is idle."""
    if view in ("Reconstruction", "SpeechLLM", "Per subset", "Methodology"):
        marker = {"Methodology": "Reproduce a row"}.get(view, "Download CSV")
        return f"{IDLE} && (({TABLE_SHOWN} && {shows(marker)}) || {EMPTY})"
    if view == "Plots":
        return f"{IDLE} && ({PLOT_SHOWN} || {EMPTY})"
    if view == "Listen":
        return f"{IDLE} && {shows('original', 'No listening examples')}"
    if view == "Submit":
        return f"{IDLE} && {shows('Check and submit')}"
    raise ValueError(f"unknown view {view!r}")
