"""EnCodec 24 kHz (Meta) through transformers' EncodecModel.

Five operating points of one checkpoint: 1.5/3/6/12/24 kbps = 2/4/8/16/32
residual codebooks of 1024 entries at 75 frames/s. The 24 kHz model is causal
(causal convolutions, unidirectional LSTM), so once every item of a batch is
zero-padded to a whole hop (320 samples) a padded batch gives the same codes as
one-by-one encoding.
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, load_pretrained, seed_residual_codebooks, shared
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

# Commit confirmed by github.com/embeddings-benchmark/mteb, mteb/models/model_implementations/encodec_model.py.
CHECKPOINT = Checkpoint("facebook/encodec_24khz", "c1dbe2ae3f1de713481a3b3e7c47f357092ee040")
BANDWIDTHS = {1.5: 2, 3.0: 4, 6.0: 8, 12.0: 16, 24.0: 32}


def _spec(kbps: float) -> CodecSpec:
    label = f"{kbps:g}"
    return CodecSpec(
        id=f"encodec-24khz-{label}kbps",
        family="encodec",
        kind="acoustic",
        sample_rate=24_000,
        frame_rate=75.0,
        num_codebooks=BANDWIDTHS[kbps],
        codebook_size=1024,
        checkpoint=CHECKPOINT,
        license="cc-by-nc-4.0",
        install_extra="codecs",
        description=f"EnCodec 24 kHz at {label} kbps ({BANDWIDTHS[kbps]} RVQ codebooks), transformers.",
        options={"bandwidth": kbps},
    )


class EncodecCodec(TorchCodec):
    hop_length = 320
    batch_invariant = True

    def __init__(self, spec: CodecSpec, model, *, random_weights: bool) -> None:
        super().__init__(spec, random_weights=random_weights)
        self.model = model.eval()
        self.bandwidth = float(spec.options["bandwidth"])

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        batch = self.tensor(waves)[:, None, :]
        mask = torch.arange(batch.shape[-1], device=self.device)[None, :] < self.tensor(lengths)[:, None]
        with torch.inference_mode():
            out = self.model.encode(batch, mask, bandwidth=self.bandwidth)
        codes = out.audio_codes[0]  # [chunks=1, B, K, F] -> [B, K, F]
        return codes.cpu().numpy().astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        audio_codes = self.tensor(codes, torch.long)[None]
        with torch.inference_mode():
            waves = self.model.decode(audio_codes, [None]).audio_values[:, 0]
        return waves.float().cpu().numpy(), self.sample_lengths(frame_lengths)


def _random_model(seed: int):
    import torch
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(seed)
    model = EncodecModel(EncodecConfig()).eval()  # the default config is the 24 kHz architecture
    wave = torch.from_numpy(calibration_audio(24_000, seed=seed))[None, None]
    with torch.inference_mode():
        vectors = model.encoder(wave).transpose(1, 2)  # [1, F, D]
    layers = model.quantizer.layers

    def assign(stage: int, embed) -> None:
        layers[stage].codebook.embed.copy_(embed)
        layers[stage].codebook.embed_avg.copy_(embed)

    with torch.no_grad():
        seed_residual_codebooks(vectors[0], [model.config.codebook_size] * len(layers), assign, seed=seed)
    return model


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> EncodecCodec:
    if random_weights:
        return EncodecCodec(spec, shared(("encodec", seed), lambda: _random_model(seed)), random_weights=True)
    from transformers import EncodecModel

    ckpt = spec.checkpoint
    model = load_pretrained(
        lambda: EncodecModel.from_pretrained(ckpt.repo, revision=ckpt.revision), spec.id, ckpt.repo, ckpt.revision
    )
    return EncodecCodec(spec, model, random_weights=False)


ENTRIES = [CodecEntry(_spec(kbps), "kodek.codecs.encodec:build", ("torch", "transformers")) for kbps in BANDWIDTHS]
