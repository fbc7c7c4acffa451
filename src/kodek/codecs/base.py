"""The Codec protocol and the pieces every family shares.

A codec works on numpy at its boundary so that the pipeline, the scorer and the
classic codecs never need torch: ``encode`` takes a zero-padded float32 batch
``[B, T]`` at ``spec.sample_rate`` plus the true lengths, and returns integer codes
``[B, K, F]`` plus the true frame counts; ``decode`` is its inverse.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from kodek.codecs.spec import CodecSpec
from kodek.errors import KodekError

if TYPE_CHECKING:
    from kodek.codecs.registry import CodecEntry


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


@dataclass(frozen=True)
class CodecSettings:
    """How to build a codec, passed to its family's factory (nothing is set on the codec afterwards)."""

    device: str = "cpu"
    seed: int = 0  # of random weights; recorded so decoding rebuilds the same model
    random_weights: bool = False
    # SSL codecs: a folder or a Hub dataset repo holding kmeans/<codec_id>/centroids.npy; None reads
    # the KODEK_KMEANS environment variable when the user set it.
    kmeans: str | None = None
    # Torch codecs: compute in float64, where causal models encode a padded batch exactly as one by one.
    float64: bool = False


@runtime_checkable
class Codec(Protocol):
    """Everything the pipeline, the scorer and the submission checks call on a codec."""

    spec: CodecSpec
    random_weights: bool
    seed: int
    device: str

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
        """True only when a padded batch encodes every item exactly as one-by-one encoding does (tested for
        every runnable codec); False makes the pipeline encode one utterance at a time."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts recorded in codec.json and results beside the spec (random weights, seed, parameters...)."""
        ...

    def save_artefacts(self, out: Path) -> None:
        """Keep beside the tokens in ``out`` what they cannot be used without (an SSL codec's centroids)."""
        ...


class HopFacts:
    """Frame arithmetic from ``hop_length`` and the facts every codec records (its random weights, seed and
    parameter count); shared by ``CodecBase`` and the isolated environments' ``WorkerCodec``."""

    hop_length: int = 1
    random_weights: bool
    seed: int

    @property
    def pad_multiple(self) -> int:
        return self.hop_length

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    def num_parameters(self) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {
            "random_weights": self.random_weights,
            "seed": self.seed if self.random_weights else None,
            "num_parameters": self.num_parameters(),
        }


_Module = TypeVar("_Module", bound="TorchModule")


class TorchModule:
    """A torch module in ``self.model``, its device and input dtype; shared by ``TorchCodec`` and the isolated
    environments' ``WorkerCodec`` (nothing here imports torch before it is called)."""

    model: Any
    device: str
    dtype: Any = None  # torch dtype of the model's inputs; float32 unless set by ``to``

    def to(self: _Module, device: str, dtype: Any = None) -> _Module:
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


class CodecBase(HopFacts):
    """Shared behaviour: spec facts, frame arithmetic, defaults for numpy codecs.

    A family subclass sets ``hop_length`` (and ``requires``/``install_extra`` once for all its ids) and
    implements ``encode``/``decode``; ``entries(specs)`` registers its ids with ``build`` as the factory.
    """

    # Numpy codecs encode every utterance on its own, so a padded batch is exact (tested).
    batch_invariant: bool = True
    requires: tuple[str, ...] = ()  # importable modules the codec needs
    install_extra: str | None = None  # the kodek extra that installs them

    def __init__(self, spec: CodecSpec, settings: CodecSettings | None = None, **fields: Any) -> None:
        self.spec = spec
        self.settings = dataclasses.replace(settings or CodecSettings(), **fields)
        self.random_weights = self.settings.random_weights
        self.seed = self.settings.seed
        self.device = "cpu"

    @classmethod
    def build(cls, spec: CodecSpec, settings: CodecSettings) -> CodecBase:
        """The factory the registry calls."""
        return cls(spec, settings)

    @classmethod
    def entries(cls, specs: Iterable[CodecSpec]) -> list[CodecEntry]:
        """Registry entries of ``specs``, built by this class, with its requirements and install extra."""
        from kodek.codecs.registry import CodecEntry

        return [
            CodecEntry(dataclasses.replace(spec, install_extra=cls.install_extra), cls.build, cls.requires)
            for spec in specs
        ]

    def frame_lengths(self, lengths: np.ndarray) -> np.ndarray:
        return np.array([self.num_frames(int(n)) for n in lengths], dtype=np.int64)

    def sample_lengths(self, frame_lengths: np.ndarray) -> np.ndarray:
        return np.asarray(frame_lengths, dtype=np.int64) * self.hop_length

    def to(self, device: str) -> CodecBase:
        self.device = device
        return self

    def save_artefacts(self, out: Path) -> None:
        """Nothing beyond the codes by default."""


