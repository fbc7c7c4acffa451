"""``kodek bench score``: how fast the scorer's metrics run here, with 1 worker and with all cores.

Measured on the bundled Polish sample (repeated to get enough utterances), each original
paired with its Opus 6 kbit/s reconstruction, exactly as the scorer computes them:

- ``cpu``: PESQ (wb) + STOI per utterance in the forkserver worker pool (W workers);
- ``speaker``: speaker embeddings of original and reconstruction, batched in the main process;
- ``scorer``: both together as ``kodek score`` runs them: the pool works on the CPU metrics
  while the main process embeds the same utterances.

Each timing is the best of ``repeat`` runs after a warm-up (workers started, model loaded);
the load average before and after is reported, since other processes distort the figures. Parallel efficiency is
speed-up / cores. The projection scales the measured speed (per second of audio, and per
utterance) to a target set whose size the caller states (``target_hours``, ``target_utterances``).
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from kodek import audio

CPU_METRICS = ("pesq_wb", "stoi")


def _pairs(repeat_data: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """(original, Opus 6 kbit/s reconstruction) at 16 kHz for the sample's test split, repeated."""
    from kodek.codecs import build_codec
    from kodek.data.audiofile import load_utterance
    from kodek.data.source import load_source

    source = load_source("sample", "test")
    codec = build_codec("opus-6kbps")
    pairs = []
    for row in source.dataset:
        original, _ = load_utterance(row, 16_000)
        padded, lengths = audio.pad_batch(
            [audio.resample(original, 16_000, codec.spec.sample_rate)], codec.pad_multiple
        )
        codes, frames = codec.encode(padded, lengths)
        decoded, decoded_lengths = codec.decode(codes, frames)
        wave = audio.resample(decoded[0, : decoded_lengths[0]], codec.spec.sample_rate, 16_000)
        pairs.append((original, audio.fit_length(wave, len(original))))
    pairs = pairs * repeat_data
    return pairs, sum(len(o) for o, _ in pairs) / 16_000


def _speaker(speaker_model: str | None, device: str | None) -> tuple[Any, str]:
    """The real default embedder if its weights are here, else its architecture with random weights."""
    from kodek.metrics import random_models
    from kodek.metrics.models import ModelUnavailable
    from kodek.metrics.speaker import load_speaker_embedder

    if speaker_model != "random":
        try:
            embedder = load_speaker_embedder(speaker_model, device, local_files_only=True)
            ref = embedder.ref
            return embedder, ref.name + (f"@{ref.revision}" if ref.revision else "")
        except ModelUnavailable:
            if speaker_model:
                raise
    folder = Path(tempfile.mkdtemp(prefix="kodek-bench-xvector-"))
    embedder = load_speaker_embedder(str(random_models.xvector(folder, tiny=False)), device)
    return embedder, "random weights, WavLM Base+ x-vector architecture (as microsoft/wavlm-base-plus-sv)"


def _run(pairs, workers: int | None, embedder, batch: int) -> float:
    """Wall seconds for every pair: CPU metrics in ``workers`` processes and/or embeddings here."""
    from kodek.metrics.score import compute_metrics, single_threaded_worker

    started = time.perf_counter()
    futures = []
    pool = None
    if workers:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("forkserver"),
            initializer=single_threaded_worker,
            initargs=(os.getpid(),),
        )
        list(pool.map(_warm, range(workers)))  # workers started and imports done before timing
        started = time.perf_counter()
        futures = [pool.submit(compute_metrics, list(CPU_METRICS), o, d, 16_000, 0.0) for o, d in pairs]
    if embedder is not None:
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            embedder.embed([o for o, _ in chunk] + [d for _, d in chunk])
    for future in futures:
        future.result()
    elapsed = time.perf_counter() - started
    if pool is not None:
        pool.shutdown()
    return elapsed


def _warm(_: int) -> None:
    import pesq  # noqa: F401
    import pystoi  # noqa: F401


def bench_score(
    *,
    repeat_data: int = 4,
    speaker_model: str | None = None,
    device: str | None = None,
    batch: int = 8,
    repeat: int = 2,
    target_utterances: int | None = None,
    target_hours: float | None = None,
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    load_before = round(os.getloadavg()[0], 2)  # other processes' load distorts every timing
    pairs, audio_s = _pairs(repeat_data)
    embedder, speaker_name = _speaker(speaker_model, device)
    embedder.embed([pairs[0][0], pairs[0][1]])  # warm-up
    n = len(pairs)
    runs = {
        "cpu_1_worker_s": (1, None),
        f"cpu_{cores}_workers_s": (cores, None),
        "speaker_main_process_s": (None, embedder),
        "scorer_1_worker_s": (1, embedder),
        f"scorer_{cores}_workers_s": (cores, embedder),
    }
    # Best of ``repeat``: the least disturbed run (other processes share the machine).
    timings = {key: min(_run(pairs, w, e, batch) for _ in range(repeat)) for key, (w, e) in runs.items()}
    speeds = {key.replace("_s", "_utt_per_s"): round(n / value, 3) for key, value in timings.items()}
    one, many = timings["scorer_1_worker_s"], timings[f"scorer_{cores}_workers_s"]
    report: dict[str, Any] = {
        "metrics": [*CPU_METRICS, "spk_sim"],
        "speaker_model": speaker_name,
        "device": getattr(embedder, "device", "cpu"),
        "cores": cores,
        "repeat": repeat,
        "load_average_1min_before": load_before,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "utterances": n,
        "audio_s": round(audio_s, 2),
        "mean_utterance_s": round(audio_s / n, 2),
        **{k: round(v, 3) for k, v in timings.items()},
        **speeds,
        "cpu_parallel_efficiency": round(timings["cpu_1_worker_s"] / timings[f"cpu_{cores}_workers_s"] / cores, 3),
        "scorer_speedup": round(one / many, 3),
        "scorer_parallel_efficiency": round(one / many / cores, 3),
        "scorer_audio_s_per_s": round(audio_s / many, 2),
    }
    if target_hours:
        report["target_hours"] = target_hours
        report["projected_h_from_audio_rate"] = round(target_hours * 3600 / (audio_s / many) / 3600, 2)
    if target_utterances:
        report["target_utterances"] = target_utterances
        report["projected_h_from_utterance_rate"] = round(target_utterances / (n / many) / 3600, 2)
    return report
