"""Speaker similarity (cosine of speaker embeddings) as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate
import numpy as np

from kodek import audio
from kodek.metrics.batch import summary
from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL, load_speaker_embedder, similarity

_DESCRIPTION = """Speaker similarity between a reconstruction and its original: the cosine of their speaker
embeddings, in [-1, 1] (higher: more alike). Default embedder: `microsoft/wavlm-base-plus-sv` (WavLM Base+ with an
x-vector head, `transformers` WavLMForXVector, pinned revision), which must be downloadable or in the Hugging Face
cache. `model="resemblyzer"` uses the GE2E d-vector of the `resemblyzer` package, whose weights ship inside the
package (offline). Any `*ForXVector` Hub id (`id@revision`) or local folder also works. Inputs are resampled to
16 kHz; pairs of unequal length are cut to the shorter. Items too short to embed are reported as missing."""

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
Returns:
    speaker_similarity: mean cosine over the items that have a value, in [-1, 1].
    speaker_similarity_per_item: one value per pair, None where missing.
    missing, missing_reasons: items without a value and why.
    model: the embedder's id and revision.
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

    def _compute(self, predictions, references, sample_rate=16_000, model=DEFAULT_SPEAKER_MODEL, device=None):
        embedder = self._embedder(model, device)
        refs = [audio.resample(np.asarray(r, dtype=np.float32), sample_rate, 16_000) for r in references]
        degs = [audio.resample(np.asarray(p, dtype=np.float32), sample_rate, 16_000) for p in predictions]
        lengths = [min(len(r), len(d)) for r, d in zip(refs, degs, strict=True)]
        embeddings = embedder.embed(
            [r[:n] for r, n in zip(refs, lengths, strict=True)] + [d[:n] for d, n in zip(degs, lengths, strict=True)]
        )
        values, reasons = [], []
        for ref, deg in zip(embeddings[: len(refs)], embeddings[len(refs) :], strict=True):
            try:
                values.append(similarity(ref, deg))
                reasons.append(None)
            except ValueError as error:  # MetricUnavailable: a missing embedding
                values.append(None)
                reasons.append(str(error))
        return {**summary("speaker_similarity", values, reasons), "model": embedder.describe()}
