"""Random-weight construction helpers shared by the neural families.

Several upstreams (EnCodec, Mimi, X-Codec, WavTokenizer, SpeechTokenizer) start
with all-zero VQ codebooks, so a model built from its config emits token 0
everywhere. kodek seeds such codebooks once from data: vectors the encoder
produces on a deterministic calibration signal, stage by stage for residual
quantisers, plus a little noise. Everything here is seeded.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np


def calibration_audio(sample_rate: int, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A deterministic speech-like signal: gliding harmonic tones, noise bursts, pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 110 + 60 * np.sin(2 * np.pi * 0.7 * t) + 40 * rng.standard_normal() * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t) ** 2
    noise = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 1.3 * t) > 0.6)
    wave = 0.25 * voiced * envelope + 0.08 * noise
    wave[int(0.45 * len(t)) : int(0.5 * len(t))] *= 0.01  # a pause
    return (0.7 * wave / np.abs(wave).max()).astype(np.float32)


def seed_residual_codebooks(vectors: Any, codebooks: Sequence[Any], *, seed: int = 0, noise: float = 0.05) -> None:
    """Fill the residual codebooks ``codebooks`` (upstream VQ codebook modules) from data.

    ``vectors`` is ``[N, D]`` (torch), the inputs of the first quantiser stage. Each stage samples
    its entries from the current residual, then the residual is updated with the nearest entry, as
    the residual quantiser itself does.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    residual = vectors.detach().float().reshape(-1, vectors.shape[-1])
    for codebook in codebooks:
        size = _entries(codebook)
        pick = torch.randint(len(residual), (size,), generator=generator)
        scale = residual.std() * noise
        embed = residual[pick] + scale * torch.randn(size, residual.shape[1], generator=generator)
        _store(codebook, embed)
        nearest = torch.cdist(residual, embed).argmin(dim=1)
        residual = residual - embed[nearest]


def _entries(codebook: Any) -> int:
    buffers = dict(codebook.named_buffers(recurse=False))
    return len(buffers["embed"] if "embed" in buffers else buffers["embed_sum"])


def _store(codebook: Any, embed: Any) -> None:
    """Write ``embed`` into a codebook whatever its upstream layout: EMA sums (``embed``/``embed_avg``, or
    Mimi's ``embed_sum`` over ``cluster_usage``), a k-means ``inited`` flag, a cached ``_embed``."""
    buffers = dict(codebook.named_buffers(recurse=False))
    for name in ("embed", "embed_avg", "embed_sum"):
        if name in buffers:
            buffers[name].copy_(embed)
    if "cluster_usage" in buffers:
        buffers["cluster_usage"].fill_(1.0)
    if "inited" in buffers:
        buffers["inited"].fill_(1.0)  # never k-means-initialise inside a forward (minutes on a CPU)
    if hasattr(codebook, "_embed"):
        codebook._embed = None  # Mimi's cached centroids


_SHARED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def shared(key: Hashable, make: Callable[[], Any]) -> Any:
    """One model object for the codec ids that are views of it (EnCodec's bandwidths, DAC's codebook
    prefixes, ...): built or loaded once while any codec holds it. Moving it (``codec.to``) moves it for all."""
    model = _SHARED.get(key)
    if model is None:
        model = make()
        _SHARED[key] = model
    return model


def load_pretrained(load: Callable[[], Any], codec_id: str, repo: str, revision: str) -> Any:
    """Call ``load`` (a ``from_pretrained``) once per checkpoint while its model is in use, turning
    Hub/network failures into a clear error."""
    from kodek.codecs.base import WeightsUnavailableError

    def attempt() -> Any:
        try:
            return load()
        except (OSError, ValueError) as error:
            short = f"weights {repo}@{revision[:12]} could not be loaded ({type(error).__name__}; offline?)"
            raise WeightsUnavailableError(
                f"{codec_id}: cannot load weights {repo}@{revision[:12]} ({type(error).__name__}: {error}). "
                f"Run where the Hugging Face Hub is reachable (with a token for gated models), "
                f"e.g. `kodek tokenize --codec {codec_id} --data bigos --split test --out DIR`, "
                "or pass --random-weights for an offline run of the architecture.",
                short=short,
            ) from error

    return shared(("pretrained", repo, revision), attempt)
