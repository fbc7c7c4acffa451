"""Build the leaderboard's tables from validated results (pandas, no Streamlit).

A :class:`Board` holds one table twice: ``values`` (numbers, NaN where missing:
what sorting and plots use) and ``display`` (the text of every cell: the value,
or why it is missing). Best values per column are computed here, so the page
only presents them.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from kodek.codecs.spec import CATEGORY

# The source study's columns first, then the other metrics kodek knows, then any other, by name.
SOURCE_STUDY_METRICS: tuple[str, ...] = ("pesq_wb", "spk_sim", "wer", "cer", "stoi")
KNOWN_METRICS: tuple[str, ...] = (*SOURCE_STUDY_METRICS, "dwer", "dcer", "pesq_nb", "estoi", "mel_distance")
SHORT_LABELS = {"pesq_wb": "PESQ", "spk_sim": "Spk-Sim", "wer": "WER", "cer": "CER", "stoi": "STOI"}
STUDY_LABELS = {
    "pesq_wb": ("PESQ (wb)", True),
    "spk_sim": ("Speaker similarity", True),
    "wer": ("WER", False),
    "cer": ("CER", False),
    "stoi": ("STOI", True),
}
# Units for the CSV export's headers (the page's headers keep to the study's short names).
UNITS = {
    "pesq_wb": "MOS-LQO 1-4.64",
    "pesq_nb": "MOS-LQO 1-4.55",
    "spk_sim": "cosine -1-1",
    "wer": "fraction of words",
    "cer": "fraction of characters",
    "dwer": "fraction of words",
    "dcer": "fraction of characters",
    "stoi": "0-1",
    "estoi": "0-1",
    "ppl": "per token",
    "bpc": "bits per character",
    "bits_per_second": "bits/s",
}
LLM_METRICS: tuple[str, ...] = ("ppl", "bpc")
LLM_LABELS = {"ppl": "PPL", "bpc": "BPC"}
LLM_CONDITIONS: tuple[str, ...] = ("prior", "init", "trained")
LLM_CONDITION_NAMES = {"prior": "prior (no audio)", "init": "initial", "trained": "fine-tuned"}
MISSING = "–"
NOT_RUN = "not run"
NOT_APPLICABLE = "not applicable"
UNAVAILABLE = "model unavailable"
NOT_REPORTED = "not reported"
BEST = " ★"  # marks the best value of a column (text, so that it reads the same in every renderer)
RANK = "#"
REFERENCE_RANK = "reference (not ranked)"
REFERENCE_KIND = "reference"
ROW_FACTS = ("kind", "category", "bitrate_kbps", "synthetic")
MAX_OTHER_METRICS = 24  # columns beyond the study's: results files may name any metric


@dataclass(frozen=True)
class Column:
    key: str  # the column's header, unique in its board
    kind: str  # "text" | "metric" | "fact"
    metric: str | None = None
    condition: str | None = None  # gt | rec | prior | init | trained; the value ranked and plotted
    higher_is_better: bool | None = None
    ranked: bool = False  # whether the best value of this column is marked
    shown_with: str | None = None  # a second condition shown first in the cell: "GT / REC", "initial / fine-tuned"


@dataclass
class Board:
    values: pd.DataFrame  # index: row keys
    display: pd.DataFrame  # same shape: the text of each cell
    columns: list[Column]
    rows: pd.DataFrame  # per row key: kind, category, bitrate_kbps, synthetic
    best: dict[str, list[str]] = field(default_factory=dict)  # column key -> row keys
    export: pd.DataFrame | None = None  # per row key: numbers with units in the headers (the CSV download)
    notes: dict[str, str] = field(default_factory=dict)  # why a column's cells are empty, in words

    def __len__(self) -> int:
        return len(self.values)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def select(self, keys: Sequence[str], *, same_rows: bool = False) -> Board:
        """Only these rows (in this order), with the best values recomputed among them (kept if ``same_rows``)."""
        keys = [k for k in keys if k in self.values.index]
        export = None if self.export is None else self.export.loc[keys]
        board = replace(
            self,
            values=self.values.loc[keys],
            display=self.display.loc[keys],
            rows=self.rows.loc[keys],
            export=export,
            best=dict(self.best) if same_rows else {},
        )
        if not same_rows:
            board.best = best_values(board)
        return board

    def filtered(
        self, categories: Iterable[str] | None = None, bitrate_kbps: tuple[float, float] | None = None
    ) -> Board:
        rows = self.rows
        mask = pd.Series(True, index=rows.index)
        if categories is not None:
            mask &= rows["category"].isin(list(categories))
        if bitrate_kbps is not None:
            low, high = bitrate_kbps
            mask &= rows["bitrate_kbps"].between(low, high)
        if mask.all():
            return self
        return self.select(list(rows.index[mask]))

    @property
    def headlines(self) -> list[str]:
        """The columns a table can be ranked by: ranked metric columns, in display order."""
        return [c.key for c in self.columns if c.kind == "metric" and c.ranked]

    def ranked_by(self, key: str | None = None) -> Board:
        """Rows sorted by ``key`` (best first; the reference on top, rows without a value last), ranks in '#'.

        Tied values share a rank. The reference row (the original audio) is an upper bound, never ranked.
        """
        key = key if key in self.headlines else (self.headlines[0] if self.headlines else None)
        if key is None or RANK not in self.values.columns:
            return self
        column = self.column(key)
        values = self.values[key]
        reference = self.rows["kind"] == REFERENCE_KIND
        present = values.notna() & ~reference
        ordered = values[present].sort_values(ascending=not column.higher_is_better, kind="stable")
        ranks = ordered.rank(method="min", ascending=not column.higher_is_better).astype(int)
        absent = [r for r in self.values.index if not present[r] and not reference[r]]
        keys = [*self.values.index[reference], *ordered.index, *absent]
        board = self.select(keys, same_rows=True)
        label = key.split(" ")[0]
        texts = {r: str(ranks[r]) for r in ordered.index}
        texts |= {r: REFERENCE_RANK for r in self.values.index[reference]}
        texts |= {r: f"unranked: {label} {self.display.loc[r, key].split(' / ')[-1]}" for r in absent}
        board.display[RANK] = pd.Series(texts)
        board.values[RANK] = pd.Series({r: float(ranks[r]) for r in ordered.index}, dtype=float)
        if board.export is not None:
            board.export = board.export.drop(columns="Rank", errors="ignore")
            board.export.insert(0, "Rank", board.values[RANK])
        return board

    def shown(self) -> pd.DataFrame:
        """What a reader sees: every cell as text, the best value per column marked with a star."""
        frame = self.display.reset_index(drop=True)
        position = {row: number for number, row in enumerate(self.display.index)}
        for key, rows in self.best.items():
            cells = frame[key].to_numpy(dtype=object, copy=True)
            for row in rows:
                cells[position[row]] += BEST
            frame[key] = cells
        return frame

    def csv(self, measured_on: str) -> bytes:
        """The table as CSV: numbers with their units in the headers, and the data they were measured on."""
        frame = self.export if self.export is not None else self.values
        frame = frame.copy()
        frame["Measured on"] = measured_on
        return frame.to_csv(index=False).encode("utf-8")


# -- cells -------------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    """A number with as many decimals as its size deserves."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def stats_cell(stats: Any) -> tuple[float, str]:
    """One condition's stats dict (or a bare number) -> (value, text); a missing value says why in words.

    ``missing`` counts utterances a metric could not score; ``failed`` those whose reconstruction failed and
    were scored by the no-rank-gained-by-failing policy.
    """
    if stats is None:
        return math.nan, NOT_RUN
    if isinstance(stats, int | float):
        return float(stats), fmt(float(stats))
    missing, failed = stats["missing"], stats.get("failed") or 0
    total = stats["n"] + missing
    if stats["mean"] is None:
        return math.nan, f"{missing} of {total} failed" if missing else "no utterances"
    notes = []
    if failed:
        notes.append(f"{failed} of {total} failed")
    if missing:
        notes.append(f"{missing} missing")  # the metric could not score them (too short, silent...)
    text = fmt(stats["mean"]) + (f" ({', '.join(notes)})" if notes else "")
    return float(stats["mean"]), text


