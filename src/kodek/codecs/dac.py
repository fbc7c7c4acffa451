"""DAC, the Descript Audio Codec, through transformers' DacModel.

Three checkpoints: 16 kHz (12 codebooks x 50 Hz x 10 bit = 6 kbps), 24 kHz
(32 x 75 Hz = 24 kbps), 44.1 kHz (9 x 86.13 Hz = 7.75 kbps), each of 1024 entries.
DAC was trained with quantizer dropout, so a prefix of its codebooks is a valid
lower-bitrate codec: kodek registers a few of those too.

The Hub configs' ``hop_length`` field (512) is wrong for 16/24 kHz: the hop is the
product of the downsampling ratios (320 there), which is what kodek uses. The
encoder is non-causal (centred convolutions), so utterances are encoded one at a
time (``padding_exact = False``).
"""

from __future__ import annotations

import math

import numpy as np

from kodek.codecs.base import CodecSettings, TorchCodec
from kodek.codecs.spec import Checkpoint, CodecSpec

# Architecture of each checkpoint (its config.json, with the true sampling rate and hop).
# Commits confirmed by github.com/kadirnar/voicehub, which loads these repos' transformers-format
# model.safetensors at them: voicehub/components/audio/codecs/dac/utils/__init__.py (16 and 24 kHz) and
# voicehub/models/dac/native/metadata.py (44.1 kHz). The commits pinned here before (16 and 44.1 kHz) were
# found in no public source.
MODELS = {
    "16khz": {
        "checkpoint": Checkpoint("descript/dac_16khz", "7c2fc5e759f1f501aefc6e7a0265cc57f5d17ba7"),
        "sampling_rate": 16_000,
        "downsampling_ratios": [2, 4, 5, 8],
        "upsampling_ratios": [8, 5, 4, 2],
        "n_codebooks": 12,
        "variants": (12, 8, 4),
    },
    "24khz": {
        "checkpoint": Checkpoint("descript/dac_24khz", "6ba020b5ba7d9d8076fb90db7e67f27e31980f6e"),
        "sampling_rate": 24_000,
        "downsampling_ratios": [2, 4, 5, 8],
        "upsampling_ratios": [8, 5, 4, 2],
        "n_codebooks": 32,
        "variants": (32, 16, 8),
    },
    "44khz": {
        "checkpoint": Checkpoint("descript/dac_44khz", "c1bc521685adf9cfe247bc39a5ca58917eda1ac4"),
        "sampling_rate": 44_100,
        "downsampling_ratios": [2, 4, 8, 8],
        "upsampling_ratios": [8, 8, 4, 2],
        "n_codebooks": 9,
        "variants": (9, 6, 4),
    },
}
SHARED = {
    "encoder_hidden_size": 64,
    "decoder_hidden_size": 1536,
    "hidden_size": 1024,
    "codebook_size": 1024,
    "codebook_dim": 8,
}


def hop(model: str) -> int:
    return math.prod(MODELS[model]["downsampling_ratios"])


def _spec(model: str, codebooks: int) -> CodecSpec:
    info = MODELS[model]
    full = codebooks == info["n_codebooks"]
    frame_rate = info["sampling_rate"] / hop(model)
    return CodecSpec(
        id=f"dac-{model}" if full else f"dac-{model}-{codebooks}cb",
        family="dac",
        kind="acoustic",
        sample_rate=info["sampling_rate"],
        frame_rate=frame_rate,
        num_codebooks=codebooks,
        codebook_size=1024,
        checkpoint=info["checkpoint"],
        license="mit",
        description=f"DAC {model.replace('khz', ' kHz')}, {codebooks} of {info['n_codebooks']} RVQ codebooks "
        f"({frame_rate * codebooks * 10 / 1000:.2f} kbps), transformers DacModel.",
        options={"model": model, "n_quantizers": codebooks},
    )


class DacCodec(TorchCodec):
    def __init__(self, spec: CodecSpec, model, settings: CodecSettings | None = None, **fields) -> None:
        super().__init__(spec, model, settings, **fields)
        self.hop_length = hop(spec.options["model"])

    def _encode(self, batch, lengths: np.ndarray):
        n = int(self.spec.options["n_quantizers"])
        return self.model.encode(batch, n_quantizers=n).audio_codes[:, :n]

    def _decode(self, codes):
        return self.model.decode(audio_codes=codes).audio_values  # [B, T] or [B, 1, T] by version

    @classmethod
    def model_key(cls, spec: CodecSpec) -> tuple:
        return (spec.options["model"],)

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import DacModel

        torch.manual_seed(seed)  # DAC's codebooks start random (not zero): usable as they are
        return DacModel(config(spec.options["model"]))

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import DacModel

        return DacModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


def config(model: str):
    from transformers import DacConfig

    info = MODELS[model]
    return DacConfig(
        sampling_rate=info["sampling_rate"],
        downsampling_ratios=info["downsampling_ratios"],
        upsampling_ratios=info["upsampling_ratios"],
        n_codebooks=info["n_codebooks"],
        hop_length=hop(model),
        **SHARED,
    )


ENTRIES = DacCodec.entries(_spec(model, k) for model, info in MODELS.items() for k in info["variants"])
