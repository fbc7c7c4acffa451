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

import pandas as pd

from kodek.codecs.spec import CATEGORY
from kodek.leaderboard.loading import Loaded, load_results  # noqa: F401  (re-exported: the demo uses it)

# The source study's columns first, then the other metrics kodek knows, then any other, by name.
SOURCE_STUDY_METRICS: tuple[str, ...] = ("pesq_wb", "spk_sim", "wer", "cer", "stoi")
KNOWN_METRICS: tuple[str, ...] = (*SOURCE_STUDY_METRICS, "dwer", "dcer", "pesq_nb", "estoi", "mel_distance")
SHORT_LABELS = {"pesq_wb": "PESQ", "spk_sim": "Spk-Sim", "wer": "WER", "cer": "CER", "stoi": "STOI"}
LLM_METRICS: tuple[str, ...] = ("ppl", "bpc")
LLM_LABELS = {"ppl": "PPL", "bpc": "BPC"}
LLM_CONDITIONS: tuple[str, ...] = ("prior", "init", "trained")
MISSING = "–"
REFERENCE_KIND = "reference"
ROW_FACTS = ("kind", "category", "bitrate_kbps", "synthetic")


@dataclass(frozen=True)
class Column:
    key: str  # the column's header, unique in its board
    kind: str  # "text" | "metric" | "fact"
    metric: str | None = None
    condition: str | None = None  # gt | rec | prior | init | trained
    higher_is_better: bool | None = None
    ranked: bool = False  # whether the best value of this column is marked


@dataclass
class Board:
    values: pd.DataFrame  # index: row keys
    display: pd.DataFrame  # same shape: the text of each cell
    columns: list[Column]
    rows: pd.DataFrame  # per row key: kind, category, bitrate_kbps, synthetic
    best: dict[str, list[str]] = field(default_factory=dict)  # column key -> row keys

    def __len__(self) -> int:
        return len(self.values)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def select(self, keys: Sequence[str]) -> Board:
        """Only these rows (in this order), with the best values recomputed among them."""
        keys = [k for k in keys if k in self.values.index]
        board = replace(
            self, values=self.values.loc[keys], display=self.display.loc[keys], rows=self.rows.loc[keys], best={}
        )
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
        return self.select(list(rows.index[mask]))


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
    """One GT/REC stats dict (or a bare number) -> (value, text)."""
    if stats is None:
        return math.nan, MISSING
    if isinstance(stats, int | float):
        return float(stats), fmt(float(stats))
    missing, total = stats["missing"], stats["n"] + stats["missing"]
    if stats["mean"] is None:
        return math.nan, f"missing: failed {missing} of {total}" if missing else "missing: no utterances"
    text = fmt(stats["mean"])
    if missing:
        text += f" ({missing} failed)"  # of the row's utterances
    return float(stats["mean"]), text


def metric_cell(entry: dict[str, Any] | None, condition: str) -> tuple[float, str]:
    """A metric entry's value for one condition, or why there is none."""
    if entry is None:
        return math.nan, "not run"
    if entry.get("applicable") is False:
        why = entry.get("why")
        return math.nan, f"n/a ({why})" if why else "n/a"
    return stats_cell(entry.get(condition))


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
    return dict(sorted(found.items(), key=lambda item: _metric_order(item[0])))


def _metric_order(name: str) -> tuple[int, str]:
    return (KNOWN_METRICS.index(name), "") if name in KNOWN_METRICS else (len(KNOWN_METRICS), name)


def metric_columns(info: MetricInfo) -> list[Column]:
    """One column per condition present: 'WER ↓ GT' and 'WER ↓ REC', or 'PESQ ↑' when REC only."""
    head = SHORT_LABELS.get(info.name, info.label) + arrow(info.higher_is_better)
    conditions = [c for c in ("gt", "rec") if c in info.conditions] or ["rec"]
    return [
        Column(
            head if conditions == ["rec"] else f"{head} {c.upper()}",
            "metric",
            info.name,
            c,
            info.higher_is_better,
            ranked=c == "rec" and info.higher_is_better is not None,
        )
        for c in conditions
    ]


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


