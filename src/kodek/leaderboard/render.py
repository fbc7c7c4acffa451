"""The leaderboard's tables as static HTML, as a paper prints them (no Streamlit, no JavaScript).

A static table draws with the page's first paint; an interactive data grid loads its own code first (on 50 codecs
it made a page load take 1.8x a hello-world page). Every cell and header is escaped here, so a string from a
results file (a codec name, a metric label, a reason) is always shown as text, never as markup.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from kodek.leaderboard.tables import RANK, REFERENCE_RANK, Board

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
</style>"""


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
