"""Codec facts from token tensors (bitrate, tokens/s, codebook usage and entropy) as an ``evaluate`` module."""

import datasets
import evaluate
import numpy as np

from kodek.metrics.facts import codec_facts

_DESCRIPTION = """Facts about a codec measured from its actual tokens rather than its specification: bitrate
(frames per second of audio x sum of log2 codebook sizes), tokens per second, and per codebook the usage (fraction
of its entries that occur) and the unigram entropy in bits, plus the entropy-coded bitrate those entropies imply.
Given the seconds spent encoding/decoding, also the real-time factors (compute seconds per audio second)."""

_CITATION = """@misc{kodek,
  title={kodek: a benchmark of speech tokenizers on Polish speech},
  howpublished={kodek repository}
}"""

_KWARGS_DESCRIPTION = """
Args:
    codes: one integer array per utterance, shaped [num_codebooks, num_frames].
    durations: duration of each utterance's original audio in seconds.
    codebook_size: entries per codebook: an int, or one int per codebook.
    encode_seconds / decode_seconds: optional compute time spent encoding / decoding these utterances.
Returns:
    frames, frame_rate_measured, tokens_per_second, bitrate_bps_measured, entropy_bitrate_bps,
    codebook_usage_mean (0-1), entropy_bits_mean (0-log2 size), codebooks (per codebook: size, tokens, used,
    usage, entropy_bits, entropy_max_bits), encode_rtf, decode_rtf (None unless the times are given).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CodecFacts(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "codes": datasets.Sequence(datasets.Sequence(datasets.Value("int64"))),
                    "durations": datasets.Value("float64"),
                }
            ),
        )

    def _compute(self, codes, durations, codebook_size, encode_seconds=None, decode_seconds=None):
        arrays = [np.asarray(c, dtype=np.int64).reshape(len(c), -1) for c in codes]
        sizes = (
            list(codebook_size) if isinstance(codebook_size, (list, tuple)) else [int(codebook_size)] * len(arrays[0])
        )
        audio_s = float(np.sum(durations))
        return codec_facts(
            arrays,
            durations,
            sizes,
            encode_seconds=encode_seconds,
            encode_audio_seconds=audio_s if encode_seconds is not None else None,
            decode_seconds=decode_seconds,
            decode_audio_seconds=audio_s if decode_seconds is not None else None,
        )
