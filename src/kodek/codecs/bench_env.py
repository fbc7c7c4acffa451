"""``kodek bench env``: what running a codec in a worker costs next to the model's own time.

The worker times the codec's ``encode``/``decode`` itself; the proxy times the whole call (framing,
pipes, copies, waking the worker). The difference is the isolation overhead, reported side by side
with the model's time as a ratio, for the same batch.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def bench_env(codec_id: str, *, seconds: float, batch: int, repeat: int, random_weights: bool) -> dict[str, Any]:
    from kodek.audio import pad_batch
    from kodek.codecs import build_codec
    from kodek.codecs.init import calibration_audio
    from kodek.codecs.isolated import IsolatedCodec
    from kodek.envs import EnvError

    codec = build_codec(codec_id, random_weights=random_weights)
    if not isinstance(codec, IsolatedCodec):
        raise EnvError(f"{codec_id} runs in kodek's own environment: nothing to compare")
    rate = codec.spec.sample_rate
    waves, lengths = pad_batch(
        [calibration_audio(rate, seconds * (1 - 0.1 * k), seed=k) for k in range(batch)], codec.pad_multiple
    )
    result: dict[str, Any] = {"codec": codec_id, "environment": codec.env.name, "batch": batch, "seconds": seconds}
    codes, frames = codec.encode(waves, lengths)  # warm-up (first calls allocate)
    for name, call in (
        ("encode", lambda: codec.encode(waves, lengths)),
        ("decode", lambda: codec.decode(codes, frames)),
    ):
        best_total, best_model = np.inf, np.inf
        for _ in range(repeat):
            tick = time.perf_counter()
            call()
            total = time.perf_counter() - tick
            if total < best_total:
                best_total, best_model = total, codec.last_worker_seconds
        overhead = best_total - best_model
        result[name] = {
            "call_s": round(best_total, 4),
            "model_s": round(best_model, 4),
            "overhead_s": round(overhead, 4),
            "overhead_ratio": round(overhead / best_model, 4) if best_model > 0 else None,
        }
    result["payload_bytes"] = {"encode_in": int(waves.nbytes), "encode_out": int(codes.astype(np.int64).nbytes)}
    codec.close()
    return result