def params_cell(count: int | None) -> tuple[float, str]:
    if count is None:
        return math.nan, MISSING
    if count == 0:
        return 0.0, "0"
    if count >= 1e9:
        return count / 1e6, f"{count / 1e9:.2f}B"
    return count / 1e6, f"{count / 1e6:.1f}M"


def fact_cells(data: dict[str, Any], params: int | None) -> dict[str, tuple[Any, str]]:
    codec = data["codec"]
    kbps = codec["bitrate_bps"] / 1000
    return {
        "Params": params_cell(params),
        "Bitrate (kbps)": (kbps, f"{kbps:.4g}"),
        "Frame rate (Hz)": (float(codec["frame_rate"]), f"{codec['frame_rate']:g}"),
        "Codebooks": (codec["num_codebooks"], str(codec["num_codebooks"])),
        "Category": (category(codec), category(codec)),
        "Family": (codec["family"], codec["family"]),
        "Utterances": (data["dataset"]["utterances"], str(data["dataset"]["utterances"])),
    }


FACT_COLUMNS = [
    Column("Params", "fact"),
    Column("Bitrate (kbps)", "fact"),
    Column("Frame rate (Hz)", "fact"),
    Column("Codebooks", "fact"),
    Column("Category", "text"),
    Column("Family", "text"),
    Column("Utterances", "fact"),
]


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


def _board(cells: dict[str, dict[str, tuple[Any, str]]], columns: list[Column], rows: dict[str, dict]) -> Board:
    keys = [c.key for c in columns]
    values = pd.DataFrame.from_dict(
        {row: {k: cell[k][0] for k in keys} for row, cell in cells.items()}, orient="index", columns=keys
    )
    display = pd.DataFrame.from_dict(
        {row: {k: cell[k][1] for k in keys} for row, cell in cells.items()}, orient="index", columns=keys
    )
    facts = pd.DataFrame.from_dict(rows, orient="index", columns=list(ROW_FACTS))
    for column in columns:
        if column.kind != "text":
            values[column.key] = pd.to_numeric(values[column.key], errors="coerce")
    board = Board(values, display, columns, facts)
    board.best = best_values(board)
    return board


def best_values(board: Board) -> dict[str, list[str]]:
    """Per ranked column, the rows holding its best value (ties all marked); the reference row never counts."""
    candidates = board.rows.index[board.rows["kind"] != REFERENCE_KIND]
    best: dict[str, list[str]] = {}
    for column in board.columns:
        if not column.ranked:
            continue
        series = board.values.loc[candidates, column.key].dropna()
        if series.empty:
            continue
        target = series.max() if column.higher_is_better else series.min()
        best[column.key] = list(series.index[series == target])
    return best


# -- reconstruction -----------------------------------------------------------------------------------------


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


def reconstruction_board(results: Iterable[dict[str, Any]]) -> Board:
    """One row per codec id: every metric present (GT / REC columns), then the codec's facts."""
    chosen = for_task(results, "reconstruction")
    catalogue = metric_catalogue(chosen)
    columns = [Column("Codec", "text")]
    for info in catalogue.values():
        columns += metric_columns(info)
    columns = unique(columns + FACT_COLUMNS)
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for data in sorted(chosen, key=lambda d: d["codec"]["id"]):
        codec_id = data["codec"]["id"]
        cell: dict[str, tuple[Any, str]] = {"Codec": (codec_id, codec_id)}
        for column in columns:
            if column.kind == "metric":
                cell[column.key] = metric_cell(data["metrics"].get(column.metric), column.condition)
        cell.update(fact_cells(data, data.get("num_parameters")))
        cells[codec_id] = cell
        rows[codec_id] = row_facts(data)
    return _board(cells, columns, rows)


def reconstruction_table(results: list[dict[str, Any]], *, include_random: bool = False) -> pd.DataFrame:
    """The reconstruction board as text (the demo prints it); random-weight runs are left out."""
    shown = [r for r in results if include_random or not r["random_weights"]]
    board = reconstruction_board(shown)
    keep = [c.key for c in board.columns if c.key not in ("Family", "Codebooks", "Frame rate (Hz)")]
    return board.display[keep].reset_index(drop=True)


