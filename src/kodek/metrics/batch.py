"""Lists of pairs in, one summary dict out: what the ``evaluate`` modules in ``metrics/`` return.

Every ``compute()`` of kodek's ``evaluate`` modules returns a dict with the mean, the per-item
values (``None`` where there is none), how many items are missing (the original has no value:
left out of the mean) and how many failed (the reconstruction is silent, empty, NaN, or the
library gives it no value: counted at the metric's floor), with the reasons. Pairs are prepared
exactly as ``kodek score`` prepares them (:mod:`kodek.metrics.pairs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.pairs import NO_DELAY, Delay, Outcome, estimate_delay, mean_with_floor, score_pair
from kodek.metrics.text import pooled_rate

AUTO = "auto"


def summary(key: str, values: Sequence[float | None], reasons: Sequence[str | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    return {
        key: float(np.mean(present)) if present else None,
        f"{key}_per_item": list(values),
        "missing": sum(r is not None for r in reasons),
        "missing_reasons": [r for r in reasons if r is not None],
    }


def outcome_summary(key: str, outcomes: Sequence[Outcome], floor: float, delay: Delay) -> dict[str, Any]:
    """The module's result: failed items count at ``floor`` in the mean; missing ones are left out."""
    values = [o.value for o in outcomes]
    failed = [o.failed is not None for o in outcomes]
    return {
        key: mean_with_floor(values, failed, floor),
        f"{key}_per_item": values,
        "missing": sum(o.missing is not None for o in outcomes),
        "missing_reasons": [o.missing for o in outcomes if o.missing is not None],
        "failed": sum(failed),
        "failed_reasons": [o.failed for o in outcomes if o.failed is not None],
        "floor": floor,
        "delay_ms": delay.ms,
    }


def delay_of(
    references: Sequence[np.ndarray], predictions: Sequence[np.ndarray], sample_rate: int, delay_ms: Any
) -> Delay:
    """``"auto"``: estimated from the pairs like ``kodek score`` does; a number: that; None or 0: none."""
    if delay_ms == AUTO:
        from kodek import audio

        return estimate_delay(
            [
                (audio.resample(r, sample_rate, 16_000), p, sample_rate)
                for r, p in zip(references, predictions, strict=True)
            ]
        )
    if not delay_ms:
        return NO_DELAY
    return Delay(float(delay_ms), why="given by the caller")


def pairwise(
    key: str,
    function: Callable[[np.ndarray, np.ndarray], float],
    references: Sequence[Sequence[float]],
    predictions: Sequence[Sequence[float]],
    *,
    sample_rate: int,
    metric_rate: int,
    floor: float,
    delay_ms: Any = AUTO,
) -> dict[str, Any]:
    """``function(reference, prediction)`` per pair, prepared as :mod:`kodek.metrics.pairs` says."""
    refs = [np.asarray(r, dtype=np.float32) for r in references]
    preds = [np.asarray(p, dtype=np.float32) for p in predictions]
    delay = delay_of(refs, preds, sample_rate, delay_ms)
    outcomes = [
        score_pair(function, ref, sample_rate, pred, sample_rate, metric_rate, delay.seconds)
        for ref, pred in zip(refs, preds, strict=True)
    ]
    return outcome_summary(key, outcomes, floor, delay)


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
    errors: list[int] = []
    lengths: list[int] = []
    for reference, prediction in zip(references, predictions, strict=True):
        try:
            result = function(reference, prediction, normalisation)
        except MetricUnavailable as error:
            values.append(None)
            reasons.append(str(error))
            continue
        values.append(result.rate)
        reasons.append(None)
        errors.append(result.errors)
        lengths.append(result.length)
    out = summary(f"{key}_mean_per_item", values, reasons)
    per_item = out.pop(f"{key}_mean_per_item_per_item")
    return {
        key: pooled_rate(errors, lengths),
        **out,
        f"{key}_per_item": per_item,
        "normalisation": normalisation,
    }
