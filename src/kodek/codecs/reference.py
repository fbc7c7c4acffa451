"""The identity "codec": 16-bit PCM at 16 kHz, the upper bound of every table."""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import CodecBase
from kodek.codecs.spec import CodecSpec

IDENTITY = CodecSpec(
    id="identity-16khz",
    family="identity",
    kind="reference",
    sample_rate=16_000,
    frame_rate=16_000.0,
    num_codebooks=1,
    codebook_size=65_536,
    checkpoint=None,
    license="n/a",
    description="Reference upper bound: codes are the 16-bit PCM samples (offset binary), decode is exact.",
)

_OFFSET = 32_768


class IdentityCodec(CodecBase):
    hop_length = 1

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pcm = np.clip(np.round(np.asarray(waves, dtype=np.float64) * _OFFSET), -_OFFSET, _OFFSET - 1)
        codes = (pcm.astype(np.int64) + _OFFSET)[:, None, :]
        return codes, self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        waves = (codes[:, 0, :].astype(np.float32) - _OFFSET) / _OFFSET
        return waves, self.sample_lengths(frame_lengths)


# No weights: random_weights changes nothing, and is recorded as given.
ENTRIES = IdentityCodec.entries([IDENTITY])
