"""Speaker similarity: cosine of speaker embeddings of the original and the reconstruction.

Two embedders:

- ``microsoft/wavlm-base-plus-sv`` (default): WavLM Base+ fine-tuned for speaker
  verification with an x-vector head, through ``transformers`` ``WavLMForXVector`` and
  its feature extractor, at a pinned revision;
- ``resemblyzer``: the GE2E d-vector LSTM of the ``resemblyzer`` package, whose weights
  ship inside the package (works offline); it trims silence with WebRTC VAD first.

Any other ``*ForXVector`` checkpoint (a Hub id or a local folder) works like the default.
Similarity is the cosine of the two embeddings, in [-1, 1]; higher is more alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.models import (
    MODEL_RATE,
    ModelRef,
    auto_device,
    is_missing,
    length_groups,
    missing,
    model_source,
    resolved,
    unavailable,
)

DEFAULT_SPEAKER_MODEL = "microsoft/wavlm-base-plus-sv"
# Commit pinned by several public projects (exact-string search of public GitHub code: speaker-similarity
# implementations that pin it with the sha256 of its model.safetensors); the commit loaded is recorded with results.
DEFAULT_SPEAKER_REVISION = "1bfd64eca136543feb28c5ffaf05381c6af33121"
RESEMBLYZER = "resemblyzer"
MIN_SECONDS = 0.1  # below this the x-vector TDNN has no frames


class SpeakerEmbedder(Protocol):
    ref: ModelRef

    def describe(self) -> dict[str, Any]: ...

    def embed(self, waves: Sequence[np.ndarray]) -> list[Any]:
        """One embedding (a list of floats) per 16 kHz wave, or :func:`missing` with the reason."""
        ...


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not norm or not np.isfinite(norm):
        raise MetricUnavailable("zero or non-finite speaker embedding")
    return float(np.dot(a, b) / norm)


def similarity(reference_embedding: Any, degraded_embedding: Any) -> float:
    """Cosine of two :meth:`SpeakerEmbedder.embed` outputs; a missing embedding gives no value."""
    for item in (reference_embedding, degraded_embedding):
        if is_missing(item):
            raise MetricUnavailable(item["missing"])
    return cosine(np.asarray(reference_embedding), np.asarray(degraded_embedding))


def speaker_similarity(reference: np.ndarray, degraded: np.ndarray, embedder: SpeakerEmbedder) -> float:
    """Speaker similarity of one pair of 16 kHz waves."""
    ref, deg = embedder.embed([reference, degraded])
    return similarity(ref, deg)


class XVectorEmbedder:
    """A ``transformers`` ``*ForXVector`` model with its feature extractor."""

    def __init__(self, model, feature_extractor, ref: ModelRef, device: str = "cpu", max_batch: int = 16) -> None:
        self.model = model.to(device).eval()
        self.feature_extractor = feature_extractor
        self.ref = ref
        self.device = device
        self.max_batch = max_batch
        # Zero padding is exact only where the feature encoder does not normalise over time.
        self.pad = getattr(model.config, "feat_extract_norm", "group") == "layer" and bool(
            getattr(feature_extractor, "return_attention_mask", False)
        )

    @classmethod
    def from_pretrained(
        cls, ref: ModelRef, device: str | None = None, *, local_files_only: bool = False
    ) -> XVectorEmbedder:
        try:
            source, where = model_source(ref, local_files_only)  # before importing transformers (seconds)
            from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

            model = AutoModelForAudioXVector.from_pretrained(source, **where)
            extractor = AutoFeatureExtractor.from_pretrained(source, **where)
        except (OSError, ValueError, ImportError) as error:
            raise unavailable(ref, error) from error
        return cls(model, extractor, resolved(ref, model), auto_device(device))

    def describe(self) -> dict[str, Any]:
        return {**self.ref.describe(), "kind": "x-vector", "class": type(self.model).__name__}

    def embed(self, waves: Sequence[np.ndarray]) -> list[Any]:
        import torch

        out: list[Any] = [None] * len(waves)
        for i, wave in enumerate(waves):
            if len(wave) < MIN_SECONDS * MODEL_RATE:
                out[i] = missing(f"too short for a speaker embedding ({len(wave) / MODEL_RATE:.3f} s)")
        todo = [i for i in range(len(waves)) if out[i] is None]
        for group in length_groups([waves[i] for i in todo], self.max_batch, pad=self.pad):
            indices = [todo[g] for g in group]
            inputs = self.feature_extractor(
                [np.asarray(waves[i], dtype=np.float32) for i in indices],
                sampling_rate=MODEL_RATE,
                padding=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                embeddings = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).embeddings
            for i, row in zip(indices, embeddings.float().cpu().numpy(), strict=True):
                out[i] = row.astype(np.float64).tolist()
        return out


class ResemblyzerEmbedder:
    """``resemblyzer``'s VoiceEncoder: silence trimmed by its ``preprocess_wav``, then ``embed_utterance``."""

    def __init__(self, device: str | None = None) -> None:
        from importlib.metadata import version

        try:
            from resemblyzer import VoiceEncoder
        except ImportError as error:
            raise unavailable(ModelRef(RESEMBLYZER), error) from error
        self.encoder = VoiceEncoder(auto_device(device), verbose=False)
        self.ref = ModelRef(RESEMBLYZER, version("resemblyzer"))

    def describe(self) -> dict[str, Any]:
        return {"id": RESEMBLYZER, "revision": self.ref.revision, "kind": "d-vector (GE2E, weights in the package)"}

    def embed(self, waves: Sequence[np.ndarray]) -> list[Any]:
        from resemblyzer import preprocess_wav

        out: list[Any] = []
        for wave in waves:
            if not np.any(wave):
                out.append(missing("silent audio: no speaker embedding"))
                continue
            trimmed = preprocess_wav(np.asarray(wave, dtype=np.float32), source_sr=MODEL_RATE)
            if len(trimmed) < MIN_SECONDS * MODEL_RATE:
                out.append(missing("no speech left after resemblyzer's voice activity trimming"))
                continue
            out.append(self.encoder.embed_utterance(trimmed).astype(np.float64).tolist())
        return out


def load_speaker_embedder(
    name: str | None = None, device: str | None = None, *, local_files_only: bool = False
) -> SpeakerEmbedder:
    """``resemblyzer``, a local ``*ForXVector`` folder, or a Hub id (``id@revision``; default pinned)."""
    name = name or DEFAULT_SPEAKER_MODEL
    if name == RESEMBLYZER:
        return ResemblyzerEmbedder(device)
    default_revision = DEFAULT_SPEAKER_REVISION if name == DEFAULT_SPEAKER_MODEL else None
    ref = ModelRef.parse(name, default_revision)
    return XVectorEmbedder.from_pretrained(ref, device, local_files_only=local_files_only)
