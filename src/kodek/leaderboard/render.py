"""The leaderboard's tables as static HTML, as a paper prints them (no Streamlit, no JavaScript).

A static table draws with the page's first paint; an interactive data grid loads its own code first (on 50 codecs
it made a page load take 1.8x a hello-world page). Every cell and header is escaped here, so a string from a
results file (a codec name, a metric label, a reason) is always shown as text, never as markup.
"""

from __future__ import annotations

import functools
import math
from html import escape

import pandas as pd

from kodek.leaderboard.tables import RANK, REFERENCE_KIND, REFERENCE_RANK, Board, pareto_front

# Colours follow the page's theme (currentColor, translucent borders): readable in light and dark mode.
STYLE = """<style>
.kodek-table{overflow-x:auto;max-width:100%;margin-bottom:.5rem}
.kodek-table.scroll{max-height:26rem;overflow-y:auto}
.kodek-table table{border-collapse:collapse;font-size:.875rem;line-height:1.35;width:max-content;min-width:100%}
.kodek-table th,.kodek-table td{padding:.3rem .6rem;border-bottom:1px solid rgba(128,128,128,.25);
  text-align:left;vertical-align:top}
.kodek-table th{font-weight:600;border-bottom:2px solid rgba(128,128,128,.6);vertical-align:bottom}
.kodek-table td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.kodek-table td.best{font-weight:700}
.kodek-table td.why{font-style:italic;opacity:.75;white-space:nowrap}
.kodek-table tr.reference td{border-bottom:2px solid rgba(128,128,128,.6);opacity:.85}
.kodek-table td.rank{max-width:7rem;white-space:normal}
.kodek-caption{font-size:.875rem;opacity:.7;margin:0 0 .5rem}
.kodek-caption p{margin:0}
.kodek-notice{padding:.75rem 1rem;margin:.25rem 0 .75rem;border-radius:.5rem;background:rgba(255,189,69,.18)}
.kodek-details{margin:.25rem 0}
.kodek-details summary{cursor:pointer;padding:.4rem 0;font-weight:500}
.kodek-lines{font-size:.875rem;margin:0 0 .5rem 1.2rem;padding:0}
.kodek-caption code,.kodek-prose code{font-size:.85em;padding:.1em .3em;border-radius:.25rem;
  background:rgba(128,128,128,.15)}
</style>"""
# Text in static blocks (captions, notes, collapsible listings): one element type for every view, since each kind
# of Streamlit element a page uses loads and starts code of its own before the page is drawn.


def text_html(text: str, *, kind: str = "caption") -> str:
    """Text (from results files too) as a caption or a notice, escaped: no markup of its own."""
    return f'<div class="kodek-{kind}">{escape(text)}</div>'


@functools.cache  # the page's own constant texts: rendered once per server, not on every rerun
def markdown_html(text: str, *, kind: str = "prose") -> str:
    """The page's own prose (methodology, help, captions with `commands`) from Markdown; raw HTML in it is escaped
    like any text (markdown-it with HTML off)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).render(text)
    return f'<div class="kodek-{kind}">{body}</div>'


def lines_html(lines: list[str]) -> str:
    """Lines from results files or users (reasons, settings): escaped, one list item each."""
    return '<ul class="kodek-lines">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def details_html(summary: str, body: str) -> str:
    """A collapsible section (the browser's own ``<details>``: no code to load); ``body`` is already HTML."""
    return f'<details class="kodek-details"><summary>{escape(summary)}</summary>{body}</details>'


def _cell(text: str, classes: list[str]) -> str:
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{escape(text)}</td>"


def _is_number(text: str) -> bool:
    head = text.split(" ")[0].replace(",", "").lstrip("-")
    return head.replace(".", "", 1).isdigit()


def table_html(
    frame: pd.DataFrame,
    *,
    numeric: set[str] | None = None,
    best: set[tuple[int, str]] | None = None,
    scroll: bool = False,
) -> str:
    """``frame``'s cells as an escaped HTML table.

    ``numeric`` columns are right-aligned where a cell holds a number (a cell that says why it is empty reads in
    italics); ``best`` cells (row position, column) are bold; ``scroll`` keeps a long listing in a box of its own
    (a wide table scrolls sideways on a narrow screen).
    """
    numeric, best = numeric or set(), best or set()
    columns = list(frame.columns)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for position, row in enumerate(frame.itertuples(index=False, name=None)):
        cells = []
        for name, value in zip(columns, row, strict=True):
            text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
            classes = ["rank"] if name == RANK else []
            if name in numeric:
                classes.append("num" if _is_number(text) else "why")
            if (position, name) in best:
                classes.append("best")
            cells.append(_cell(text, classes))
        reference = RANK in columns and str(row[columns.index(RANK)]) == REFERENCE_RANK
        body.append(('<tr class="reference">' if reference else "<tr>") + "".join(cells) + "</tr>")
    box = "kodek-table scroll" if scroll else "kodek-table"
    return f'<div class="{box}"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def board_html(board: Board) -> str:
    """A board: numbers right-aligned, reasons for empty cells in italics, the best per column bold and starred."""
    shown = board.shown()
    position = {row: number for number, row in enumerate(board.display.index)}
    best = {(position[row], key) for key, rows in board.best.items() for row in rows}
    numeric = {c.key for c in board.columns if c.kind in ("metric", "fact")} - {"Category"}
    return table_html(shown, numeric=numeric, best=best)


# -- quality against bitrate, as a static SVG ----------------------------------------------------------------

# Okabe & Ito's palette: told apart with every common colour-vision deficiency (and shapes differ too).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
LABEL_ALL_POINTS = 25  # above this many points only the Pareto front is labelled (the table lists the others)
WIDTH, HEIGHT = 900, 480
BITRATE_TICKS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1536)
LEFT, RIGHT, TOP, BOTTOM = 64, 190, 50, 48  # margins: axis labels left and below, the legend on the right