def metric_cell(entry: dict[str, Any] | None, condition: str) -> tuple[float, str]:
    """A metric entry's value for one condition, or why there is none."""
    if entry is None:
        return math.nan, NOT_RUN
    if entry.get("applicable") is False:
        return math.nan, NOT_APPLICABLE
    if entry.get("available") is False:
        return math.nan, UNAVAILABLE
    return stats_cell(entry.get(condition))


def column_cell(entry: dict[str, Any] | None, column: Column) -> tuple[Any, str]:
    """What a metric column shows: one condition, or 'first / second' where it is shown with another."""
    if column.shown_with:
        return pair_cell(entry, column.shown_with, column.condition)
    return metric_cell(entry, column.condition)


def column_conditions(column: Column) -> list[str]:
    """The conditions a metric column holds, in the order its cell shows them."""
    return ([column.shown_with] if column.shown_with else []) + [column.condition]


def pair_cell(entry: dict[str, Any] | None, first: str, second: str) -> tuple[float, str]:
    """'GT / REC' (or 'initial / fine-tuned'): the value is the second one's; one reason when both share it."""
    value, text = metric_cell(entry, second)
    _, head = metric_cell(entry, first)
    return value, text if head == text and math.isnan(value) else f"{head} / {text}"


def arrow(higher_is_better: bool | None) -> str:
    return {True: " ↑", False: " ↓"}.get(higher_is_better, "")


