"""STOI and extended STOI as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate

from kodek.metrics.batch import AUTO, pairwise
from kodek.metrics.registry import METRICS

_DESCRIPTION = """Short-Time Objective Intelligibility (STOI, Taal et al. 2011) or, with `extended=True`, extended
STOI (ESTOI, Jensen & Taal 2016) of degraded speech against its clean reference, computed by `pystoi`. Each pair is
prepared exactly as `kodek score` prepares it: the prediction is resampled to 16 kHz (soxr; pystoi resamples
internally to 10 kHz), the codec's constant delay (estimated from the pairs by cross-correlation, or given) is
removed, and the prediction is fitted to the reference's length (a short one is padded with zeros: lost audio; an
extra tail is ignored; the reference is never cut). STOI does not align signals itself: without the delay
compensation a pure 20 ms shift would score 0.71 instead of 1.0. A reference without speech, or with fewer than
30 speech frames (about 0.4 s), has no value: missing. A silent, empty or NaN prediction has failed: it counts at
the floor (STOI 0, ESTOI -1)."""

_CITATION = """@article{taal2011stoi,
  title={An algorithm for intelligibility prediction of time-frequency weighted noisy speech},
  author={Taal, Cees H. and Hendriks, Richard C. and Heusdens, Richard and Jensen, Jesper},
  journal={IEEE Transactions on Audio, Speech, and Language Processing},
  volume={19}, number={7}, pages={2125--2136}, year={2011}
}
@article{jensen2016estoi,
  title={An algorithm for predicting the intelligibility of speech masked by modulated noise maskers},
  author={Jensen, Jesper and Taal, Cees H.},
  journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
  volume={24}, number={11}, pages={2009--2022}, year={2016}
}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: degraded waveforms (floats in [-1, 1]).
    references: clean reference waveforms, same order.
    sample_rate: rate of the inputs in Hz (default 16000).
    extended: False for STOI (default), True for ESTOI.
    delay_ms: "auto" (default: estimated from the pairs), a number of milliseconds, or 0 (no compensation).
Returns:
    stoi (or estoi): mean, failed items counted at the floor; STOI lies in [0, 1], ESTOI mostly in [0, 1].
    stoi_per_item (or estoi_per_item): one value per pair, None where missing or failed.
    missing, missing_reasons: items whose reference has no value, and why (left out of the mean).
    failed, failed_reasons: items whose prediction failed, and why (counted at the floor).
    floor, delay_ms: the floor used and the delay compensated (None: none established).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Stoi(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("float32")),
                }
            ),
            reference_urls=["https://github.com/mpariente/pystoi"],
        )

    def _compute(self, predictions, references, sample_rate=16_000, extended=False, delay_ms=AUTO):
        metric = METRICS["estoi" if extended else "stoi"]  # the scorer's own definition
        return pairwise(
            metric.name,
            metric.load(),
            references,
            predictions,
            sample_rate=sample_rate,
            metric_rate=metric.sample_rate,
            floor=metric.floor(),
            delay_ms=delay_ms,
        )