def _marker(shape: str, x: float, y: float, colour: str, tip: str) -> str:
    r = 5.5
    if shape == "circle":
        body = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}"'
    elif shape == "square":
        body = f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}"'
    else:
        corners = {
            "triangle": ((0, -r * 1.2), (r * 1.1, r * 0.9), (-r * 1.1, r * 0.9)),
            "diamond": ((0, -r * 1.3), (r * 1.1, 0), (0, r * 1.3), (-r * 1.1, 0)),
            "cross": (
                (-r, -r / 3),
                (-r / 3, -r / 3),
                (-r / 3, -r),
                (r / 3, -r),
                (r / 3, -r / 3),
                (r, -r / 3),
                (r, r / 3),
                (r / 3, r / 3),
                (r / 3, r),
                (-r / 3, r),
                (-r / 3, r / 3),
                (-r, r / 3),
            ),
        }[shape]
        body = '<polygon points="' + " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in corners) + '"'
    return f'{body} fill="{colour}"><title>{escape(tip)}</title></{body.split()[0][1:]}>'


def _ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round values for a linear axis between ``low`` and ``high``."""
    step = (high - low) / count or 1.0
    magnitude = 10 ** math.floor(math.log10(step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def pareto_svg(points: pd.DataFrame, higher_is_better: bool, title: str) -> str:
    """Quality against bitrate: codecs coloured and shaped by category and labelled with their names, the Pareto
    front of the codecs dashed, the reference (the original audio, an upper bound) drawn apart as a dotted line.

    ``points`` is :func:`kodek.leaderboard.tables.plot_points`. Every string is escaped: a codec name is text.
    A standalone SVG document on a white ground, shown as an image (the page's HTML sanitiser drops inline SVG).
    """
    reference = points[points["kind"] == REFERENCE_KIND]
    codecs = points[points["kind"] != REFERENCE_KIND]
    front = pareto_front(codecs, higher_is_better)
    on_front = set(front["codec"])
    label_all = len(codecs) <= LABEL_ALL_POINTS
    rates = codecs["bitrate_kbps"].clip(lower=1e-3)
    x_low, x_high = math.log10(rates.min()) - 0.15, math.log10(rates.max()) + 0.15
    values = [*codecs["value"], *reference["value"]]
    y_low, y_high = min(values), max(values)
    pad = (y_high - y_low) * 0.08 or abs(y_high) * 0.1 or 1.0
    y_low, y_high = y_low - pad, y_high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(kbps: float) -> float:
        return LEFT + (math.log10(max(kbps, 1e-3)) - x_low) / (x_high - x_low) * plot_w

    def py(value: float) -> float:
        return TOP + (y_high - value) / (y_high - y_low) * plot_h

    shown = "every codec labelled" if label_all else "the front's codecs labelled; every codec is in the tables"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        ' font-family="sans-serif" font-size="12" fill="#222">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="15" font-weight="600">{escape(title)} vs bitrate</text>'
        f'<text x="{LEFT}" y="36" font-size="12">dashed: the Pareto front of the codecs; {escape(shown)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="gray"'
        ' stroke-opacity=".5"/>',
    ]
    for tick in (t for t in BITRATE_TICKS if 10**x_low <= t <= 10**x_high):
        x = px(tick)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="gray" stroke-opacity=".2"/>'
        )
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
    for tick in _ticks(y_low, y_high):
        y = py(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="gray" stroke-opacity=".2"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">bitrate (kbps, log scale)</text>'
        f'<text transform="translate(16 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(title)}</text>'
    )
    for _, row in reference.iterrows():
        y = py(row["value"])
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#222"'
            ' stroke-dasharray="1 3" class="reference"/>'
        )
        label = escape(f"reference: {row['codec']} (not a codec)")
        parts.append(f'<text x="{LEFT + 6}" y="{y - 6:.1f}" class="reference">{label}</text>')
    if len(front) > 1:
        line = " ".join(f"{px(r['bitrate_kbps']):.1f},{py(r['value']):.1f}" for _, r in front.iterrows())
        parts.append(f'<polyline points="{line}" fill="none" stroke="gray" stroke-dasharray="5 4" class="front"/>')
    categories = sorted(set(codecs["category"]))
    style = {c: (PALETTE[i % len(PALETTE)], SHAPES[i % len(SHAPES)]) for i, c in enumerate(categories)}
    for _, row in codecs.iterrows():
        x, y = px(row["bitrate_kbps"]), py(row["value"])
        colour, shape = style[row["category"]]
        tip = f"{row['codec']} ({row['category']}): {row['text']} at {row['bitrate_kbps']:g} kbps"
        parts.append(_marker(shape, x, y, colour, tip))
        if label_all or row["codec"] in on_front:
            parts.append(f'<text x="{x + 8:.1f}" y="{y - 6:.1f}" font-size="11">{escape(str(row["codec"]))}</text>')
    legend_x = LEFT + plot_w + 20
    parts.append(f'<text x="{legend_x}" y="{TOP + 4}" font-weight="600">category</text>')
    for i, name in enumerate(categories):
        colour, shape = style[name]
        y = TOP + 24 + 20 * i
        parts.append(_marker(shape, legend_x + 6, y - 4, colour, name))
        parts.append(f'<text x="{legend_x + 18}" y="{y}">{escape(str(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)