# -- metric catalogue ----------------------------------------------------------------------------------


@dataclass
class MetricInfo:
    name: str
    label: str
    higher_is_better: bool | None
    description: str = ""
    value_range: list[Any] | None = None
    conditions: set[str] = field(default_factory=set)
    details: dict[str, str] = field(default_factory=dict)  # model, revision, normalisation where a result says


METRIC_DETAILS = ("model", "revision", "normalisation")


def metric_catalogue(results: Iterable[dict[str, Any]]) -> dict[str, MetricInfo]:
    """Every metric present, in display order, with the first label and direction seen for it."""
    found: dict[str, MetricInfo] = {}
    for data in results:
        for name, entry in data["metrics"].items():
            info = found.setdefault(
                name,
                MetricInfo(
                    name,
                    entry.get("label") or name,
                    entry.get("higher_is_better"),
                    entry.get("description", ""),
                    entry.get("range"),
                ),
            )
            if info.higher_is_better is None:
                info.higher_is_better = entry.get("higher_is_better")
            for key in METRIC_DETAILS:
                if entry.get(key) is not None:
                    info.details.setdefault(key, str(entry[key]))
            info.conditions.update(c for c in ("gt", "rec") if entry.get(c) is not None)
            info.conditions.update(c for c in entry.get("conditions", ()) if c in ("gt", "rec"))
    return dict(sorted(found.items(), key=lambda item: _metric_order(item[0])))


def _metric_order(name: str) -> tuple[int, str]:
    return (KNOWN_METRICS.index(name), "") if name in KNOWN_METRICS else (len(KNOWN_METRICS), name)


def metric_column(info: MetricInfo) -> Column:
    """One column per metric: 'WER ↓ GT / REC' (both in the cell; REC ranked), or 'PESQ ↑' when REC only."""
    head = SHORT_LABELS.get(info.name, info.label) + arrow(info.higher_is_better)
    with_gt = "gt" in info.conditions
    return Column(
        f"{head} GT / REC" if with_gt else head,
        "metric",
        info.name,
        "rec",
        info.higher_is_better,
        ranked=info.higher_is_better is not None,
        shown_with="gt" if with_gt else None,
    )


def export_header(info: MetricInfo, condition: str) -> str:
    unit = UNITS.get(info.name)
    return f"{info.label} {condition.upper()}" + (f" [{unit}]" if unit else "")


# -- rows shared by every board -----------------------------------------------------------------------


def category(codec: dict[str, Any]) -> str:
    return CATEGORY.get(codec["kind"], codec["kind"])


def row_facts(data: dict[str, Any]) -> dict[str, Any]:
    codec = data["codec"]
    return {
        "kind": codec["kind"],
        "category": category(codec),
        "bitrate_kbps": codec["bitrate_bps"] / 1000,
        "synthetic": bool(data["dataset"].get("synthetic")),
    }


PARAMS = "Params (M)"
BITRATE = "Bitrate (kbps)"
DELAY = "Delay (ms)"


def params_cell(count: int | None) -> tuple[float, str]:
    """Parameters in millions (the unit is in the header)."""
    if count is None:
        return math.nan, NOT_REPORTED
    if count == 0:
        return 0.0, "0"
    millions = count / 1e6
    digits = 0 if millions >= 100 else 1 if millions >= 1 else 2
    return millions, f"{millions:,.{digits}f}"


def delay_cell(data: dict[str, Any]) -> tuple[float, str]:
    if "delay_ms" not in data:
        return math.nan, NOT_REPORTED
    if data["delay_ms"] is None:
        return math.nan, "not measured"
    return float(data["delay_ms"]), f"{data['delay_ms']:.1f}"


