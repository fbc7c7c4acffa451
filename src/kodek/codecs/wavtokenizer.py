"""WavTokenizer (Ji et al., ICLR 2025) through transformers: one codebook of 4096 at 24 kHz.

The 40 tokens/s model (hop 600) exists in the transformers format
(``swiss-ai/wavtokenizer-large-unify-40token``, converted from
``novateur/WavTokenizer-large-unify-40token``): 40 Hz x 12 bit = 480 bit/s. The
75 tokens/s speech model (hop 320, 900 bit/s) is published only as an original
Lightning checkpoint (``novateur/WavTokenizer-large-speech-75token``); kodek
registers it for the record and says why it cannot run. Random-weight builds
take transformers' default config, which is the 40 tokens/s architecture; the
single codebook starts at zero and is seeded from data. The SEANet encoder is
non-causal, so utterances are encoded one at a time (``padding_exact = False``).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.codecs.unsupported import refuse

SPEC_40 = CodecSpec(
    id="wavtokenizer-40tps",
    family="wavtokenizer",
    kind="acoustic",
    sample_rate=24_000,
    frame_rate=40.0,
    num_codebooks=1,
    codebook_size=4096,
    checkpoint=Checkpoint(
        "swiss-ai/wavtokenizer-large-unify-40token",
        "main",
        note="transformers conversion of novateur/WavTokenizer-large-unify-40token",
    ),
    license="mit",
    description="WavTokenizer large (unified domains), 40 tokens/s x 4096 entries = 0.48 kbps, transformers.",
)
SPEC_75 = CodecSpec(
    id="wavtokenizer-75tps",
    family="wavtokenizer",
    kind="acoustic",
    sample_rate=24_000,
    frame_rate=75.0,
    num_codebooks=1,
    codebook_size=4096,
    checkpoint=Checkpoint("novateur/WavTokenizer-large-speech-75token", "main", loader="wavtokenizer"),
    license="mit",
    description="WavTokenizer large (speech), 75 tokens/s x 4096 entries = 0.9 kbps.",
    unsupported="published only as an original Lightning checkpoint (no transformers-format conversion); its "
    "upstream package is not on the Python package index and imports torchaudio",
)


class WavTokenizerCodec(TorchCodec):
    hop_length = 600

    def _encode(self, batch, lengths: np.ndarray):
        return self.model.encode(batch).audio_codes

    def _decode(self, codes):
        return self.model.decode(codes).audio_values

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import WavTokenizerConfig, WavTokenizerModel

        torch.manual_seed(seed)
        model = WavTokenizerModel(WavTokenizerConfig()).eval()
        wave = torch.from_numpy(calibration_audio(24_000, 8.0, seed=seed))[None, None]
        with torch.no_grad():
            vectors = model.encoder_model.encoder(wave)[0].T  # [F, D]
            seed_residual_codebooks(vectors, [model.encoder_model.quantizer.codebook], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import WavTokenizerModel

        return WavTokenizerModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


ENTRIES = [*WavTokenizerCodec.entries([SPEC_40]), CodecEntry(SPEC_75, refuse)]
