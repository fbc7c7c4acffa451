"""SNAC 24 kHz speech (Siuzdak et al.): a multi-scale codec through the ``snac`` package.

SNAC quantises at three temporal resolutions (strides 4, 2, 1 over a 512-sample
hop: about 12, 23 and 47 Hz), one codebook of 4096 entries each. kodek lays the
three streams out as ``[K=7, F]`` at the coarsest rate (24000 / 2048 = 11.72 Hz):
per coarse frame, 1 code of the coarse level, 2 of the middle, 4 of the fine one,
in time order. Nothing is repeated, so the bitrate from the codes is SNAC's own:
11.72 Hz x 7 x 12 bit = 984 bit/s.

The encoder is non-causal (centred convolutions with biases): the codes of an
utterance depend on what follows it inside a padded batch, so the pipeline
encodes SNAC one utterance at a time (``padding_exact = False``).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio
from kodek.codecs.spec import Checkpoint, CodecSpec

# hubertsiuzdak/snac_24khz config.json (SNAC.__init__ keyword arguments).
CONFIG_24KHZ = {
    "sampling_rate": 24_000,
    "encoder_dim": 48,
    "encoder_rates": [2, 4, 8, 8],
    "decoder_dim": 1024,
    "decoder_rates": [8, 8, 4, 2],
    "attn_window_size": None,
    "codebook_size": 4096,
    "codebook_dim": 8,
    "vq_strides": [4, 2, 1],
    "noise": True,
    "depthwise": True,
}
HOP = 512  # product of encoder_rates
GROUP = HOP * 4  # samples per coarse frame (hop x the largest VQ stride)
LAYOUT = (0, 1, 1, 2, 2, 2, 2)  # level of each of the 7 rows of a coarse frame

SPEC = CodecSpec(
    id="snac-24khz",
    family="snac",
    kind="acoustic",
    sample_rate=24_000,
    frame_rate=24_000 / GROUP,
    num_codebooks=len(LAYOUT),
    codebook_size=4096,
    checkpoint=Checkpoint("hubertsiuzdak/snac_24khz", "main", loader="snac", note="no pinned commit found offline"),
    license="mit",
    description="SNAC 24 kHz speech: 3 levels (12/23/47 Hz) x 4096, laid out as 7 codes per 85 ms frame.",
)


def to_frames(levels: list[np.ndarray]) -> np.ndarray:
    """SNAC's ``[B, F]``, ``[B, 2F]``, ``[B, 4F]`` codes -> ``[B, 7, F]``."""
    coarse, middle, fine = levels
    batch, frames = coarse.shape
    return np.concatenate(
        [coarse[:, None, :], middle.reshape(batch, frames, 2).transpose(0, 2, 1),
         fine.reshape(batch, frames, 4).transpose(0, 2, 1)],
        axis=1,
    )  # fmt: skip


def from_frames(codes: np.ndarray) -> list[np.ndarray]:
    """``[B, 7, F]`` -> SNAC's three levels (the inverse of :func:`to_frames`)."""
    batch, _, frames = codes.shape
    return [
        codes[:, 0, :],
        codes[:, 1:3, :].transpose(0, 2, 1).reshape(batch, 2 * frames),
        codes[:, 3:7, :].transpose(0, 2, 1).reshape(batch, 4 * frames),
    ]


class SnacCodec(TorchCodec):
    hop_length = GROUP
    requires = ("torch", "snac")
    install_extra = "snac"

    def _encode(self, batch, lengths: np.ndarray):
        return to_frames([level.cpu().numpy() for level in self.model.encode(batch)])

    def _decode(self, codes):
        import torch

        return self.model.decode([self.tensor(level, torch.long) for level in from_frames(codes.cpu().numpy())])

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from snac import SNAC

        torch.manual_seed(seed)
        model = SNAC(**CONFIG_24KHZ).eval()
        _seed_codebooks(model, seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from snac import SNAC

        return SNAC.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


def _seed_codebooks(model, seed: int) -> None:
    """Random codebooks are spread over the sphere while a random encoder's outputs are
    not, so few entries get used; seed each level from its own projected inputs instead."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    wave = torch.from_numpy(calibration_audio(24_000, 8.0, seed=seed))[None, None]
    with torch.no_grad():
        residual = model.encoder(model.preprocess(wave))
        for quantizer in model.quantizer.quantizers:
            pooled = torch.nn.functional.avg_pool1d(residual, quantizer.stride, quantizer.stride)
            vectors = quantizer.in_proj(pooled)[0].T  # [T, codebook_dim]
            pick = torch.randint(len(vectors), (quantizer.codebook_size,), generator=generator)
            noise = 0.05 * vectors.std() * torch.randn(quantizer.codebook_size, vectors.shape[1], generator=generator)
            quantizer.codebook.weight.copy_(vectors[pick] + noise)
            quantized, _ = quantizer(residual)
            residual = residual - quantized


ENTRIES = SnacCodec.entries([SPEC])
