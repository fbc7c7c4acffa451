"""STOI and extended STOI as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate

from kodek.metrics.batch import pairwise
from kodek.metrics.intrusive import stoi

_DESCRIPTION = """Short-Time Objective Intelligibility (STOI, Taal et al. 2011) or, with `extended=True`, extended
STOI (ESTOI, Jensen & Taal 2016) of degraded speech against its clean reference, computed by `pystoi`. Inputs are
resampled to 16 kHz (pystoi resamples internally to 10 kHz); pairs of unequal length are cut to the shorter.
A reference without speech, or fewer than 30 speech frames (about 0.4 s), has no value: reported as missing."""

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
Returns:
    stoi (or estoi): mean over the items that have a value; STOI lies in [0, 1], ESTOI mostly in [0, 1].
    stoi_per_item (or estoi_per_item): one value per pair, None where missing.
    missing, missing_reasons: items without a value and why.
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

    def _compute(self, predictions, references, sample_rate=16_000, extended=False):
        return pairwise(
            "estoi" if extended else "stoi",
            lambda ref, deg: stoi(ref, deg, 16_000, extended=extended),
            references,
            predictions,
            sample_rate=sample_rate,
            metric_rate=16_000,
        )