def fact_cells(data: dict[str, Any], params: int | None) -> dict[str, tuple[Any, str]]:
    codec = data["codec"]
    kbps = codec["bitrate_bps"] / 1000
    return {
        "Category": (category(codec), category(codec)),
        PARAMS: params_cell(params),
        BITRATE: (kbps, f"{kbps:.4g}"),
        DELAY: delay_cell(data),
        "Frame rate (Hz)": (float(codec["frame_rate"]), f"{codec['frame_rate']:g}"),
        "Codebooks": (codec["num_codebooks"], str(codec["num_codebooks"])),
        "Family": (codec["family"], codec["family"]),
        "Utterances": (data["dataset"]["utterances"], str(data["dataset"]["utterances"])),
    }


HEAD_COLUMNS = [Column(RANK, "text"), Column("Codec", "text"), Column("Category", "text")]
SIZE_COLUMNS = [Column(PARAMS, "fact"), Column(BITRATE, "fact")]
TAIL_COLUMNS = [Column("Frame rate (Hz)", "fact"), Column("Codebooks", "fact"), Column("Family", "text")]
UTTERANCES = Column("Utterances", "fact")


def unique(columns: list[Column]) -> list[Column]:
    """Metric headers come from results files (labels, subset names): one that repeats gets a number.

    Text and fact columns keep their names; a metric column never takes one of them.
    """
    seen = {c.key for c in columns if c.kind != "metric"}
    out = []
    for column in columns:
        if column.kind != "metric":
            out.append(column)
            continue
        key, number = column.key, 2
        while key in seen:
            key, number = f"{column.key} [{number}]", number + 1
        seen.add(key)
        out.append(column if key == column.key else replace(column, key=key))
    return out


def _board(
    cells: dict[str, dict[str, tuple[Any, str]]],
    columns: list[Column],
    rows: dict[str, dict],
    export: dict[str, dict[str, Any]] | None = None,
    notes: dict[str, str] | None = None,
) -> Board:
    keys = [c.key for c in columns]
    values = pd.DataFrame.from_dict(
        {row: {k: cell.get(k, (math.nan, ""))[0] for k in keys} for row, cell in cells.items()},
        orient="index",
        columns=keys,
    )
    display = pd.DataFrame.from_dict(
        {row: {k: cell.get(k, (math.nan, ""))[1] for k in keys} for row, cell in cells.items()},
        orient="index",
        columns=keys,
    )
    facts = pd.DataFrame.from_dict(rows, orient="index", columns=list(ROW_FACTS))
    for column in columns:
        if column.kind != "text":
            values[column.key] = pd.to_numeric(values[column.key], errors="coerce")
    frame = None if export is None else pd.DataFrame.from_dict(export, orient="index")
    board = Board(values, display, columns, facts, export=frame, notes=notes or {})
    board.best = best_values(board)
    return board


def best_values(board: Board) -> dict[str, list[str]]:
    """Per ranked column, the rows holding its best value (ties all marked); the reference row never counts.

    Values are finite by construction (the schema rejects NaN and infinities; missing values are NaN here).
    """
    candidates = (board.rows["kind"] != REFERENCE_KIND).to_numpy()
    index = board.values.index
    best: dict[str, list[str]] = {}
    for column in board.columns:
        if not column.ranked:
            continue
        values = board.values[column.key].to_numpy(dtype=float)
        usable = candidates & ~np.isnan(values)
        if not usable.any():
            continue
        target = values[usable].max() if column.higher_is_better else values[usable].min()
        best[column.key] = list(index[usable & (values == target)])
    return best


# -- which results may be ranked together  ----------------------------------------------------------------


