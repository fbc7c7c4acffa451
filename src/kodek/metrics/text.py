"""Polish transcript normalisation and word/character error rates (``jiwer``).

The variants follow BIGOS's evaluation tools (none, lowercase, punctuation, all)
with one rule of kodek's own: **diacritics are kept**. ``ł`` is a letter of its own
in Polish, not ``l`` with an accent, and ``ą``/``a`` distinguish words (``są``/``sa``);
mapping them away would hide exactly the errors a codec makes on Polish sounds.
Every variant but ``none`` first brings the text to Unicode NFC, so that a decomposed
``a`` + combining ogonek equals the precomposed ``ą``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from kodek.metrics.intrusive import MetricUnavailable

NORMALISATIONS: tuple[str, ...] = ("none", "lowercase", "punctuation", "all")
DEFAULT_NORMALISATION = "all"

# BIGOS-style markup in references: <unk>, <sil>, [noise], [laughter], {breath} ...
_TAG = re.compile(r"<[^<>\s]*>|\[[^\[\]]*\]|\{[^{}]*\}")
_SPACE = re.compile(r"\s+")


def _remove_punctuation(text: str) -> str:
    """Drop every Unicode punctuation character (categories P*), as jiwer's RemovePunctuation does.

    Letters with diacritics are category L and stay; so do digits and symbols such as ``%``.
    """
    return "".join(c for c in text if not unicodedata.category(c).startswith("P"))


def normalise(text: str, variant: str = DEFAULT_NORMALISATION) -> str:
    """``text`` normalised with one of :data:`NORMALISATIONS`.

    - ``none``: unchanged;
    - ``lowercase``: lowercased;
    - ``punctuation``: BIGOS tags and punctuation removed, case kept;
    - ``all``: tags and punctuation removed, lowercased, whitespace collapsed and stripped.

    Whitespace is always collapsed for scoring (jiwer splits on it), so variants differ only
    in case, punctuation and tags.
    """
    if variant not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {variant!r}; one of {', '.join(NORMALISATIONS)}")
    if variant == "none":
        return text
    text = unicodedata.normalize("NFC", text)
    if variant in ("punctuation", "all"):
        text = _remove_punctuation(_TAG.sub(" ", text))
    if variant in ("lowercase", "all"):
        text = text.lower()
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class ErrorRate:
    """An error rate with its denominator, so that rates pool exactly over utterances."""

    rate: float
    errors: int  # substitutions + deletions + insertions
    length: int  # words (WER) or characters (CER) of the reference


def pooled_rate(errors: Iterable[float | None], lengths: Iterable[float | None]) -> float | None:
    """Corpus-level error rate: all errors over all reference words (or characters), not a mean of rates.

    ``errors[i]`` and ``lengths[i]`` are utterance i's edits and reference length; an utterance where either is
    unknown (None or NaN) is left out. None when no reference unit is left.
    """
    total_errors = total_length = 0.0
    for count, length in zip(errors, lengths, strict=True):
        if count is None or length is None or not (math.isfinite(count) and math.isfinite(length)):
            continue
        total_errors += count
        total_length += length
    return total_errors / total_length if total_length else None


def _prepare(reference: str, hypothesis: str, variant: str) -> tuple[str, str]:
    ref = _SPACE.sub(" ", normalise(reference, variant)).strip()
    hyp = _SPACE.sub(" ", normalise(hypothesis, variant)).strip()
    if not ref:
        raise MetricUnavailable("reference empty after normalisation")
    return ref, hyp


def word_errors(reference: str, hypothesis: str, variant: str = DEFAULT_NORMALISATION) -> ErrorRate:
    """WER of ``hypothesis`` against ``reference`` (jiwer ``process_words``) after normalisation."""
    import jiwer

    ref, hyp = _prepare(reference, hypothesis, variant)
    out = jiwer.process_words(ref, hyp)
    errors = out.substitutions + out.deletions + out.insertions
    return ErrorRate(float(out.wer), int(errors), int(out.hits + out.substitutions + out.deletions))


def char_errors(reference: str, hypothesis: str, variant: str = DEFAULT_NORMALISATION) -> ErrorRate:
    """CER (jiwer ``process_characters``: spaces count as characters) after normalisation."""
    import jiwer

    ref, hyp = _prepare(reference, hypothesis, variant)
    out = jiwer.process_characters(ref, hyp)
    errors = out.substitutions + out.deletions + out.insertions
    return ErrorRate(float(out.cer), int(errors), int(out.hits + out.substitutions + out.deletions))


def wer(reference: str, hypothesis: str, variant: str = DEFAULT_NORMALISATION) -> float:
    return word_errors(reference, hypothesis, variant).rate


def cer(reference: str, hypothesis: str, variant: str = DEFAULT_NORMALISATION) -> float:
    return char_errors(reference, hypothesis, variant).rate
