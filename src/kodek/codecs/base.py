"""The Codec protocol and the pieces every family shares.

A codec works on numpy at its boundary so that the pipeline, the scorer and the
classic codecs never need torch: ``encode`` takes a zero-padded float32 batch
``[B, T]`` at ``spec.sample_rate`` plus the true lengths, and returns integer codes
``[B, K, F]`` plus the true frame counts; ``decode`` is its inverse.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kodek.codecs.spec import CodecSpec
from kodek.errors import KodekError


class CodecError(KodekError, RuntimeError):
    """A codec that cannot be built or used, with what to do about it."""


class UnknownCodecError(CodecError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingExtraError(CodecError):
    """The codec's library is not installed."""


class WeightsUnavailableError(CodecError):
    """The pinned checkpoint cannot be loaded (no network, gated, missing revision)."""

    def __init__(self, message: str, *, short: str = "") -> None:
        super().__init__(message)
        self.short = short or message  # one line, for listings such as the demo's skips


class UnsupportedCodecError(CodecError):
    """The system is registered for the record but kodek cannot run it."""


@runtime_checkable
class Codec(Protocol):
    spec: CodecSpec
    random_weights: bool
    seed: int

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[B, T]`` float32 + ``[B]`` lengths -> codes ``[B, K, F]`` int64 + ``[B]`` frame counts."""
        ...

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """codes ``[B, K, F]`` + ``[B]`` frame counts -> ``[B, T]`` float32 + ``[B]`` sample lengths."""
        ...

    def to(self, device: str) -> Codec: ...

    def num_parameters(self) -> int: ...

    def num_frames(self, num_samples: int) -> int:
        """How many frames an utterance of ``num_samples`` samples encodes to."""
        ...

    @property
    def pad_multiple(self) -> int:
        """Inputs are zero-padded to a multiple of this many samples (the hop)."""
        ...

    @property
    def batch_invariant(self) -> bool:
        """True when a padded batch encodes every item exactly as one-by-one encoding does."""
        ...


class CodecBase:
    """Shared behaviour: spec facts, frame arithmetic, defaults for classic codecs."""

    hop_length: int = 1
    # Padded batches are exact for causal models and for codecs with a fixed
    # receptive field once each item is zero-padded to a whole hop; False makes the
    # pipeline encode one item at a time.
    batch_invariant: bool = True

    def __init__(self, spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> None:
        self.spec = spec
        self.random_weights = random_weights
        self.seed = seed  # of the random weights; recorded so decoding rebuilds the same model
        self.device = "cpu"

    @property
    def pad_multiple(self) -> int:
        return self.hop_length

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    def frame_lengths(self, lengths: np.ndarray) -> np.ndarray:
        return np.array([self.num_frames(int(n)) for n in lengths], dtype=np.int64)

    def sample_lengths(self, frame_lengths: np.ndarray) -> np.ndarray:
        return np.asarray(frame_lengths, dtype=np.int64) * self.hop_length

    def to(self, device: str) -> CodecBase:
        self.device = device
        return self

    def num_parameters(self) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        """Facts recorded in codec.json and results beside the spec."""
        return {
            "random_weights": self.random_weights,
            "seed": self.seed if self.random_weights else None,
            "num_parameters": self.num_parameters(),
        }


class TorchCodec(CodecBase):
    """A codec backed by a torch module held in ``self.model``."""

    model: Any
    dtype: Any = None  # torch dtype of the model's inputs; float32 unless set by ``to``

    def to(self, device: str, dtype: Any = None) -> TorchCodec:
        """Move the model; ``dtype=torch.float64`` removes float round-off in comparisons."""
        self.model.to(device=device, dtype=dtype)
        self.device = device
        if dtype is not None:
            self.dtype = dtype
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def tensor(self, array: np.ndarray, dtype: Any = None) -> Any:
        """A tensor on the codec's device; float input takes the model's dtype."""
        import torch

        if dtype is None and np.issubdtype(np.asarray(array).dtype, np.floating):
            dtype = self.dtype or torch.float32
        return torch.as_tensor(array, dtype=dtype, device=self.device)


def check_codes(codes: np.ndarray, spec: CodecSpec) -> None:
    """Raise when codes are not ``[B, K, F]`` integers inside each codebook."""
    if codes.ndim != 3 or codes.shape[1] != spec.num_codebooks:
        raise CodecError(f"{spec.id}: codes shaped {codes.shape}, expected [B, {spec.num_codebooks}, F]")
    if not np.issubdtype(codes.dtype, np.integer):
        raise CodecError(f"{spec.id}: codes must be integers, got {codes.dtype}")
    sizes = np.array(spec.codebook_sizes).reshape(1, -1, 1)
    if codes.size and (codes.min() < 0 or (codes >= sizes).any()):
        raise CodecError(f"{spec.id}: codes outside [0, codebook_size)")