def for_task(results: Iterable[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    return [r for r in results if r["task"] == task]


def dataset_key(data: dict[str, Any]) -> str:
    """Which data a result was measured on; results on different data are never ranked together."""
    dataset = data["dataset"]
    name = dataset["name"] + (f":{dataset['config']}" if dataset.get("config") else "")
    return f"{name} / {dataset['split']}"


def dataset_keys(results: Iterable[dict[str, Any]]) -> list[str]:
    """Dataset keys, the one with most codecs first (real data before synthetic on ties)."""
    counts: dict[str, list[int]] = {}
    for data in results:
        entry = counts.setdefault(dataset_key(data), [0, 0])
        entry[0] += 1
        entry[1] += bool(data["dataset"].get("synthetic"))
    return sorted(counts, key=lambda k: (-counts[k][0], counts[k][1], k))


@dataclass
class Apart:
    """Results measured under other settings than the ranked table's: shown apart, with the difference named."""

    key: str | None
    differences: list[str]
    results: list[dict[str, Any]]


def comparable_groups(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Apart]]:
    """The largest group of results sharing a ``comparability_key`` (ranked together), and the others apart.

    Files without a key (older results) form one group of their own: they cannot be shown comparable to any.
    """
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for data in results:
        groups.setdefault(data.get("comparability_key"), []).append(data)
    if not groups:
        return [], []
    order = sorted(groups, key=lambda k: (-len(groups[k]), k is None, k or ""))
    main = groups[order[0]]
    reference = main[0].get("comparability") or {}
    apart = [
        Apart(k, comparability_differences(reference, groups[k][0].get("comparability")), groups[k]) for k in order[1:]
    ]
    return main, apart


def comparability_differences(main: dict[str, Any], other: dict[str, Any] | None) -> list[str]:
    """The settings in which ``other`` differs from ``main``, one 'field: theirs (ranked table: ours)' each."""
    if not other:
        return ["no comparability record (results written before kodek recorded their settings)"]
    if not main:
        return ["the ranked table's results carry no comparability record"]
    out = []
    for name in sorted(set(main) | set(other)):
        if main.get(name) != other.get(name):
            out.append(f"{name}: {_short(other.get(name))} (ranked table: {_short(main.get(name))})")
    return out or ["the same settings under another key"]


def _short(value: Any, limit: int = 80) -> str:
    text = "none" if value is None else ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- reconstruction -----------------------------------------------------------------------------------------


def reconstruction_board(results: Iterable[dict[str, Any]], headline: str | None = None) -> Board:
    """The study's first table: rank, codec, category, PESQ, Spk-Sim, WER, CER, STOI (GT / REC), Params,
    Bitrate, delay, then the other metrics and the codec's facts; one row per codec id, ranked by ``headline``."""
    chosen = for_task(results, "reconstruction")
    catalogue = metric_catalogue(chosen)
    for name, (label, higher) in STUDY_LABELS.items():  # the study's columns, even where nothing measured them
        catalogue.setdefault(name, MetricInfo(name, label, higher))
    study = [catalogue[n] for n in SOURCE_STUDY_METRICS]
    others = [info for name, info in catalogue.items() if name not in SOURCE_STUDY_METRICS]
    notes = {}
    if len(others) > MAX_OTHER_METRICS:
        dropped = ", ".join(i.name for i in others[MAX_OTHER_METRICS:])[:300]
        notes["(more metrics)"] = f"not shown here: {len(others) - MAX_OTHER_METRICS} more metrics ({dropped})"
        others = others[:MAX_OTHER_METRICS]
    with_delay = any("delay_ms" in d for d in chosen)
    columns = [*HEAD_COLUMNS, *map(metric_column, study), *SIZE_COLUMNS]
    columns += [Column(DELAY, "fact")] if with_delay else []
    columns = unique(columns + list(map(metric_column, others)) + TAIL_COLUMNS + [UTTERANCES])
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    export: dict[str, dict[str, Any]] = {}
    for data in sorted(chosen, key=lambda d: d["codec"]["id"]):
        codec_id = data["codec"]["id"]
        cell: dict[str, tuple[Any, str]] = {"Codec": (codec_id, codec_id), RANK: (math.nan, "")}
        cell.update(fact_cells(data, data.get("num_parameters")))
        numbers: dict[str, Any] = {"Codec": codec_id, "Category": cell["Category"][0]}
        for column in columns:
            if column.kind != "metric":
                continue
            entry = data["metrics"].get(column.metric)
            cell[column.key] = column_cell(entry, column)
            info = catalogue[column.metric]
            for condition in column_conditions(column):
                numbers[export_header(info, condition)] = metric_cell(entry, condition)[0]
            stats = (entry or {}).get(column.condition) or {}
            if isinstance(stats, dict) and stats:
                numbers[f"{info.label} utterances scored"] = stats.get("n")
                numbers[f"{info.label} utterances failed"] = (stats.get("failed") or 0) + stats.get("missing", 0)
            if entry and entry.get("available") is False and entry.get("why"):
                notes.setdefault(column.key, f"{UNAVAILABLE}: {entry['why']}")
            if entry and entry.get("applicable") is False and entry.get("why"):
                notes.setdefault(f"{column.key} ", f"{NOT_APPLICABLE} for {codec_id}: {entry['why']}")
        for name in (PARAMS, BITRATE, DELAY, "Frame rate (Hz)", "Codebooks", "Utterances"):
            numbers[name] = cell[name][0]
        numbers["Data revision"] = data["dataset"].get("revision")
        numbers["Comparability key"] = data.get("comparability_key")
        cells[codec_id] = cell
        rows[codec_id] = row_facts(data)
        export[codec_id] = numbers
    return _board(cells, columns, rows, export, notes).ranked_by(headline)


def reconstruction_table(results: list[dict[str, Any]], *, include_random: bool = False) -> pd.DataFrame:
    """The reconstruction board as text (the demo prints it); random-weight runs are left out, and so are metric
    columns without a value in any row (the caller lists why: e.g. the metric's model is not available here)."""
    shown = [r for r in results if include_random or not r["random_weights"]]
    board = reconstruction_board(shown)
    dropped = {"Family", "Codebooks", "Frame rate (Hz)", "Utterances"}
    dropped |= {c.key for c in board.columns if c.kind == "metric" and board.values[c.key].isna().all()}
    keep = [c.key for c in board.columns if c.key not in dropped]
    return board.display[keep].reset_index(drop=True)


# -- SpeechLLM --------------------------------------------------------------------------------------------


def llm_ids(results: Iterable[dict[str, Any]]) -> list[str]:
    """LLMs of the SpeechLLM results, the most used first."""
    counts: dict[str, int] = {}
    for data in for_task(results, "speechllm"):
        counts[data["llm"]["id"]] = counts.get(data["llm"]["id"], 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


PPL_HEADLINE = "PPL ↓ initial / fine-tuned"


def speechllm_board(results: Iterable[dict[str, Any]], llm: str | None = None) -> Board:
    """The study's second table, per LLM: rank, codec, category, PPL and BPC as 'initial / fine-tuned', the prior
    (no audio; the same for every codec, never ranked), Params and Bitrate. Ranked by fine-tuned PPL.

    Codec parameters come from the SpeechLLM file, else from the codec's reconstruction file.
    """
    results = list(results)
    params = {r["codec"]["id"]: r.get("num_parameters") for r in for_task(results, "reconstruction")}
    chosen = [r for r in for_task(results, "speechllm") if llm is None or r["llm"]["id"] == llm]
    columns = [*HEAD_COLUMNS] + ([Column("LLM", "text")] if llm is None else [])
    for name in LLM_METRICS:
        head = f"{LLM_LABELS[name]} ↓ initial / fine-tuned"
        columns.append(Column(head, "metric", name, "trained", False, True, shown_with="init"))
    for name in LLM_METRICS:
        columns.append(Column(f"{LLM_LABELS[name]} prior (no audio)", "metric", name, "prior", False, False))
    columns += SIZE_COLUMNS
    chosen = sorted(chosen, key=lambda d: (d["codec"]["id"], d["llm"]["id"]))
    return _codec_board(chosen, columns, params, with_llm=llm is None).ranked_by(PPL_HEADLINE)


def _codec_board(
    chosen: list[dict[str, Any]], columns: list[Column], params: dict[str, Any], *, with_llm: bool = False
) -> Board:
    """One row per results file: its metric cells (per column condition) and the codec's facts."""
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    export: dict[str, dict[str, Any]] = {}
    for data in chosen:
        codec_id, llm_id = data["codec"]["id"], (data.get("llm") or {}).get("id", "")
        key = f"{codec_id} | {llm_id}" if with_llm else codec_id
        cell: dict[str, tuple[Any, str]] = {"Codec": (codec_id, codec_id), "LLM": (llm_id, llm_id)}
        cell[RANK] = (math.nan, "")
        count = data.get("num_parameters")
        cell.update(fact_cells(data, count if count is not None else params.get(codec_id)))
        numbers: dict[str, Any] = {"Codec": codec_id, "Category": cell["Category"][0], "LLM": llm_id}
        for column in columns:
            if column.kind != "metric":
                continue
            entry = data["metrics"].get(column.metric)
            cell[column.key] = column_cell(entry, column)
            label, unit = LLM_LABELS.get(column.metric, column.metric), UNITS.get(column.metric)
            for condition in column_conditions(column):
                name = f"{label} {LLM_CONDITION_NAMES.get(condition, condition)}" + (f" [{unit}]" if unit else "")
                numbers[name] = metric_cell(entry, condition)[0]
        for name in (PARAMS, BITRATE):
            numbers[name] = cell[name][0]
        numbers["Comparability key"] = data.get("comparability_key")
        cells[key] = cell
        rows[key] = row_facts(data)
        export[key] = numbers
    return _board(cells, columns, rows, export)


def speech_lm_board(results: Iterable[dict[str, Any]]) -> Board:
    """The speech-only LM on the codes: bits per second of audio (trained LM, unigram, uniform = bitrate)."""
    results = list(results)
    params = {r["codec"]["id"]: r.get("num_parameters") for r in for_task(results, "reconstruction")}
    columns = [*HEAD_COLUMNS]
    for condition in ("trained", "unigram", "uniform"):
        columns.append(Column(f"bits/s ↓ {condition}", "metric", "bits_per_second", condition, False, True))
    columns.append(Column("code PPL ↓ trained", "metric", "code_ppl", "trained", False, False))
    columns += SIZE_COLUMNS
    chosen = sorted(for_task(results, "speech_lm"), key=lambda d: d["codec"]["id"])
    return _codec_board(chosen, columns, params).ranked_by("bits/s ↓ trained")


# -- per-subset breakdown ----------------------------------------------------------------------------------

GROUPS = {"subset": "BIGOS source subset", "speaker_gender": "speaker gender", "speaker_age": "speaker age"}


def breakdown_groups(results: Iterable[dict[str, Any]]) -> list[str]:
    """'subset', then every speaker grouping some result has (gender, age, ...)."""
    groups = ["subset"]
    for data in results:
        groups += [g for g in data.get("by_group", {}) if g not in groups]
    return groups


def breakdown_of(data: dict[str, Any], group: str) -> dict[str, dict[str, Any]]:
    return data.get("by_subset", {}) if group == "subset" else data.get("by_group", {}).get(group, {})


def breakdown_board(results: Iterable[dict[str, Any]], metric: str, condition: str, group: str = "subset") -> Board:
    """Rows: codecs; columns: the values of ``group`` (the BIGOS subsets by default), plus 'all'."""
    chosen = [r for r in for_task(results, "reconstruction") if metric in r["metrics"]]
    direction = metric_catalogue(chosen).get(metric)
    higher = direction.higher_is_better if direction else None
    values = sorted({v for data in chosen for v in breakdown_of(data, group)})
    ranked = condition == "rec" and higher is not None
    head = [Column("Codec", "text"), Column("all", "metric", metric, condition, higher, ranked)]
    columns = unique(head + [Column(v, "metric", metric, condition, higher, ranked) for v in values])
    keys = dict(zip(values, (c.key for c in columns[len(head) :]), strict=True))  # group value -> header
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for data in sorted(chosen, key=lambda d: d["codec"]["id"]):
        codec_id = data["codec"]["id"]
        parts = breakdown_of(data, group)
        cell = {"Codec": (codec_id, codec_id), "all": metric_cell(data["metrics"].get(metric), condition)}
        for value in values:
            entry = parts.get(value, {}).get(metric)
            cell[keys[value]] = metric_cell(entry, condition) if entry is not None else (math.nan, MISSING)
        cells[codec_id] = cell
        rows[codec_id] = row_facts(data)
    return _board(cells, columns, rows)


# -- plots --------------------------------------------------------------------------------------------------


def plot_points(board: Board, column: str) -> pd.DataFrame:
    """Codec, category, kind, bitrate and the column's value, for rows that have a value."""
    frame = pd.DataFrame(
        {
            "codec": board.values["Codec"],
            "category": board.rows["category"],
            "kind": board.rows["kind"],
            "bitrate_kbps": board.rows["bitrate_kbps"],
            "value": board.values[column],
            "text": board.display[column],
        }
    )
    return frame.dropna(subset=["value", "bitrate_kbps"]).reset_index(drop=True)


def pareto_front(points: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Points no other point beats at the same or a lower bitrate, by increasing bitrate.

    The reference (the original audio) is an upper bound, not a codec: it is never on the front.
    """
    if "kind" in points:
        points = points[points["kind"] != REFERENCE_KIND]
    ordered = points.sort_values(["bitrate_kbps", "value"], ascending=[True, not higher_is_better])
    front, best = [], None
    for index, row in ordered.iterrows():
        value = row["value"]
        if best is None or (value > best if higher_is_better else value < best):
            front.append(index)
            best = value
    return ordered.loc[front].reset_index(drop=True)


# -- methodology ------------------------------------------------------------------------------------------


def metrics_table(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for info in metric_catalogue(list(results)).values():
        rows.append(
            {
                "metric": info.name,
                "label": info.label,
                "better": {True: "higher", False: "lower"}.get(info.higher_is_better, "?"),
                "range": MISSING if not info.value_range else f"{info.value_range[0]:g} .. {info.value_range[1]:g}",
                "conditions": " / ".join(c.upper() for c in ("gt", "rec") if c in info.conditions) or MISSING,
                "definition": info.description or MISSING,
                **{key: info.details.get(key, MISSING) for key in METRIC_DETAILS},
            }
        )
    return pd.DataFrame(
        rows, columns=["metric", "label", "better", "range", "conditions", "definition", *METRIC_DETAILS]
    )


def provenance_table(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Per results file: checkpoint and revision, data revision, software, commit, date."""
    rows = []
    for data in sorted(results, key=lambda d: (d["codec"]["id"], d["task"])):
        codec, dataset = data["codec"], data["dataset"]
        checkpoint = codec.get("checkpoint") or {}
        revision = data.get("checkpoint_revision") or checkpoint.get("revision")
        software = data.get("software") or {}
        rows.append(
            {
                "codec": codec["id"],
                "task": data["task"] + (f" ({data['llm']['id']})" if data.get("llm") else ""),
                "checkpoint": f"{checkpoint['repo']}@{str(revision)[:12]}" if checkpoint.get("repo") else MISSING,
                "licence": codec.get("license") or MISSING,
                "data": dataset_key(data),
                "data revision": str(dataset.get("revision") or MISSING)[:12],
                "kodek": str(software.get("kodek", MISSING)),
                "git commit": str(data.get("git_commit") or MISSING)[:12],
                "date": str(data.get("date", MISSING))[:19],
            }
        )
    return pd.DataFrame(rows)


def reproduce_commands(data: dict[str, Any]) -> str:
    """The CLI commands that recompute a reconstruction row (shell-quoted: strings come from results)."""
    quote = shlex.quote
    codec_id, dataset = data["codec"]["id"], data["dataset"]
    lines = ["pip install 'kodek[all]'"]
    source = data_argument(dataset)
    if source is None:
        # Not one of kodek's named sources: say so rather than point at data it was not measured on.
        lines.append(f"# measured on {_short(dataset['name'])!r}, not a built-in kodek source: pass the same data")
        source = "YOUR-DATA"
    revision = f" --revision {quote(str(dataset['revision']))}" if dataset.get("revision") else ""
    request = data.get("request") or {}
    if request.get("package") and request.get("version"):
        lines.append(f"pip install {quote(request['package'] + '==' + request['version'])}  # the codec's package")
    lines += [
        f"kodek tokenize --codec {quote(codec_id)} --data {quote(source)} --split {quote(dataset['split'])}"
        f"{revision} --out tokens",
        f"kodek score --tokens tokens --codec {quote(codec_id)} --out results --metrics "
        + quote(",".join(sorted(data["metrics"]))),
        "kodek leaderboard --results results",
    ]
    return "\n".join(lines)


def data_argument(dataset: dict[str, Any]) -> str | None:
    """The ``--data`` value that names the data a result was measured on, if kodek has one for it."""
    from kodek.data.bigos import REPO as BIGOS_REPO

    name = dataset["name"]
    if name == "sample":
        return "sample"
    if name in ("bigos", BIGOS_REPO):
        return "bigos" + (f":{dataset['config']}" if dataset.get("config") else "")
    if name.startswith("folder:"):
        return name
    return None


def unscored_systems(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Registered codecs with no (real) reconstruction result, and why: nothing is silently left out.

    Reads kodek's own static specs only (no torch import, never a third-party entry point); an unsupported
    system gives its reason.
    """
    from kodek.codecs.registry import availability, builtin_entries

    scored = {r["codec"]["id"] for r in results if r.get("task") == "reconstruction" and not r.get("random_weights")}
    rows = []
    for entry in builtin_entries():
        spec = entry.spec
        if spec.id in scored:
            continue
        state = availability(entry)
        status = "unsupported" if state.status == "unsupported" else "not scored yet"
        rows.append(
            {
                "Codec": spec.id,
                "Category": spec.category,
                "Bitrate": f"{spec.bitrate_bps / 1000:.2f} kbps",
                "Status": status,
                "Why": spec.unsupported or "no results file for it in this results source",
            }
        )
    return rows
