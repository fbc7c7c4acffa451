"""Lists of pairs in, one summary dict out: what the ``evaluate`` modules in ``metrics/`` return.

Every ``compute()`` of kodek's ``evaluate`` modules returns a dict with the mean over the
items that have a value, the per-item values (``None`` where missing), and how many are
missing with their reasons: a missing value is never averaged in as a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kodek import audio
from kodek.metrics.intrusive import MetricUnavailable, align


def summary(key: str, values: Sequence[float | None], reasons: Sequence[str | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    return {
        key: float(np.mean(present)) if present else None,
        f"{key}_per_item": list(values),
        "missing": sum(r is not None for r in reasons),
        "missing_reasons": [r for r in reasons if r is not None],
    }


def pairwise(
    key: str,
    function: Callable[[np.ndarray, np.ndarray], float],
    references: Sequence[Sequence[float]],
    predictions: Sequence[Sequence[float]],
    *,
    sample_rate: int,
    metric_rate: int,
) -> dict[str, Any]:
    """``function(reference, prediction)`` per pair, at ``metric_rate``, cut to the shorter length."""
    values: list[float | None] = []
    reasons: list[str | None] = []
    for reference, prediction in zip(references, predictions, strict=True):
        ref = audio.resample(np.asarray(reference, dtype=np.float32), sample_rate, metric_rate)
        deg = audio.resample(np.asarray(prediction, dtype=np.float32), sample_rate, metric_rate)
        try:
            values.append(function(*align(ref, deg)))
            reasons.append(None)
        except MetricUnavailable as error:
            values.append(None)
            reasons.append(str(error))
    return summary(key, values, reasons)


def error_rates(
    key: str,
    function: Callable[[str, str, str], Any],
    references: Sequence[str],
    predictions: Sequence[str],
    normalisation: str,
) -> dict[str, Any]:
    """Pooled (corpus-level) and per-item error rates; an empty reference is missing, not 0 or 1."""
    values: list[float | None] = []
    reasons: list[str | None] = []
    errors = length = 0
    for reference, prediction in zip(references, predictions, strict=True):
        try:
            result = function(reference, prediction, normalisation)
        except MetricUnavailable as error:
            values.append(None)
            reasons.append(str(error))
            continue
        values.append(result.rate)
        reasons.append(None)
        errors += result.errors
        length += result.length
    out = summary(f"{key}_mean_per_item", values, reasons)
    per_item = out.pop(f"{key}_mean_per_item_per_item")
    return {
        key: errors / length if length else None,
        **out,
        f"{key}_per_item": per_item,
        "normalisation": normalisation,
    }
