"""The metrics the scorer knows: how to compute each, at which rate, which way is better.

Three kinds, run in different places by the scorer:

- ``intrusive``: a pure function of (original, reconstruction) at ``sample_rate``, run in
  the pool of CPU worker processes; a REC value only;
- ``speaker``: cosine of speaker embeddings, batched in the main process (GPU if any);
- ``asr``: from transcripts, batched in the main process (GPU if any). ``wer``/``cer`` have a
  GT value (original audio vs reference text) and a REC value (reconstruction vs reference);
  ``dwer``/``dcer`` compare the reconstruction's transcript with the original's (no reference).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kodek.errors import KodekError

INTRUSIVE, SPEAKER, ASR = "intrusive", "speaker", "asr"


@dataclass(frozen=True)
class MetricDef:
    name: str
    label: str
    function: str  # "module:callable" taking (reference, degraded) at ``sample_rate`` (intrusive only)
    sample_rate: int
    higher_is_better: bool
    value_range: tuple[float, float | None]  # None: unbounded
    kind: str = INTRUSIVE
    description: str = ""
    conditions: tuple[str, ...] = ("rec",)
    # asr metrics: "word" or "char" errors, against the reference text ("ref") or the original's transcript ("orig")
    unit: str = ""
    against: str = "ref"
    # The worst value where ``value_range`` leaves that end open (error rates, distances): what an
    # empty output scores. A failed reconstruction counts at :meth:`floor`.
    failure_value: float | None = None

    def floor(self, observed: Sequence[float] = ()) -> float:
        """The value a failed reconstruction counts at: the worst end of the metric's range.

        Where the range is open on the bad side, the worse of ``failure_value`` and the worst
        value ``observed`` for the same codec: failing can never score better than succeeding.
        """
        low, high = self.value_range
        if self.higher_is_better:
            return float(low)
        if high is not None:
            return float(high)
        worst = max((v for v in observed if v is not None and np.isfinite(v)), default=None)
        base = float(self.failure_value if self.failure_value is not None else low)
        return base if worst is None else max(base, float(worst))

    def load(self) -> Callable[[np.ndarray, np.ndarray], float]:
        module, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module), attr)


def _asr(name: str, label: str, unit: str, against: str, description: str) -> MetricDef:
    conditions = ("gt", "rec") if against == "ref" else ("rec",)
    # An empty transcript deletes every reference word (or character): rate 1.0.
    return MetricDef(name, label, "", 16_000, False, (0.0, None), ASR, description, conditions, unit, against, 1.0)


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
            "pesq_nb",
            "PESQ (nb)",
            "kodek.metrics.intrusive:pesq_nb",
            8_000,
            True,
            (1.0, 4.549),
            description="ITU-T P.862 narrow-band PESQ (P.862.1 MOS-LQO) at 8 kHz (pesq package)",
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
        MetricDef(
            "estoi",
            "ESTOI",
            "kodek.metrics.intrusive:estoi",
            16_000,
            True,
            (-1.0, 1.0),
            description="Extended STOI (pystoi, extended=True), 16 kHz input",
        ),
        MetricDef(
            "mel_distance",
            "Mel distance",
            "kodek.metrics.intrusive:mel_distance",
            16_000,
            False,
            (0.0, None),
            description="Mean |log10 mel magnitude difference| (librosa; 1024-pt STFT, hop 256, 80 mel bands), 16 kHz",
            # every band of a full-scale signal against the -100 dB magnitude floor: no reconstruction does worse
            failure_value=5.0,
        ),
        MetricDef(
            "spk_sim",
            "Speaker similarity",
            "",
            16_000,
            True,
            (-1.0, 1.0),
            SPEAKER,
            "Cosine of speaker embeddings of original and reconstruction",
        ),
        _asr("wer", "WER", "word", "ref", "Word error rate of the ASR transcript against the reference text"),
        _asr("cer", "CER", "char", "ref", "Character error rate of the ASR transcript against the reference text"),
        _asr("dwer", "dWER", "word", "orig", "WER of the reconstruction's transcript against the original's"),
        _asr("dcer", "dCER", "char", "orig", "CER of the reconstruction's transcript against the original's"),
    )
}
DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


class UnknownMetric(KodekError, ValueError):
    pass


def get_metric(name: str) -> MetricDef:
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetric(f"unknown metric {name!r}; valid names: {', '.join(METRICS)}") from None
