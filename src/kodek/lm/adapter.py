"""The trainable adapter: codec frames -> fixed-rate windows -> vectors in the LLM's embedding space.

``codes [B, K, F]`` -> per-codebook embeddings summed per frame ``[B, F, D]`` (or
continuous frame vectors through LayerNorm + Linear) -> frames grouped ``k`` at a
time (one 80 ms window; the last window zero-padded, never dropped) -> each window's
``k`` frames resampled to ``S`` slots (adaptive average pooling over time) ``[B, W, S*D]``
-> MLP -> LayerNorm at the LLM's hidden size ``[B, W, H]``. The final norm's gain starts
at the RMS of the LLM's own input embeddings, so that audio vectors enter the LLM
at the scale its text embeddings have.

The projector's width (``S*D`` in, ``projector_hidden``, ``H`` out) is the same for
every codec: a 12.5 Hz codec and 16 kHz PCM get the same trainable transform per
window. Only the embedding tables (one ``D``-vector per code, a lookup) grow with
the codec's vocabulary; their size is recorded apart from the projector's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kodek.lm.config import AdapterConfig, windows


class CodeEmbedder(nn.Module):
    """One embedding table per codebook, summed per frame."""

    def __init__(self, codebook_sizes: Sequence[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size, dim) for size in codebook_sizes)
        self.dim = dim

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, K, F]`` integer codes -> ``[B, F, D]``."""
        if codes.shape[1] != len(self.tables):
            raise ValueError(f"expected {len(self.tables)} codebooks, got {codes.shape[1]}")
        out = self.tables[0](codes[:, 0])
        for k in range(1, len(self.tables)):
            out = out + self.tables[k](codes[:, k])
        return out


class ContinuousEmbedder(nn.Module):
    """Continuous frame features (SSL layer outputs, k-means centroids) -> LayerNorm -> Linear."""

    def __init__(self, feature_dim: int, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(feature_dim)
        self.linear = nn.Linear(feature_dim, dim)
        self.dim = dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, F, Dfeat]`` -> ``[B, F, D]``."""
        return self.linear(self.norm(features))


def stack_frames(
    frames: torch.Tensor, lengths: torch.Tensor, factor: int, slots: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, F, D]`` -> ``[B, ceil(F/k), k*D]`` and window counts; frames past each item's length are zeros.
    With ``slots``, each window's ``k`` frames are first resampled to ``slots`` (adaptive average pooling over
    time): ``[B, ceil(F/k), slots*D]`` whatever ``k`` is.

    Zeroing before stacking makes an item's last (partial) window the same whatever else is in the batch.
    """
    batch, num_frames, dim = frames.shape
    valid = torch.arange(num_frames, device=frames.device)[None, :] < lengths[:, None]
    frames = frames * valid[..., None].to(frames.dtype)
    total = windows(num_frames, factor) * factor
    if total > num_frames:
        frames = nn.functional.pad(frames, (0, 0, 0, total - num_frames))
    count = total // factor
    if slots is not None and slots != factor:
        grouped = frames.reshape(batch * count, factor, dim).transpose(1, 2)  # [B*W, D, k]
        pooled = nn.functional.adaptive_avg_pool1d(grouped, slots)  # [B*W, D, S]
        stacked = pooled.transpose(1, 2).reshape(batch, count, slots * dim)
    else:
        stacked = frames.reshape(batch, count, factor * dim)
    return stacked, torch.div(lengths + factor - 1, factor, rounding_mode="floor")


class Projector(nn.Module):
    """MLP to the LLM's hidden size, with a LayerNorm at the end."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, out_scale: float = 1.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
        self.norm = nn.LayerNorm(out_dim)
        with torch.no_grad():
            self.norm.weight.fill_(out_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(x))


class SpeechAdapter(nn.Module):
    """Embedder + frame stacking + projector: what trains."""

    def __init__(
        self,
        config: AdapterConfig,
        *,
        factor: int,
        llm_hidden: int,
        codebook_sizes: Sequence[int] | None = None,
        feature_dim: int | None = None,
        out_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.factor = factor
        self.slots = config.slots
        if config.input == "codes":
            if not codebook_sizes:
                raise ValueError("a code adapter needs the codebook sizes")
            self.embed: nn.Module = CodeEmbedder(codebook_sizes, config.embed_dim)
        else:
            if not feature_dim:
                raise ValueError("a continuous adapter needs the feature dimension")
            self.embed = ContinuousEmbedder(feature_dim, config.embed_dim)
        self.projector = Projector(
            config.slots * config.embed_dim, config.projector_hidden, llm_hidden, config.dropout, out_scale
        )

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """codes ``[B, K, F]`` (or features ``[B, F, Dfeat]``) + frame counts -> ``[B, W, H]`` + window counts."""
        frames = self.embed(inputs)
        stacked, counts = stack_frames(frames, lengths, self.factor, self.slots)
        return self.projector(stacked), counts


def parameter_counts(adapter: SpeechAdapter) -> dict[str, int]:
    """Parameters of the codec-independent transform (``projector``: the same for every codec) and of the
    embedding lookup (``embedding``: one vector per code, so it scales with the codec's vocabulary)."""
    projector = sum(p.numel() for p in adapter.projector.parameters())
    embedding = sum(p.numel() for p in adapter.embed.parameters())
    return {"projector": projector, "embedding": embedding, "total": projector + embedding}


def build_adapter(config: AdapterConfig, **kwargs: Any) -> SpeechAdapter:
    """The adapter with weights drawn from ``config.seed`` alone (this is the `init` condition's adapter);
    ``kwargs`` are :class:`SpeechAdapter`'s."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return SpeechAdapter(config, **kwargs)
