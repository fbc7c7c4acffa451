"""The metrics the scorer knows: how to compute each, at which rate, which way is better."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetricDef:
    name: str
    label: str
    function: str  # "module:callable" taking (reference, degraded) at ``sample_rate``
    sample_rate: int
    higher_is_better: bool
    value_range: tuple[float, float]
    # "intrusive": reconstruction vs original, a REC value only.
    kind: str = "intrusive"
    description: str = ""

    def load(self) -> Callable[[np.ndarray, np.ndarray], float]:
        module, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module), attr)


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "pesq_wb",
            "PESQ (wb)",
            "kodek.metrics.intrusive:pesq_wb",
            16_000,
            True,
            (1.0, 4.644),
            description="ITU-T P.862.2 wide-band PESQ at 16 kHz (pesq package)",
        ),
        MetricDef(
            "stoi",
            "STOI",
            "kodek.metrics.intrusive:stoi",
            16_000,
            True,
            (0.0, 1.0),
            description="Short-time objective intelligibility (pystoi), 16 kHz input",
        ),
    )
}
DEFAULT_METRICS: tuple[str, ...] = ("pesq_wb", "stoi")


def get_metric(name: str) -> MetricDef:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
