"""PESQ (ITU-T P.862 narrow-band, P.862.2 wide-band) as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate

from kodek.metrics.batch import AUTO, pairwise
from kodek.metrics.registry import METRICS

_DESCRIPTION = """Perceptual Evaluation of Speech Quality (PESQ) of degraded speech against its clean reference,
computed by the `pesq` package (the ITU-T reference C code). Wide-band mode (P.862.2) at 16 kHz, narrow-band
mode (P.862 with the P.862.1 MOS-LQO mapping) at 8 kHz. Each pair is prepared exactly as `kodek score` prepares
it: the prediction is resampled to the metric's rate (soxr), the codec's constant delay (estimated from the pairs
by cross-correlation, or given) is removed, and the prediction is fitted to the reference's length (a short one is
padded with zeros: the missing end is lost audio; an extra tail is ignored; the reference is never cut).
A reference that is silent or shorter than 0.25 s has no PESQ: missing, left out of the mean. A prediction that is
silent, empty, NaN, or gets no value while its reference does has failed: it counts at PESQ's floor (1.0)."""

_CITATION = """@inproceedings{rix2001pesq,
  title={Perceptual evaluation of speech quality ({PESQ}) - a new method for speech quality assessment of
         telephone networks and codecs},
  author={Rix, Antony W. and Beerends, John G. and Hollier, Michael P. and Hekstra, Andries P.},
  booktitle={ICASSP},
  year={2001}
}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: degraded (e.g. decoded) waveforms, lists or 1-D arrays of floats in [-1, 1].
    references: the clean reference waveforms, same order.
    sample_rate: rate of the inputs in Hz (default 16000).
    mode: "wb" (wide-band, 16 kHz, default) or "nb" (narrow-band, 8 kHz).
    delay_ms: "auto" (default: estimated from the pairs), a number of milliseconds, or 0 (no compensation).
Returns:
    pesq: mean PESQ, failed items counted at 1.0 (None if no item has a value); wb range 1.04-4.64, nb 1.02-4.55.
    pesq_per_item: one value per pair, None where missing or failed.
    missing, missing_reasons: items whose reference has no value, and why (left out of the mean).
    failed, failed_reasons: items whose prediction failed, and why (counted at the floor).
    floor, delay_ms, mode: the floor used, the delay compensated (None: none established), the mode.
"""

_RATES = {"wb": 16_000, "nb": 8_000}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Pesq(evaluate.Metric):
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
            reference_urls=["https://www.itu.int/rec/T-REC-P.862", "https://github.com/ludlows/PESQ"],
        )

    def _compute(self, predictions, references, sample_rate=16_000, mode="wb", delay_ms=AUTO):
        if mode not in _RATES:
            raise ValueError(f"mode must be 'wb' or 'nb', not {mode!r}")
        metric = METRICS[f"pesq_{mode}"]  # the scorer's own definition
        out = pairwise(
            "pesq",
            metric.load(),
            references,
            predictions,
            sample_rate=sample_rate,
            metric_rate=metric.sample_rate,
            floor=metric.floor(),
            delay_ms=delay_ms,
        )
        return {**out, "mode": mode}
