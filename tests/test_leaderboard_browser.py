"""The leaderboard page in a real browser, as a reader sees it: headless Chromium on 127.0.0.1 (skipped where none
is installed; ``scripts/system-deps.sh`` installs it). One server and one browser visit every view: the study's
column order, a reason in an empty cell, the Download CSV button, the labelled plot, the page at 800 px, and
hostile strings shown as text, never run.
"""

from __future__ import annotations

import urllib.parse

import pytest

from kodek.leaderboard import app_path, tables
from kodek.leaderboard.browser import (
    CELLS,
    HEADERS,
    BrowserError,
    chromium,
    find_browser,
    rendered,
    shows,
    streamlit_server,
    wait_for,
)
from leaderboard_fixtures import IMG, SCRIPT, write_hostile_results

TITLE = "kodek: speech tokenizers on Polish speech"
BOLD_CELLS = "Array.from(document.querySelectorAll('.kodek-table td')).filter(e =>"
BOLD_CELLS += " Number(getComputedStyle(e).fontWeight) >= 700).map(e => e.textContent)"
DOWNLOADS = "Array.from(document.querySelectorAll('[data-testid=\"stDownloadButton\"] button')).map(e => e.innerText)"
# The plots are SVG images (data URLs): the text drawn in them.
CHART_TEXT = (
    "Array.from(document.querySelectorAll('[data-testid=\"stImage\"] img')).flatMap(i => Array.from("
    "new DOMParser().parseFromString(new TextDecoder().decode(Uint8Array.from(atob(i.src.split(',')[1]),"
    " c => c.charCodeAt(0))), 'image/svg+xml').querySelectorAll('text')).map(t => t.textContent))"
)
SIDEBAR_WIDTH = "(() => { const s = document.querySelector('[data-testid=\"stSidebar\"]');"
SIDEBAR_WIDTH += " return s ? s.getBoundingClientRect().width : 0; })()"
STUDY = ["#", "Codec", "Category", "PESQ ↑", "Spk-Sim ↑", "WER ↓ GT / REC", "CER ↓ GT / REC", "STOI ↑"]

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no Chromium installed (scripts/system-deps.sh)")


@pytest.fixture
def hostile_results(tmp_path):
    folder = tmp_path / "results"
    return folder, write_hostile_results(folder)


def test_every_view_reads_as_the_study_in_headless_chromium(tmp_path, hostile_results):
    folder, written = hostile_results
    with streamlit_server(app_path(), {"KODEK_RESULTS": str(folder)}) as url, chromium(find_browser()) as page:
        # Any script that a hostile string managed to run would call alert: record it.
        page.call("Page.addScriptToEvaluateOnNewDocument", source="window.alert = () => { window.__xss = true; };")
        page.call("Network.enable")

        page.open(f"{url}/?view=Reconstruction", rendered("Reconstruction"), timeout=120)
        text = page.text()
        assert TITLE in text and "synthetic data" in text and "results files rejected" in text
        headers = page.evaluate(HEADERS)
        assert headers[: len(STUDY) + 2] == [*STUDY, "Params (M)", "Bitrate (kbps)"]
        cells = page.evaluate(CELLS)
        assert "not applicable" in cells and "1200 of 1200 failed" in cells  # empty cells say why
        assert not {"None", "nan", ""} & set(cells)
        assert any(c.endswith(tables.BEST) for c in cells)  # the best value per column is marked
        assert page.evaluate(BOLD_CELLS) == [c for c in cells if c.endswith(tables.BEST)]  # and in bold
        assert SCRIPT in cells  # a hostile codec family, as the text of its cell
        assert page.evaluate(DOWNLOADS)[0] == "Download CSV"
        page.screenshot(tmp_path / "reconstruction-1400.png")

        # The filters sit in a popover: drawn when a reader opens it.
        assert "Bitrate from (kbps)" not in page.text()
        page.click("button", "Data and filters")
        wait_for(lambda: "Bitrate from (kbps)" in page.text(), 30, "the filters never opened")

        page.open(f"{url}/?view=SpeechLLM", rendered("SpeechLLM"))
        assert page.evaluate(HEADERS)[:4] == ["#", "Codec", "Category", tables.PPL_HEADLINE]
        assert IMG in page.text() and "Download CSV" in page.evaluate(DOWNLOADS)

        page.open(f"{url}/?view=Plots", rendered("Plots"))
        labels = page.evaluate(CHART_TEXT)
        plotted = written["good"][0]["codec"]["id"]  # has a PESQ value
        assert plotted in labels and "bitrate (kbps, log scale)" in labels  # points carry their codec's name

        assert not page.evaluate("window.__xss === true")
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        requested = {e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"}
        assert requested and all(u.startswith((url, "data:", "blob:", "ws://127.0.0.1")) for u in requested)

        # 800 px: no sidebar takes the width and every tab is reachable (the last one opens its form).
        page.resize(800, 1200)
        page.open(f"{url}/?view=Reconstruction", rendered("Reconstruction"))
        assert page.evaluate(SIDEBAR_WIDTH) < 100
        page.click_tab("Submit")
        wait_for(lambda: page.holds(rendered("Submit")), 60, "the Submit tab never opened at 800 px")
        page.screenshot(tmp_path / "submit-800.png")


def test_a_load_is_timed_in_the_page_from_its_navigation_until_it_is_ready():
    """What `kodek bench leaderboard` reports: the page's own clock, from the navigation's start to the first moment
    its test holds (a page that writes its text after 300 ms is never ready sooner)."""
    later = "<body><script>setTimeout(() => document.body.append('ready'), 300)</script></body>"
    with chromium(find_browser()) as page:
        took = page.open("data:text/html," + urllib.parse.quote(later), shows("ready"))
        assert took >= 0.3 and took * 1000 <= page.evaluate("performance.now()")
        with pytest.raises(BrowserError, match="ready before anything happened"):
            page.watch(shows("ready"))  # a test that already holds would time nothing
