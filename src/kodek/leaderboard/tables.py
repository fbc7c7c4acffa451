"""Load results files and build the comparison tables (pandas, no Streamlit)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodek.leaderboard.schema import validate


@dataclass
class Loaded:
    results: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def load_results(folder: Path) -> Loaded:
    """Every ``<codec>/<task>.json`` under ``folder``; invalid files are rejected with the reason."""
    loaded = Loaded()
    for path in sorted(Path(folder).glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            loaded.rejected.append((str(path), f"unreadable: {error}"))
            continue
        errors = validate(data)
        if errors:
            loaded.rejected.append((str(path), "; ".join(errors[:3])))
        else:
            loaded.results.append(data)
    return loaded


def _cell(metric: dict[str, Any] | None) -> str:
    if metric is None:
        return "-"
    if metric.get("applicable") is False:
        return "n/a"
    parts = []
    for condition in ("gt", "rec"):
        stats = metric.get(condition)
        if stats is None:
            continue
        total = stats["n"] + stats["missing"]
        value = "missing" if stats["mean"] is None else f"{stats['mean']:.3f}"
        if stats["missing"]:
            value += f" ({stats['missing']}/{total} missing)"
        parts.append(value)
    return " / ".join(parts) or "-"


def reconstruction_table(results: list[dict[str, Any]]):
    """One row per codec: PESQ, STOI (GT / REC where both exist), params, bitrate, kind."""
    import pandas as pd

    rows = []
    for data in results:
        if data["task"] != "reconstruction":
            continue
        codec, metrics = data["codec"], data["metrics"]
        params = data.get("num_parameters")
        rows.append(
            {
                "Codec": codec["id"] + (" (random weights)" if data["random_weights"] else ""),
                "Category": codec.get("category", codec["kind"]),
                "PESQ ↑": _cell(metrics.get("pesq_wb")),
                "STOI ↑": _cell(metrics.get("stoi")),
                "Params": f"{params / 1e6:.1f}M" if params else "-",
                "Bitrate": f"{codec['bitrate_bps'] / 1000:.2f} kbps",
                "Utterances": data["dataset"]["utterances"],
            }
        )
    return pd.DataFrame(rows)