# -- SpeechLLM --------------------------------------------------------------------------------------------


def llm_ids(results: Iterable[dict[str, Any]]) -> list[str]:
    """LLMs of the SpeechLLM results, the most used first."""
    counts: dict[str, int] = {}
    for data in for_task(results, "speechllm"):
        counts[data["llm"]["id"]] = counts.get(data["llm"]["id"], 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def speechllm_board(results: Iterable[dict[str, Any]], llm: str | None = None) -> Board:
    """One row per codec for one LLM: PPL and bits per character in the prior / init / trained conditions.

    Codec parameters come from the SpeechLLM file, else from the codec's reconstruction file.
    """
    results = list(results)
    params = {r["codec"]["id"]: r.get("num_parameters") for r in for_task(results, "reconstruction")}
    chosen = [r for r in for_task(results, "speechllm") if llm is None or r["llm"]["id"] == llm]
    columns = [Column("Codec", "text")] + ([Column("LLM", "text")] if llm is None else [])
    for name in LLM_METRICS:
        for condition in LLM_CONDITIONS:
            # Prior (no audio) is the same for every codec: shown, never ranked.
            columns.append(
                Column(f"{LLM_LABELS[name]} ↓ {condition}", "metric", name, condition, False, condition != "prior")
            )
    columns += FACT_COLUMNS
    chosen = sorted(chosen, key=lambda d: (d["codec"]["id"], d["llm"]["id"]))
    return _codec_board(chosen, columns, params, with_llm=llm is None)


def _codec_board(
    chosen: list[dict[str, Any]], columns: list[Column], params: dict[str, Any], *, with_llm: bool = False
) -> Board:
    """One row per results file: its metric cells (per column condition) and the codec's facts."""
    cells: dict[str, dict[str, tuple[Any, str]]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for data in chosen:
        codec_id, llm_id = data["codec"]["id"], (data.get("llm") or {}).get("id", "")
        key = f"{codec_id} | {llm_id}" if with_llm else codec_id
        cell: dict[str, tuple[Any, str]] = {"Codec": (codec_id, codec_id), "LLM": (llm_id, llm_id)}
        for column in columns:
            if column.kind == "metric":
                cell[column.key] = metric_cell(data["metrics"].get(column.metric), column.condition)
        count = data.get("num_parameters")
        cell.update(fact_cells(data, count if count is not None else params.get(codec_id)))
        cells[key] = cell
        rows[key] = row_facts(data)
    return _board(cells, columns, rows)


def speech_lm_board(results: Iterable[dict[str, Any]]) -> Board:
    """The speech-only LM on the codes: bits per second of audio (trained LM, unigram, uniform = bitrate)."""
    results = list(results)
    params = {r["codec"]["id"]: r.get("num_parameters") for r in for_task(results, "reconstruction")}
    columns = [Column("Codec", "text")]
    for condition in ("trained", "unigram", "uniform"):
        columns.append(Column(f"bits/s ↓ {condition}", "metric", "bits_per_second", condition, False, True))
    columns.append(Column("code PPL ↓ trained", "metric", "code_ppl", "trained", False, False))
    columns += FACT_COLUMNS
    return _codec_board(sorted(for_task(results, "speech_lm"), key=lambda d: d["codec"]["id"]), columns, params)


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
    """Codec, category, bitrate and the column's value, for rows that have a value."""
    frame = pd.DataFrame(
        {
            "codec": board.values["Codec"],
            "category": board.rows["category"],
            "bitrate_kbps": board.rows["bitrate_kbps"],
            "value": board.values[column],
            "text": board.display[column],
        }
    )
    return frame.dropna(subset=["value", "bitrate_kbps"]).reset_index(drop=True)


def pareto_front(points: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Points no other point beats at the same or a lower bitrate, by increasing bitrate."""
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
    source = "sample" if dataset["name"] == "sample" else "bigos"
    if dataset.get("config") and source == "bigos":
        source += f":{dataset['config']}"
    revision = f" --revision {quote(str(dataset['revision']))}" if dataset.get("revision") else ""
    lines = ["pip install 'kodek[all]'"]
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
