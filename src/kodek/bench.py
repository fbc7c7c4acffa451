"""``kodek bench``: how fast the pipeline runs, and where its time goes.

``bench tokenize`` measures, on the same audio in one run: the end-to-end
``kodek tokenize`` wall time (decode files, resample, batch, encode, write
parquet), the codec's pure forward on the same batches, and one-by-one
encoding; the ratio of the first two is the pipeline's overhead. Every timing
is the best of ``repeat`` runs after a warm-up. It also reports how often
batched and one-by-one codes agree (float round-off can flip near-ties).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kodek import audio
from kodek.batching import length_batches


def _forward(codec, waves: list[np.ndarray], batches: list[list[int]]) -> tuple[float, list[np.ndarray]]:
    """Time ``codec.encode`` alone over the given batches; return the codes per item."""
    codes: list[np.ndarray] = [np.zeros(0)] * len(waves)
    elapsed = 0.0
    for group in batches:
        padded, lengths = audio.pad_batch([waves[i] for i in group], codec.pad_multiple)
        tick = time.perf_counter()
        out, frames = codec.encode(padded, lengths)
        elapsed += time.perf_counter() - tick
        for j, i in enumerate(group):
            codes[i] = out[j, :, : frames[j]]
    return elapsed, codes


def _best(runs: int, measure) -> tuple[float, Any]:
    """The fastest of ``runs`` calls of ``measure() -> (seconds, result)``."""
    return min((measure() for _ in range(runs)), key=lambda r: r[0])


def bench_tokenize(
    codec_id: str,
    *,
    data: str = "sample",
    split: str = "test",
    random_weights: bool = False,
    batch_seconds: float | None = None,
    max_batch: int | None = None,
    repeat: int = 3,
    device: str = "cpu",
    token: str | bool | None = None,
    kmeans: str | None = None,
) -> dict[str, Any]:
    from kodek.codecs import build_codec
    from kodek.data.source import load_source
    from kodek.tokenize import pipeline

    codec = build_codec(codec_id, random_weights=random_weights, device=device, kmeans=kmeans)
    source = load_source(data, split, token=token)
    default_seconds, default_batch = pipeline.batching_defaults(device)
    batch_seconds, max_batch = batch_seconds or default_seconds, max_batch or default_batch

    def run_pipeline() -> tuple[float, None]:
        with tempfile.TemporaryDirectory() as tmp:
            stats = pipeline.tokenize(
                codec, source, Path(tmp), batch_seconds=batch_seconds, max_batch=max_batch, progress=False
            )
        return stats.wall_s, None

    # The same audio, already decoded and resampled: only the codec runs below.
    items, _ = pipeline._load_items(source, list(range(len(source.dataset))), codec.spec.sample_rate)
    waves = [item.wave for item in items]
    size = max_batch if codec.batch_invariant else 1
    budget = int(batch_seconds * codec.spec.sample_rate)
    batches = length_batches([len(w) for w in waves], size, budget=budget, multiple=codec.pad_multiple)

    _forward(codec, waves[:1], [[0]])  # warm-up: first-call allocations, lazy inits
    pipeline_s, _ = _best(repeat, run_pipeline)
    batched_s, batched_codes = _best(repeat, lambda: _forward(codec, waves, batches))
    single_s, single_codes = _best(repeat, lambda: _forward(codec, waves, [[i] for i in range(len(waves))]))
    equal = sum(int((a == b).sum()) for a, b in zip(batched_codes, single_codes, strict=True) if a.shape == b.shape)
    total = sum(a.size for a in single_codes)
    seconds = sum(item.duration_s for item in items)
    return {
        "codec": codec_id,
        "random_weights": random_weights,
        "device": device,
        "data": f"{data}/{split}",
        "utterances": len(items),
        "audio_s": round(seconds, 2),
        "batching": f"max {max_batch} utterances, {batch_seconds:g} s padded audio",
        "batches": len(batches),
        "repeat": repeat,
        "pipeline_wall_s": round(pipeline_s, 3),
        "forward_batched_s": round(batched_s, 3),
        "forward_one_by_one_s": round(single_s, 3),
        "pipeline_overhead": round(pipeline_s / batched_s, 2) if batched_s else None,
        "pipeline_audio_s_per_s": round(seconds / pipeline_s, 1),
        "batched_audio_s_per_s": round(seconds / batched_s, 1) if batched_s else None,
        "one_by_one_audio_s_per_s": round(seconds / single_s, 1) if single_s else None,
        "batched_equals_one_by_one": round(equal / total, 6) if total else None,
    }
