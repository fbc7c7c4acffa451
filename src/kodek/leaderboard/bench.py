"""``kodek bench leaderboard``: how fast the page is for a reader, against a hello-world Streamlit page.

Both pages are served side by side on this machine, with the same server settings (``SERVER_SETTINGS``), and loaded
in the same headless Chromium, alternating, so that machine load affects both alike: the figures that matter are
the ratios. A page load is a fresh document (a new Streamlit session on a warm server), from the start of its
navigation until the view shows what a reader came for (its table and download button, its chart, its form); a
widget change is a tab switch on a loaded page, from the click until the new tab has rendered, or the opening of
the ranking's popover, from the click until its select box is drawn (a popover's widgets are drawn only once it is
open). Both are timed in the page itself (``kodek.leaderboard.browser``).

The least pages are hello world's title plus the elements the Reconstruction view cannot do without: its tabs,
its static table, its download button, each alone, then the table with its download button (a view with no way to
reach the others) and all three (the least page that shows the table among the views). Their ratios to hello world
are what those elements cost in Streamlit itself; the page's own ratio above the last one is what kodek adds.
Every page counts as loaded once it shows what it is for and no script run or element placeholder is left (the
same test for all).
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

from kodek.leaderboard.browser import (
    EMPTY,
    IDLE,
    TABLE_SHOWN,
    BrowserError,
    chromium,
    find_browser,
    rendered,
    shows,
    streamlit_server,
)

VIEWS = ("Reconstruction", "SpeechLLM", "Per subset", "Plots", "Listen", "Methodology", "Submit")
HELLO = 'import streamlit as st\n\nst.title("Hello, world")\n'
HELLO_TEXT = "Hello, world"
# The least pages' parts, after hello world's title; {table} and {csv} are files of the Reconstruction view's table.
TABS = "with st.tabs({views!r})[0]:\n"
TAB_TEXT = "The first tab"
TABLE = 'st.html(Path({table!r}).read_text(encoding="utf-8"))\n'
DOWNLOAD = 'st.download_button("Download CSV", Path({csv!r}).read_bytes(), file_name="table.csv", on_click="ignore")\n'


def _shows(text: str) -> str:
    """A page has loaded: it shows ``text`` and is idle."""
    return f"{IDLE} && {shows(text)}"


LEAST = {  # name -> (the page after hello world's title, when it has loaded)
    "tabs": (TABS + f"    st.text({TAB_TEXT!r})\n", _shows(TAB_TEXT)),
    "static table": (TABLE, f"{IDLE} && {TABLE_SHOWN}"),
    "download button": (DOWNLOAD, _shows("Download CSV")),
    "table and download button": (TABLE + DOWNLOAD, rendered("Reconstruction")),
    "all three": (TABS + "    " + TABLE + "    " + DOWNLOAD, rendered("Reconstruction")),
}
# A tab switch, and the text that says the new tab has rendered.
SWITCHES = (("SpeechLLM", "LLM:"), ("Reconstruction", "Rank by"))
POPOVER = "Rank by"
POPOVER_DRAWN = '!!document.querySelector(\'[data-testid="stPopoverBody"] [data-testid="stSelectbox"]\')'
CLICK_AGAIN_S = 5.0
SCREEN_WIDTHS = (1400, 800)
TABS_IN_VIEW = (
    "Array.from(document.querySelectorAll('[role=\"tab\"]')).map(b => { const r = b.getBoundingClientRect();"
    " return [b.innerText.trim(), r.left >= 0 && r.right <= window.innerWidth + 1]; })"
)


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def bench_leaderboard(
    results: Path | None = None,
    *,
    codecs: int = 50,
    subsets: int = 12,
    repeat: int = 5,
    screenshots: Path | None = None,
) -> dict[str, Any]:
    """Median page-load time per view and for a hello-world page, their ratio, and the widget-change time."""
    from kodek.leaderboard import app_path

    executable = find_browser()
    if executable is None:
        raise BrowserError("no Chromium found: install it (apt-get install chromium) to run this benchmark")
    with tempfile.TemporaryDirectory(prefix="kodek-bench-leaderboard-") as tmp:
        folder = Path(tmp)
        synthetic = results is None
        if synthetic:
            from kodek.leaderboard.synthetic import write_synthetic

            results = folder / "results"
            write_synthetic(results, codecs=codecs, subsets=subsets)
        hello = folder / "hello.py"
        hello.write_text(HELLO, encoding="utf-8")
        least = _least_pages(Path(results), folder)
        env = {"KODEK_RESULTS": str(Path(results).resolve())}
        with contextlib.ExitStack() as servers:
            board_url = servers.enter_context(streamlit_server(app_path(), env))
            hello_url = servers.enter_context(streamlit_server(hello))
            least_urls = {name: servers.enter_context(streamlit_server(path)) for name, path in least.items()}
            page = servers.enter_context(chromium(executable))
            says_hello = _shows(HELLO_TEXT)
            for view in VIEWS:  # warm-up: the first session of a server reads and caches the results
                page.open(f"{board_url}/?view={view}", rendered(view), timeout=180)
            page.open(hello_url, says_hello)
            for name, url in least_urls.items():
                page.open(url, LEAST[name][1])
            loads: dict[str, list[float]] = {view: [] for view in VIEWS}
            hello_loads: list[float] = []
            least_loads: dict[str, list[float]] = {name: [] for name in least}
            for _ in range(repeat):
                for view in VIEWS:  # alternating: every page sees the same machine load
                    hello_loads.append(page.open(hello_url, says_hello))
                    loads[view].append(page.open(f"{board_url}/?view={view}", rendered(view)))
                for name, url in least_urls.items():
                    least_loads[name].append(page.open(url, LEAST[name][1]))
            switches, popovers = [], []
            page.open(f"{board_url}/?view=Reconstruction", rendered("Reconstruction"))
            for _ in range(repeat):
                for label, marker in SWITCHES:
                    switches.append(_switch(page, label, marker))
            for _ in range(repeat):  # each on a fresh page: the popover closed
                page.open(f"{board_url}/?view=Reconstruction", rendered("Reconstruction"))
                page.watch(f"{IDLE} && {POPOVER_DRAWN}")
                page.click("button", POPOVER)
                popovers.append(page.waited(CLICK_AGAIN_S, f"the {POPOVER} popover never drew its choices"))
            shots = _screenshots(page, board_url, screenshots) if screenshots else {}
    hello_ms = _median_ms(hello_loads)

    def against_hello(times: list[float]) -> dict[str, float]:
        return {"load_ms": _median_ms(times), "vs_hello_world": round(statistics.median(times) / (hello_ms / 1000), 2)}

    per_view = {view: against_hello(times) for view, times in loads.items()}
    return {
        "results": f"synthetic {codecs} codecs x {subsets} subsets" if synthetic else str(results),
        "codecs": codecs,
        "subsets": subsets,
        "repeat": repeat,
        "hello_world_load_ms": hello_ms,
        "views": per_view,
        "worst_load_vs_hello_world": max(v["vs_hello_world"] for v in per_view.values()),
        "least_pages": {f"hello world + {name}": against_hello(times) for name, times in least_loads.items()},
        "widget_change_ms": _median_ms(switches),
        "widget_change_max_ms": round(max(switches) * 1000, 1),
        "popover_open_ms": _median_ms(popovers),
        "popover_open_max_ms": round(max(popovers) * 1000, 1),
        **({"screenshots": shots} if shots else {}),
    }


def _least_pages(results: Path, folder: Path) -> dict[str, Path]:
    """The least pages (name -> script), with the Reconstruction view's table ranked as the page ranks it at first."""
    from kodek.leaderboard import render
    from kodek.leaderboard.data import ResultsSource, prepare

    prepared = prepare(*ResultsSource(folder=str(results)).fetch())
    if not prepared.datasets:
        raise BrowserError(f"no reconstruction results in {results} to benchmark the page with")
    dataset = prepared.datasets[0]
    board = prepared.reconstruction[dataset]
    board = board.ranked_by(board.headlines[0]) if board.headlines else board
    table, csv = folder / "table.html", folder / "table.csv"
    table.write_text(render.STYLE + render.board_html(board), encoding="utf-8")
    csv.write_bytes(board.csv(dataset))
    pages = {}
    for number, (name, (part, _)) in enumerate(LEAST.items()):
        body = part.format(views=list(VIEWS), table=str(table), csv=str(csv))
        pages[name] = folder / f"least-{number}.py"
        pages[name].write_text(HELLO + "from pathlib import Path\n\n" + body, encoding="utf-8")
    return pages


def _switch(page, label: str, marker: str) -> float:
    """Seconds from a click on tab ``label`` until it has rendered (a click lost while the page re-renders is
    repeated after ``CLICK_AGAIN_S``, as a reader would; the time still counts from the first click)."""
    page.watch(f"{IDLE} && ({shows(marker)} || {EMPTY})")
    for _ in range(3):
        page.click_tab(label)
        try:
            return page.waited(CLICK_AGAIN_S, f"the {label} tab never rendered")
        except BrowserError:
            continue
    raise BrowserError(f"the {label} tab never rendered")


def _screenshots(page, url: str, out: Path) -> dict[str, Any]:
    """Every view at each width (tall enough to hold the tables), and which tabs are in view at each width."""
    out = Path(out)
    taken: dict[str, Any] = {}
    for width in SCREEN_WIDTHS:
        page.resize(width, 2400)
        for view in VIEWS:
            page.open(f"{url}/?view={view}", rendered(view), timeout=120)
            taken[f"{view}@{width}"] = str(page.screenshot(out / f"{view.lower().replace(' ', '-')}-{width}.png"))
        taken[f"tabs in view @{width}"] = [name for name, seen in page.evaluate(TABS_IN_VIEW) if seen]
    page.resize(1400, 1000)
    return taken