class TorchCodec(TorchModule, CodecBase):
    """A codec backed by a torch module held in ``self.model``.

    This class owns the numpy<->torch boundary, building (random or pretrained, one model per checkpoint
    shared by the ids that are views of it) and the move to a device. A family implements:

    - ``_encode(batch, lengths)``: ``[B, 1, T]`` tensor (+ numpy lengths) -> codes ``[B, K, F]`` (tensor or numpy);
    - ``_decode(codes)``: ``[B, K, F]`` long tensor -> waves ``[B, T]`` or ``[B, 1, T]``;
    - ``random_model(spec, seed)`` and ``pretrained_model(spec)``; ``model_key(spec)`` names the spec
      options that change the model (ids that differ only in other options share one model).
    """

    requires = ("torch", "transformers")
    install_extra = "codecs"
    # In exact arithmetic, zero-padding an item to the batch's length leaves its codes unchanged (causal
    # models). Round-off still differs with the batch layout, so a padded batch is only claimed exact in float64.
    padding_exact: bool = False

    def __init__(self, spec: CodecSpec, model: Any, settings: CodecSettings | None = None, **fields: Any) -> None:
        super().__init__(spec, settings, **fields)
        self.model = model.eval()

    @classmethod
    def build(cls, spec: CodecSpec, settings: CodecSettings) -> TorchCodec:
        from kodek.codecs.init import load_pretrained, shared

        if settings.random_weights:
            key = (cls.__qualname__, *cls.model_key(spec), settings.seed)
            model = shared(key, lambda: cls.random_model(spec, settings.seed))
        else:
            ckpt = spec.checkpoint
            model = load_pretrained(lambda: cls.pretrained_model(spec), spec.id, ckpt.repo, ckpt.revision)
        return cls(spec, model, settings).placed()

    def placed(self) -> TorchCodec:
        """Moved to the settings' device and precision."""
        if self.settings.device == "cpu" and not self.settings.float64:
            return self
        import torch

        return self.to(self.settings.device, torch.float64 if self.settings.float64 else None)

    @classmethod
    def model_key(cls, spec: CodecSpec) -> tuple[Any, ...]:
        return ()

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int) -> Any:
        raise NotImplementedError

    @classmethod
    def pretrained_model(cls, spec: CodecSpec) -> Any:
        raise NotImplementedError

    @property
    def batch_invariant(self) -> bool:  # type: ignore[override]
        import torch

        return self.padding_exact and self.dtype == torch.float64

    def describe(self) -> dict[str, Any]:
        import torch

        return {**super().describe(), "float64": self.dtype == torch.float64}

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            codes = self._encode(self.tensor(waves)[:, None, :], lengths)
        codes = codes.cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        return codes.astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            waves = self._decode(self.tensor(codes, torch.long))
        waves = waves.reshape(len(codes), -1).float().cpu().numpy()
        return waves, np.minimum(self.sample_lengths(frame_lengths), waves.shape[-1])

    def _encode(self, batch: Any, lengths: np.ndarray) -> Any:
        raise NotImplementedError

    def _decode(self, codes: Any) -> Any:
        raise NotImplementedError


def check_codes(codes: np.ndarray, spec: CodecSpec) -> None:
    """Raise when codes are not ``[B, K, F]`` integers inside each codebook."""
    if codes.ndim != 3 or codes.shape[1] != spec.num_codebooks:
        raise CodecError(f"{spec.id}: codes shaped {codes.shape}, expected [B, {spec.num_codebooks}, F]")
    if not np.issubdtype(codes.dtype, np.integer):
        raise CodecError(f"{spec.id}: codes must be integers, got {codes.dtype}")
    sizes = np.array(spec.codebook_sizes).reshape(1, -1, 1)
    if codes.size and (codes.min() < 0 or (codes >= sizes).any()):
        raise CodecError(f"{spec.id}: codes outside [0, codebook_size)")
