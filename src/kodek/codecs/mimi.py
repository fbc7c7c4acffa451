"""Mimi (Kyutai) through transformers' MimiModel: 24 kHz, 12.5 frames/s, codebooks of 2048.

The first codebook is the semantic one (distilled from WavLM); the others are
acoustic residual stages. 8 codebooks = 12.5 Hz x 8 x 11 bit = 1.1 kbps (the
setting Moshi uses), 16 and 32 as higher-bitrate variants. Mimi is causal
(causal convolutions, causal sliding-window attention): with each utterance
zero-padded to a whole frame (1920 samples), a padded batch gives the same
latents as one-by-one encoding; kodek passes no padding mask (transformers' mask
breaks that equality). The quantiser computes distances in float32 whatever the
model's dtype, so deep residual stages (where residuals are tiny) can still flip
at near-ties: Mimi is encoded one utterance at a time (with float64 distances
the codes of a padded batch are identical, which the tests check).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
from kodek.codecs.spec import Checkpoint, CodecSpec

# Commit pinned by several public projects' code and docs (an exact-string search of public GitHub code finds it
# in parity tests, `hf download kyutai/mimi --revision ...` instructions and Hub cache paths); the network test
# tests/test_revisions.py checks it resolves on the Hub.
CHECKPOINT = Checkpoint("kyutai/mimi", "89091b3e466eb6a9d11e537bf26b144f194978f7")
HOP = 1920  # 24 kHz / 12.5 Hz


def _spec(codebooks: int) -> CodecSpec:
    return CodecSpec(
        id=f"mimi-{codebooks}cb",
        family="mimi",
        kind="semantic",
        sample_rate=24_000,
        frame_rate=12.5,
        num_codebooks=codebooks,
        codebook_size=2048,
        checkpoint=CHECKPOINT,
        license="cc-by-4.0",
        description=f"Mimi with {codebooks} codebooks (1 semantic + {codebooks - 1} acoustic), "
        f"{12.5 * codebooks * 11 / 1000:.2f} kbps, transformers MimiModel.",
        options={"num_quantizers": codebooks},
    )


class MimiCodec(TorchCodec):
    hop_length = HOP
    # Causal, but the quantiser's float32 distances flip codes at near-ties whatever the model's dtype:
    # never claimed exact, so Mimi is encoded one utterance at a time.
    padding_exact = False

    def _encode(self, batch, lengths: np.ndarray):
        return self.model.encode(batch, num_quantizers=int(self.spec.options["num_quantizers"])).audio_codes

    def _decode(self, codes):
        return self.model.decode(codes).audio_values

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import MimiConfig, MimiModel

        torch.manual_seed(seed)
        model = MimiModel(MimiConfig()).eval()  # the default config is kyutai/mimi's architecture
        wave = torch.from_numpy(calibration_audio(24_000, 8.0, seed=seed))[None, None]
        with torch.no_grad():
            latents = model.encoder(wave).latents  # [1, hidden, F]
            for rvq in (
                model.quantizer.semantic_residual_vector_quantizer,
                model.quantizer.acoustic_residual_vector_quantizer,
            ):
                projected = rvq.input_proj(latents) if rvq.input_proj is not None else latents
                seed_residual_codebooks(projected[0].T, [layer.codebook for layer in rvq.layers], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import MimiModel

        return MimiModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


ENTRIES = MimiCodec.entries(_spec(k) for k in (8, 16, 32))
