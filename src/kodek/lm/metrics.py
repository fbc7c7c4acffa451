"""Corpus-level SpeechLLM metrics from summed negative log-likelihoods, and the greedy-decoding check.

PPL = exp(sum NLL / sum tokens) over every scored token of the split (transcript
tokens and the end-of-turn token), in float64 from per-utterance float32 sums;
never a mean of per-batch or per-utterance perplexities. Bits per character
divides the same NLL, in bits, by the transcripts' characters (Unicode code
points): unlike PPL, it does not depend on how the LLM's tokenizer cuts the text,
so LLMs with different tokenizers compare.
"""

from __future__ import annotations

import math

from kodek.metrics.text import ErrorRate, MetricUnavailable, char_errors, word_errors

NORMALISATION = "all"  # kodek.metrics.text: tags and punctuation removed, lowercased; diacritics kept


def perplexity(nll_sum: float, tokens: int) -> float | None:
    return math.exp(nll_sum / tokens) if tokens else None


def bits_per_char(nll_sum: float, chars: int) -> float | None:
    return nll_sum / (math.log(2) * chars) if chars else None


def utterance_error_rates(reference: str, hypothesis: str) -> tuple[ErrorRate | None, ErrorRate | None]:
    """CER and WER of one greedy transcript (None where the reference is empty after normalisation)."""
    try:
        return char_errors(reference, hypothesis, NORMALISATION), word_errors(reference, hypothesis, NORMALISATION)
    except MetricUnavailable:
        return None, None
