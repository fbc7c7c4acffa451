"""EnCodec 24 kHz (Meta) through transformers' EncodecModel.

Five operating points of one checkpoint: 1.5/3/6/12/24 kbps = 2/4/8/16/32
residual codebooks of 1024 entries at 75 frames/s. The 24 kHz model is causal
(causal convolutions, unidirectional LSTM): once every item of a batch is
zero-padded to a whole hop (320 samples), padding never reaches an item's frames.
In float32 the round-off of the convolutions still depends on the batch layout
and flips codes at near-ties of the deep residual stages, so EnCodec is batched
only in float64 (``CodecSettings.float64``) and encoded one by one otherwise.
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
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
        description=f"EnCodec 24 kHz at {label} kbps ({BANDWIDTHS[kbps]} RVQ codebooks), transformers.",
        options={"bandwidth": kbps},
    )


class EncodecCodec(TorchCodec):
    hop_length = 320
    padding_exact = True

    def _encode(self, batch, lengths: np.ndarray):
        import torch

        mask = torch.arange(batch.shape[-1], device=self.device)[None, :] < self.tensor(lengths)[:, None]
        out = self.model.encode(batch, mask, bandwidth=float(self.spec.options["bandwidth"]))
        return out.audio_codes[0]  # [chunks=1, B, K, F] -> [B, K, F]

    def _decode(self, codes):
        return self.model.decode(codes[None], [None]).audio_values

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import EncodecConfig, EncodecModel

        torch.manual_seed(seed)
        model = EncodecModel(EncodecConfig()).eval()  # the default config is the 24 kHz architecture
        wave = torch.from_numpy(calibration_audio(24_000, seed=seed))[None, None]
        with torch.no_grad():
            vectors = model.encoder(wave)[0].T  # [F, D]
            seed_residual_codebooks(vectors, [layer.codebook for layer in model.quantizer.layers], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import EncodecModel

        return EncodecModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


ENTRIES = EncodecCodec.entries(_spec(kbps) for kbps in BANDWIDTHS)
