"""CodecSpec: a frozen, JSON-serialisable description of one tokenizer.

Specs are declared without importing torch or the codec's library, so that the
registry (``kodek codecs list``) is instant. Facts stated here are checked against
the real model and real code tensors by the tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["acoustic", "semantic", "ssl-kmeans", "classic", "reference"]
KINDS: tuple[str, ...] = ("acoustic", "semantic", "ssl-kmeans", "classic", "reference")

# Leaderboard categories of the source study (plus the two kodek adds).
CATEGORY = {
    "acoustic": "Neural Codec",
    "semantic": "Semantic Codec",
    "ssl-kmeans": "SSL Model",
    "classic": "Classic Codec",
    "reference": "Reference",
}

CODEC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class Checkpoint:
    """Where real weights come from: a Hub repo id at a pinned revision."""

    repo: str
    revision: str
    # "transformers" (from_pretrained) or the name of the upstream package.
    loader: str = "transformers"
    note: str = ""
    # What a random-weight build needs that kodek does not carry (empty: it builds offline from kodek's configs).
    random_weights_need: str = ""


@dataclass(frozen=True)
class CodecSpec:
    id: str
    family: str
    kind: Kind
    sample_rate: int
    frame_rate: float
    num_codebooks: int
    # One int when all codebooks share a size, else one entry per codebook.
    codebook_size: int | tuple[int, ...]
    checkpoint: Checkpoint | None
    license: str
    install_extra: str | None = None
    has_decoder: bool = True
    description: str = ""
    # Set when kodek cannot run this system; the reason is shown everywhere it is listed.
    unsupported: str | None = None
    # Family-specific build options (e.g. bandwidth, layer, number of codebooks).
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not CODEC_ID.match(self.id):
            raise ValueError(f"invalid codec id {self.id!r}: use lowercase letters, digits, '.', '_', '-'")
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: kind must be one of {KINDS}, not {self.kind!r}")
        sizes = self.codebook_sizes
        if len(sizes) != self.num_codebooks:
            raise ValueError(f"{self.id}: {len(sizes)} codebook sizes for {self.num_codebooks} codebooks")

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        if isinstance(self.codebook_size, int):
            return (self.codebook_size,) * self.num_codebooks
        return tuple(self.codebook_size)

    @property
    def bitrate_bps(self) -> float:
        """frame rate x sum over codebooks of log2(codebook size)."""
        return self.frame_rate * sum(math.log2(size) for size in self.codebook_sizes)

    @property
    def category(self) -> str:
        return CATEGORY[self.kind]

    @property
    def code_dtype(self) -> str:
        """The narrowest unsigned integer type that holds every code."""
        largest = max(self.codebook_sizes)
        for name, bits in (("uint8", 8), ("uint16", 16), ("uint32", 32)):
            if largest <= 2**bits:
                return name
        return "uint64"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["bitrate_bps"] = self.bitrate_bps
        data["category"] = self.category
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("checkpoint"):
            kwargs["checkpoint"] = Checkpoint(**kwargs["checkpoint"])
        if isinstance(kwargs.get("codebook_size"), list):
            kwargs["codebook_size"] = tuple(kwargs["codebook_size"])
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
