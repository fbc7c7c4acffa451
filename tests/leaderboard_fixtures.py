"""Results folders for the leaderboard tests: valid files, invalid ones, hostile strings, listening examples."""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kodek.audio import encode_flac
from kodek.leaderboard.synthetic import reconstruction, speechllm

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SUBSETS = ("fair-mls-20", "google-fleurs-22", "pwr-viu-unk")


@contextlib.contextmanager
def main_module_kept() -> Iterator[None]:
    """AppTest runs the page as ``__main__`` and leaves it there; later multiprocessing children would re-run it."""
    main = sys.modules["__main__"]
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _Tables(HTMLParser):
    """The tables of an HTML fragment as a reader's browser shows them: header texts and cell texts (entities
    decoded), the classes of each cell, and the summary of the collapsible section (``<details>``) a table is in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, list]] = []
        self.cell: list[str] | None = None
        self.summary: list[str] | None = None
        self.section = ""  # the open <details>' summary
        self.summaries: list[str] = []
        self.texts: list[str] = []  # the text outside tables (captions, notices)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "summary":
            self.summary = []
        elif tag == "table":
            self.tables.append({"head": [], "rows": [], "classes": [], "section": self.section})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
            self.tables[-1]["classes"].append([])
        elif tag in ("th", "td"):
            self.cell = []
            if tag == "td":
                self.tables[-1]["classes"][-1].append(set((dict(attrs).get("class") or "").split()))

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        elif self.summary is not None:
            self.summary.append(data)
        elif self.lasttag != "style":
            self.texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "summary" and self.summary is not None:
            self.section = "".join(self.summary)
            self.summaries.append(self.section)
            self.summary = None
        elif tag == "details":
            self.section = ""
        elif tag in ("th", "td") and self.cell is not None:
            table = self.tables[-1]
            (table["head"] if tag == "th" else table["rows"][-1]).append("".join(self.cell))
            self.cell = None


def html_tables(body: str) -> list[tuple[pd.DataFrame, list[list[set[str]]]]]:
    """Each table in ``body``: its cells' texts as a frame (headers as columns) and each cell's classes."""
    parser = _Tables()
    parser.feed(body)
    out = []
    for table in parser.tables:
        rows = [r for r in table["rows"] if r]
        out.append((pd.DataFrame(rows, columns=table["head"]), [c for c in table["classes"] if c]))
    return out


def shown_tables(node) -> list[pd.DataFrame]:
    """The tables a page (an ``AppTest`` or one of its blocks) shows, in order, as frames of cell texts."""
    return [frame for element in node.get("html") for frame, _ in html_tables(element.proto.body)]


def _parsed(node) -> list[_Tables]:
    parsers = []
    for element in node.get("html"):
        parser = _Tables()
        parser.feed(element.proto.body)
        parsers.append(parser)
    return parsers


def section_tables(node, summary: str) -> list[pd.DataFrame]:
    """The tables in the collapsible section whose summary contains ``summary``."""
    return [
        pd.DataFrame([r for r in table["rows"] if r], columns=table["head"])
        for parser in _parsed(node)
        for table in parser.tables
        if summary in table["section"]
    ]


def section_summaries(node) -> list[str]:
    """The summaries of every collapsible section the page shows."""
    return [summary for parser in _parsed(node) for summary in parser.summaries]


def html_texts(node) -> list[str]:
    """The text of the page's static blocks outside tables (captions, notices, notes)."""
    return ["".join(parser.texts) for parser in _parsed(node)]


def write(folder: Path, relative: str, data: Any) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def results(index: int) -> dict[str, Any]:
    return reconstruction(index, SUBSETS)


def tone(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return encode_flac((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)


def write_hostile_results(folder: Path) -> dict[str, Any]:
    """Three good codecs (with hostile strings), one SpeechLLM file, and every kind of bad file."""
    good = [results(i) for i in (0, 1, 3)]  # acoustic, semantic, classic
    good[0]["codec"]["family"] = SCRIPT
    good[0]["metrics"]["mel_distance"]["label"] = f"<b>{IMG}</b>"
    good[0]["failures"]["by_reason"] = {f"pesq_wb: {SCRIPT}": 1}
    good[1]["metrics"]["pesq_wb"] = {
        "label": "PESQ (wb)",
        "higher_is_better": True,
        "applicable": False,
        "why": "no decoder",
    }
    good[2]["metrics"]["stoi"]["rec"] = {"mean": None, "std": None, "median": None, "n": 0, "missing": 1200}
    for data in good:
        write(folder, f"{data['codec']['id']}/reconstruction.json", data)
    llm = speechllm(good[0])
    llm["llm"] = {"id": IMG, "revision": None}
    write(folder, f"{good[0]['codec']['id']}/speechllm.json", llm)

    random_run = results(5)
    random_run["random_weights"] = True
    write(folder, f"{random_run['codec']['id']}/reconstruction.json", random_run)

    bad_id = copy.deepcopy(good[1])
    bad_id["codec"]["id"] = SCRIPT
    write(folder, "bad-id/reconstruction.json", bad_id)
    write(folder, "wrong-folder/reconstruction.json", good[2])
    write(folder, f"{good[2]['codec']['id']}/reconstruction-again.json", good[2])
    write(folder, "broken/reconstruction.json", '{"schema_version": 1, ')
    missing = copy.deepcopy(good[1])
    del missing["metrics"]
    write(folder, "no-metrics/reconstruction.json", missing)

    (folder / "_originals").mkdir(parents=True, exist_ok=True)
    (folder / "_originals" / "utt-1.flac").write_bytes(tone())
    for data in good[:2]:
        audio = folder / data["codec"]["id"] / "audio"
        audio.mkdir(parents=True, exist_ok=True)
        (audio / "utt-1.flac").write_bytes(tone(0.4))
    return {"good": good, "random": random_run, "llm": llm}
