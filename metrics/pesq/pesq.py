"""PESQ (ITU-T P.862 narrow-band, P.862.2 wide-band) as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate

from kodek.metrics.batch import pairwise
from kodek.metrics.intrusive import pesq

_DESCRIPTION = """Perceptual Evaluation of Speech Quality (PESQ) of degraded speech against its clean reference,
computed by the `pesq` package (the ITU-T reference C code). Wide-band mode (P.862.2) at 16 kHz, narrow-band
mode (P.862 with the P.862.1 MOS-LQO mapping) at 8 kHz; inputs at other rates are resampled first. Pairs of
unequal length are cut to the shorter one. Silence or audio shorter than 0.25 s has no PESQ: such items are
reported as missing with the reason, never scored as 1.0 or 0.0."""

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
Returns:
    pesq: mean PESQ over the items that have a value (None if none has); wb range 1.04-4.64, nb 1.02-4.55.
    pesq_per_item: one value per pair, None where missing.
    missing: number of items without a value; missing_reasons: why.
    mode: the mode used.
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

    def _compute(self, predictions, references, sample_rate=16_000, mode="wb"):
        if mode not in _RATES:
            raise ValueError(f"mode must be 'wb' or 'nb', not {mode!r}")
        rate = _RATES[mode]
        out = pairwise(
            "pesq",
            lambda ref, deg: pesq(ref, deg, rate, mode),
            references,
            predictions,
            sample_rate=sample_rate,
            metric_rate=rate,
        )
        return {**out, "mode": mode}
