"""Mimi (Kyutai) through transformers' MimiModel: 24 kHz, 12.5 frames/s, codebooks of 2048.

The first codebook is the semantic one (distilled from WavLM); the others are
acoustic residual stages. 8 codebooks = 12.5 Hz x 8 x 11 bit = 1.1 kbps (the
setting Moshi uses), 16 and 32 as higher-bitrate variants. Mimi is causal
(causal convolutions, causal sliding-window attention): with each utterance
zero-padded to a whole frame (1920 samples), a padded batch gives the same
latents as one-by-one encoding; kodek passes no padding mask (transformers' mask
breaks that equality). The quantiser computes distances in float32 whatever the
model's dtype, so deep residual stages (where residuals are tiny) can still flip
at near-ties; with float64 distances the codes are identical.
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, load_pretrained, seed_residual_codebooks, shared
from kodek.codecs.registry import CodecEntry
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
        install_extra="codecs",
        description=f"Mimi with {codebooks} codebooks (1 semantic + {codebooks - 1} acoustic), "
        f"{12.5 * codebooks * 11 / 1000:.2f} kbps, transformers MimiModel.",
        options={"num_quantizers": codebooks},
    )


class MimiCodec(TorchCodec):
    hop_length = HOP
    batch_invariant = True

    def __init__(self, spec: CodecSpec, model, *, random_weights: bool) -> None:
        super().__init__(spec, random_weights=random_weights)
        self.model = model.eval()
        self.num_quantizers = int(spec.options["num_quantizers"])

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            codes = self.model.encode(self.tensor(waves)[:, None, :], num_quantizers=self.num_quantizers)
        return codes.audio_codes.cpu().numpy().astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            waves = self.model.decode(self.tensor(codes, torch.long)).audio_values[:, 0]
        return waves.float().cpu().numpy(), np.minimum(self.sample_lengths(frame_lengths), waves.shape[-1])


def _random_model(seed: int):
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
            codebooks = [layer.codebook for layer in rvq.layers]

            def assign(stage: int, embed, codebooks=codebooks) -> None:
                codebooks[stage].embed_sum.copy_(embed)
                codebooks[stage].cluster_usage.fill_(1.0)
                codebooks[stage]._embed = None  # the cached centroids

            sizes = [c.codebook_size for c in codebooks]
            seed_residual_codebooks(projected[0].T, sizes, assign, seed=seed)
    return model


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> MimiCodec:
    if random_weights:
        return MimiCodec(spec, shared(("mimi", seed), lambda: _random_model(seed)), random_weights=True)
    from transformers import MimiModel

    ckpt = spec.checkpoint
    model = load_pretrained(
        lambda: MimiModel.from_pretrained(ckpt.repo, revision=ckpt.revision), spec.id, ckpt.repo, ckpt.revision
    )
    return MimiCodec(spec, model, random_weights=False)


ENTRIES = [CodecEntry(_spec(k), "kodek.codecs.mimi:build", ("torch", "transformers")) for k in (8, 16, 32)]
