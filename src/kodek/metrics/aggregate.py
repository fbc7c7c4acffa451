"""Aggregate per-utterance values into a results file's metrics, per subset and failures.

Aggregates are computed from the per-utterance table (the single source of truth): mean/std/median
over the utterances that have a value, failed ones at the metric's floor, missing ones counted and
their reasons listed. The file around them (header, paths, validation, writing) is ``kodek.results``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from kodek.metrics.text import pooled_rate
from kodek.results import MAX_LISTED_FAILURES


def summarise(values: np.ndarray, missing: int, failed: int = 0) -> dict[str, Any]:
    """Statistics of ``values`` (present ones, and failed ones already set to the floor).

    ``missing`` counts utterances without a value (left out); ``failed`` how many of ``values``
    are failed reconstructions counted at the metric's floor. ``std`` is null below two values.
    """
    values = values[np.isfinite(values)]
    if not len(values):
        return {"mean": None, "std": None, "median": None, "n": 0, "missing": int(missing), "failed": int(failed)}
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else None,
        "median": float(np.median(values)),
        "n": len(values),
        "missing": int(missing),
        "failed": int(failed),
    }


def _floats(table: pa.Table, name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table[name].to_pylist()], dtype=np.float64)


def _column(table: pa.Table, name: str) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """(values with failed ones at the metric's floor, missing reasons, failed reasons) of one column."""
    from kodek.metrics.registry import METRICS

    values = _floats(table, name)
    reasons = table[f"{name}__missing"].to_pylist()
    failed_column = f"{name}__failed"
    failed = table[failed_column].to_pylist() if failed_column in table.column_names else [None] * len(values)
    metric = METRICS.get(name.split("__")[0])
    is_failed = np.array([f is not None for f in failed], dtype=bool)
    if is_failed.any():
        if metric is None:
            raise ValueError(f"{name}: failed values but no metric definition to give their floor")
        values[is_failed] = metric.floor(values[~is_failed & np.isfinite(values)].tolist())
    return values, reasons, failed


def _stats(table: pa.Table, column: str, values, missing: list, failed: list, mask: np.ndarray | None = None):
    if mask is None:
        mask = np.ones(len(values), dtype=bool)
    stats = summarise(
        values[mask],
        sum(r is not None for r, m in zip(missing, mask, strict=True) if m),
        sum(f is not None for f, m in zip(failed, mask, strict=True) if m),
    )
    if f"{column}__len" in table.column_names:
        # Each utterance's errors are its rate times its reference length (the way ASR benchmarks pool).
        lengths = _floats(table, f"{column}__len")[mask]
        stats["pooled"] = pooled_rate((values[mask] * lengths).tolist(), lengths.tolist())
    return stats


def aggregate(table: pa.Table, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Overall and per-subset aggregates, plus the per-metric failures, from the per-utterance table.

    ``metrics`` maps a metric name to its description (label, direction, range,
    and ``conditions``: which of ``gt``/``rec`` it has; column ``<name>`` holds REC,
    ``<name>__gt`` holds GT where there is one). A value is present, missing (``<column>__missing``
    holds why: left out of the statistics) or failed (``<column>__failed`` holds why: the
    reconstruction failed, counted at the metric's floor, see :mod:`kodek.metrics.pairs`). Where a
    column ``<column>__len`` holds reference lengths (WER, CER), the stats also carry the pooled rate.
    """
    subsets = np.array(table["dataset"].to_pylist(), dtype=object)
    out: dict[str, Any] = {"metrics": {}, "by_subset": {}}
    reasons: Counter[str] = Counter()
    listed: list[dict[str, str]] = []
    names = table["audioname"].to_pylist()
    for name, info in metrics.items():
        entry = dict(info)
        for condition in info["conditions"]:
            column = name if condition == "rec" else f"{name}__gt"
            values, missing, failed = _column(table, column)
            entry[condition] = _stats(table, column, values, missing, failed)
            for subset in sorted(set(subsets)):
                out["by_subset"].setdefault(subset, {}).setdefault(name, {})[condition] = _stats(
                    table, column, values, missing, failed, subsets == subset
                )
            for audioname, why_missing, why_failed in zip(names, missing, failed, strict=True):
                reason = why_failed or why_missing
                if reason is not None:
                    reasons[f"{column}: {reason}"] += 1
                    if len(listed) < MAX_LISTED_FAILURES:
                        kind = "failed" if why_failed else "missing"
                        listed.append(
                            {
                                "audioname": audioname,
                                "stage": "metric",
                                "metric": column,
                                "kind": kind,
                                "reason": reason,
                            }
                        )
        out["metrics"][name] = entry
    out["failures"] = {"count": sum(reasons.values()), "by_reason": dict(reasons), "items": listed}
    return out
