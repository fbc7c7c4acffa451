"""Speaker similarity (cosine of speaker embeddings) as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate
import numpy as np

from kodek.metrics.batch import AUTO, delay_of, outcome_summary
from kodek.metrics.pairs import score_pair
from kodek.metrics.registry import METRICS
from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL, load_speaker_embedder, speaker_similarity

_DESCRIPTION = """Speaker similarity between a reconstruction and its original: the cosine of their speaker
embeddings, in [-1, 1] (higher: more alike). Default embedder: `microsoft/wavlm-base-plus-sv` (WavLM Base+ with an
x-vector head, `transformers` WavLMForXVector, pinned revision), which must be downloadable or in the Hugging Face
cache. `model="resemblyzer"` uses the GE2E d-vector of the `resemblyzer` package, whose weights ship inside the
package (offline). Any `*ForXVector` Hub id (`id@revision`) or local folder also works. Each pair is prepared
exactly as `kodek score` prepares it: resampled to 16 kHz (soxr), the codec's constant delay removed, the
prediction fitted to the reference's length (zeros for a missing end; the reference is never cut). A silent or
too short reference has no value (missing); a silent, empty or NaN prediction, or one that cannot be embedded while
its reference can, has failed and counts at the floor (-1)."""

_CITATION = """@article{chen2022wavlm,
  title={{WavLM}: Large-Scale Self-Supervised Pre-Training for Full Stack Speech Processing},
  author={Chen, Sanyuan and others},
  journal={IEEE Journal of Selected Topics in Signal Processing},
  volume={16}, number={6}, pages={1505--1518}, year={2022}
}
@inproceedings{wan2018ge2e,
  title={Generalized End-to-End Loss for Speaker Verification},
  author={Wan, Li and Wang, Quan and Papir, Alan and Moreno, Ignacio Lopez},
  booktitle={ICASSP}, year={2018}
}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: reconstructed waveforms (floats in [-1, 1]).
    references: original waveforms, same order.
    sample_rate: rate of the inputs in Hz (default 16000).
    model: speaker embedder (default microsoft/wavlm-base-plus-sv; or "resemblyzer", a Hub id, a local folder).
    device: torch device (default: cuda if available, else cpu).
    delay_ms: "auto" (default: estimated from the pairs), a number of milliseconds, or 0 (no compensation).
Returns:
    speaker_similarity: mean cosine, failed items counted at -1, in [-1, 1].
    speaker_similarity_per_item: one value per pair, None where missing or failed.
    missing, missing_reasons: items whose reference has no value, and why (left out of the mean).
    failed, failed_reasons: items whose prediction failed, and why (counted at the floor).
    floor, delay_ms, model: the floor, the delay compensated, the embedder's id and revision.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SpeakerSimilarity(evaluate.Metric):
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
            reference_urls=[
                "https://huggingface.co/microsoft/wavlm-base-plus-sv",
                "https://github.com/resemble-ai/Resemblyzer",
            ],
        )

    def _embedder(self, model, device):
        cache = self.__dict__.setdefault("_embedders", {})
        if (model, device) not in cache:
            cache[(model, device)] = load_speaker_embedder(model, device)
        return cache[(model, device)]

    def _compute(
        self, predictions, references, sample_rate=16_000, model=DEFAULT_SPEAKER_MODEL, device=None, delay_ms=AUTO
    ):
        embedder = self._embedder(model, device)
        metric = METRICS["spk_sim"]  # the scorer's own definition
        refs = [np.asarray(r, dtype=np.float32) for r in references]
        preds = [np.asarray(p, dtype=np.float32) for p in predictions]
        delay = delay_of(refs, preds, sample_rate, delay_ms)
        outcomes = [
            score_pair(
                lambda r, d: speaker_similarity(r, d, embedder),
                ref,
                sample_rate,
                pred,
                sample_rate,
                metric.sample_rate,
                delay.seconds,
            )
            for ref, pred in zip(refs, preds, strict=True)
        ]
        return {
            **outcome_summary("speaker_similarity", outcomes, metric.floor(), delay),
            "model": embedder.describe(),
        }
