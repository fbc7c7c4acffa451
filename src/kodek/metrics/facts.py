"""Codec facts measured from a token dataset: bitrate, tokens per second, codebook usage and entropy.

Everything here is computed from the actual code tensors (``[num_codebooks, num_frames]``
per utterance) and the durations of the original audio, not taken from the spec:

- ``bitrate_bps_measured``: frames per second of audio x sum over codebooks of log2(codebook size),
  the bitrate of the tokens as stored (fixed-length codes);
- ``tokens_per_second``: frames per second x number of codebooks;
- per codebook ``usage``: the fraction of its entries that occur at least once, and ``entropy_bits``:
  the unigram (zeroth-order) entropy of its codes in bits, Miller-Madow bias-corrected
  (``H_ML + (m - 1) / (2 N ln 2)``, m = entries seen, N = ``tokens``, the sample size; the plug-in
  estimate ``entropy_ml_bits`` alone is biased low on small samples), capped at log2(size);
  ``entropy_bitrate_bps`` = frames per second x the sum of those entropies, the rate an ideal
  memoryless entropy coder would reach;
- per codebook ``out_of_range``: codes outside ``[0, size)``, counted as errors and left out of
  the statistics (``out_of_range_total`` over all codebooks).
- real-time factors: seconds of compute per second of audio (``encode_rtf``, ``decode_rtf``),
  when the caller measured them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def codebook_stats(codes: Sequence[np.ndarray], codebook_sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Usage and unigram entropy of every codebook over all utterances."""
    stats = []
    for k, size in enumerate(codebook_sizes):
        counts = np.zeros(int(size), dtype=np.int64)
        errors = 0
        for item in codes:
            if item.shape[1]:
                row = np.asarray(item[k], dtype=np.int64)
                valid = (row >= 0) & (row < int(size))
                errors += int((~valid).sum())
                counts += np.bincount(row[valid], minlength=int(size))
        total = int(counts.sum())
        used = int((counts > 0).sum())
        p = counts[counts > 0] / total if total else np.zeros(0)
        plug_in = float(-(p * np.log2(p)).sum()) if total else None
        corrected = (
            min(plug_in + (used - 1) / (2 * total * np.log(2)), float(np.log2(size))) if plug_in is not None else None
        )
        stats.append(
            {
                "codebook": k,
                "size": int(size),
                "tokens": total,
                "out_of_range": errors,
                "used": used,
                "usage": float(used / size) if total else None,
                "entropy_bits": corrected,
                "entropy_ml_bits": plug_in,
                "entropy_estimator": "miller-madow",
                "entropy_max_bits": float(np.log2(size)),
            }
        )
    return stats


def codec_facts(
    codes: Sequence[np.ndarray],
    durations_s: Sequence[float],
    codebook_sizes: Sequence[int],
    *,
    encode_seconds: float | None = None,
    encode_audio_seconds: float | None = None,
    decode_seconds: float | None = None,
    decode_audio_seconds: float | None = None,
) -> dict[str, Any]:
    """The facts of one codec's tokens (see the module docstring). ``codes`` are ``[K, F]`` arrays."""
    if codes and any(c.shape[0] != len(codebook_sizes) for c in codes):
        raise ValueError(f"codes must have {len(codebook_sizes)} codebooks")
    seconds = float(np.sum(durations_s))
    frames = int(sum(c.shape[1] for c in codes))
    rate = frames / seconds if seconds else None
    per_codebook = codebook_stats(codes, codebook_sizes)
    entropies = [c["entropy_bits"] for c in per_codebook]
    usages = [c["usage"] for c in per_codebook]
    known = all(e is not None for e in entropies) and rate is not None
    return {
        "utterances": len(codes),
        "audio_s": seconds,
        "frames": frames,
        "frame_rate_measured": rate,
        "tokens_per_second": rate * len(codebook_sizes) if rate else None,
        "bitrate_bps_measured": rate * float(np.sum(np.log2(codebook_sizes))) if rate else None,
        "entropy_bitrate_bps": rate * float(np.sum(entropies)) if known else None,
        "codebook_usage_mean": float(np.mean(usages)) if all(u is not None for u in usages) else None,
        "entropy_bits_mean": float(np.mean(entropies)) if known else None,
        "codebooks": per_codebook,
        "entropy_sample_tokens": min((c["tokens"] for c in per_codebook), default=0),
        "out_of_range_total": int(sum(c["out_of_range"] for c in per_codebook)),
        "encode_rtf": encode_seconds / encode_audio_seconds
        if encode_seconds is not None and encode_audio_seconds
        else None,
        "decode_rtf": decode_seconds / decode_audio_seconds
        if decode_seconds is not None and decode_audio_seconds
        else None,
    }
