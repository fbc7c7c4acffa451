"""CER on Polish-normalised text (diacritics kept) as an ``evaluate`` module over ``kodek.metrics``."""

import datasets
import evaluate

from kodek.metrics.batch import error_rates
from kodek.metrics.text import DEFAULT_NORMALISATION, char_errors

_DESCRIPTION = """CER of hypothesis transcripts against reference transcripts, computed by `jiwer` after Polish text
normalisation. The normalisation variants follow BIGOS: `none`, `lowercase`, `punctuation` (punctuation and
BIGOS tags such as <unk> or [noise] removed) and `all` (default: tags and punctuation removed, lowercased,
whitespace collapsed). Diacritics are always kept: ł is never mapped to l, ą never to a. `cer` is pooled over the
corpus (all errors over all reference characters), as ASR benchmarks report it; the per-item mean is given
too. A reference that is empty after normalisation has no CER: reported as missing, never as 0 or 1."""

_CITATION = r"""@misc{jiwer,
  title={jiwer: evaluate your speech recognition system},
  author={Vaessen, Nik},
  howpublished={\url{https://github.com/jitsi/jiwer}}
}
@misc{junczyk2024bigos,
  title={Framework for Curating Speech Datasets and Evaluating {ASR} Systems: A Case Study for {Polish}},
  author={Junczyk, Micha{\l}},
  eprint={2408.00005}, archivePrefix={arXiv}, year={2024}
}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: hypothesis transcripts (strings).
    references: reference transcripts (strings), same order.
    normalisation: "none", "lowercase", "punctuation" or "all" (default).
Returns:
    cer: pooled CER (errors / reference characters), >= 0 (can exceed 1 with insertions);
        None if no reference is usable.
    cer_mean_per_item: mean of the per-item rates.
    cer_per_item: one rate per pair, None where missing.
    missing, missing_reasons: items without a value and why.
    normalisation: the variant used.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Cer(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=[
                "https://github.com/jitsi/jiwer",
                "https://huggingface.co/datasets/amu-cai/pl-asr-bigos-v2",
            ],
        )

    def _compute(self, predictions, references, normalisation=DEFAULT_NORMALISATION):
        return error_rates("cer", char_errors, references, predictions, normalisation)
