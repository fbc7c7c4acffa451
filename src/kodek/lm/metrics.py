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
import re
import unicodedata
from collections.abc import Sequence

NORMALISATION = "lowercase, punctuation removed, whitespace collapsed; diacritics kept"


def perplexity(nll_sum: float, tokens: int) -> float | None:
    return math.exp(nll_sum / tokens) if tokens else None


def bits_per_char(nll_sum: float, chars: int) -> float | None:
    return nll_sum / (math.log(2) * chars) if chars else None


def normalise(text: str) -> str:
    """Lowercase, drop punctuation and symbols, collapse spaces; Polish letters stay as they are."""
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[float | None, float | None]:
    """Corpus CER and WER (total edits / total reference characters or words) after :func:`normalise`."""
    import jiwer

    pairs = [(normalise(r), normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return None, None
    refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
    return float(jiwer.cer(refs, hyps)), float(jiwer.wer(refs, hyps))


def utterance_error_rates(reference: str, hypothesis: str) -> tuple[float | None, float | None]:
    return error_rates([reference], [hypothesis])
