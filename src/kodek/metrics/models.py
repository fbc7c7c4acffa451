"""What the model-based metrics (speaker similarity, ASR) share: naming, loading, batching, caching."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kodek.batching import length_batches
from kodek.metrics.cache import ModelCache, audio_hash

MODEL_RATE = 16_000  # every model here takes 16 kHz audio


class ModelUnavailable(RuntimeError):
    """A metric's model cannot be loaded here; the metric is reported as missing with this reason."""


@dataclass(frozen=True)
class ModelRef:
    """A model as named on the command line: a Hub id (pinned revision), a local folder, or a package name."""

    name: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str, default_revision: str | None = None) -> ModelRef:
        """``org/name``, ``org/name@revision`` or a local path (revision: a fingerprint of its files)."""
        if Path(text).exists():
            return cls(str(text), local_fingerprint(Path(text)))
        name, _, revision = text.partition("@")
        return cls(name, revision or default_revision)

    @property
    def is_local(self) -> bool:
        return Path(self.name).exists()

    def describe(self) -> dict[str, Any]:
        return {"id": self.name, "revision": self.revision}


def local_fingerprint(path: Path) -> str:
    """``local-<hash>`` of a local model's files (relative path, size, mtime): replacing the folder's
    weights changes it, so cached transcripts and embeddings of the old model are never reused."""
    import hashlib

    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        digest.update(
            f"{file.relative_to(path) if file != path else file.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
        )
    return f"local-{digest.hexdigest()[:16]}"


def auto_device(device: str | None) -> str:
    """``device`` if given, else the first CUDA GPU when there is one, else the CPU."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_source(ref: ModelRef, local_files_only: bool) -> tuple[str, dict[str, Any]]:
    """What to pass to ``from_pretrained``: the Hub id and revision, or, offline, the cached snapshot.

    Offline, the snapshot is looked up in the Hub cache first, so that no part of the
    loading (config, weights, adapter probes) tries the network and waits on retries.
    """
    if ref.is_local:
        return ref.name, {}
    if not local_files_only:
        return ref.name, {"revision": ref.revision}
    from huggingface_hub import snapshot_download

    return snapshot_download(ref.name, revision=ref.revision, local_files_only=True), {}


def resolved(ref: ModelRef, model) -> ModelRef:
    """The commit actually loaded, where the Hub resolved a branch name (a local folder has none)."""
    if ref.is_local:
        return ref
    return ModelRef(ref.name, getattr(model.config, "_commit_hash", None) or ref.revision)


def unavailable(ref: ModelRef, error: BaseException) -> ModelUnavailable:
    """The honest one-line reason for a model that could not be loaded."""
    message = str(error).strip()
    offline = ("outgoing traffic has been disabled", "couldn't connect", "cached snapshot folder", "offline mode")
    if type(error).__name__ == "LocalEntryNotFoundError" or any(s in message for s in offline):
        detail = "the Hub is unreachable and they are not in the local Hugging Face cache"
    else:
        detail = (message.splitlines()[0] if message else type(error).__name__)[:200]
    where = ref.name + (f"@{ref.revision[:12]}" if ref.revision else "")
    return ModelUnavailable(f"not available: weights for {where} not reachable ({detail})")


def length_groups(waves: Sequence[np.ndarray], max_batch: int, *, pad: bool) -> list[list[int]]:
    """Batches of indices, longest first. Without ``pad`` a batch holds equal lengths only.

    Models whose feature encoder normalises over time (GroupNorm, e.g. WavLM Base+) give
    different outputs for zero-padded input, so they are batched by exact length: the
    original and the reconstruction of an utterance, aligned to the same length, always
    share a batch.
    """
    return length_batches([len(w) for w in waves], max_batch, same_length=not pad)


def missing(reason: str) -> dict[str, str]:
    """A model output that could not be computed for one audio (never cached)."""
    return {"missing": reason}


def is_missing(value: Any) -> bool:
    return isinstance(value, dict) and "missing" in value


def cached_outputs(
    waves: Sequence[np.ndarray],
    compute: Callable[[list[np.ndarray]], list[Any]],
    model_key: str,
    cache: ModelCache | None,
) -> list[Any]:
    """``compute`` each distinct audio once; reuse what ``cache`` holds for ``model_key``."""
    keys = [audio_hash(w, MODEL_RATE) for w in waves]
    found = cache.get_many(list(set(keys)), model_key) if cache is not None else {}
    todo = {}
    for key, wave in zip(keys, waves, strict=True):
        if key not in found and key not in todo:
            todo[key] = wave
    if todo:
        computed = compute(list(todo.values()))
        fresh = dict(zip(todo, computed, strict=True))
        if cache is not None:
            cache.put_many(((k, v) for k, v in fresh.items() if not is_missing(v)), model_key)
        found.update(fresh)
    return [found[key] for key in keys]
