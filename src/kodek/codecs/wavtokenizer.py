"""WavTokenizer (Ji et al., ICLR 2025) through transformers: one codebook of 4096 at 24 kHz.

The 40 tokens/s model (hop 600) exists in the transformers format
(``swiss-ai/wavtokenizer-large-unify-40token``, converted from
``novateur/WavTokenizer-large-unify-40token``): 40 Hz x 12 bit = 480 bit/s. The
75 tokens/s speech model (hop 320, 900 bit/s) is published only as an original
Lightning checkpoint (``novateur/WavTokenizer-large-speech-75token``); kodek
registers it for the record and says why it cannot run. Random-weight builds
take transformers' default config, which is the 40 tokens/s architecture; the
single codebook starts at zero and is seeded from data. The SEANet encoder is
non-causal, so utterances are encoded one at a time (``batch_invariant = False``).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, load_pretrained, seed_residual_codebooks
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

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
    install_extra="codecs",
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
    batch_invariant = False

    def __init__(self, spec: CodecSpec, model, *, random_weights: bool) -> None:
        super().__init__(spec, random_weights=random_weights)
        self.model = model.eval()

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            codes = self.model.encode(self.tensor(waves)[:, None, :]).audio_codes
        return codes.cpu().numpy().astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            waves = self.model.decode(self.tensor(codes, torch.long)).audio_values
        waves = waves.reshape(len(codes), -1)
        return waves.float().cpu().numpy(), np.minimum(self.sample_lengths(frame_lengths), waves.shape[-1])


def _random_model(seed: int):
    import torch
    from transformers import WavTokenizerConfig, WavTokenizerModel

    torch.manual_seed(seed)
    model = WavTokenizerModel(WavTokenizerConfig()).eval()
    wave = torch.from_numpy(calibration_audio(24_000, 8.0, seed=seed))[None, None]
    codebook = model.encoder_model.quantizer.codebook
    with torch.no_grad():
        vectors = model.encoder_model.encoder(wave)[0].T  # [F, D]

        def assign(stage: int, embed) -> None:
            codebook.embed.copy_(embed)
            codebook.embed_avg.copy_(embed)

        seed_residual_codebooks(vectors, [codebook.embed.shape[0]], assign, seed=seed)
    return model


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> WavTokenizerCodec:
    if random_weights:
        return WavTokenizerCodec(spec, _random_model(seed), random_weights=True)
    from transformers import WavTokenizerModel

    ckpt = spec.checkpoint
    model = load_pretrained(
        lambda: WavTokenizerModel.from_pretrained(ckpt.repo, revision=ckpt.revision), spec.id, ckpt.repo, ckpt.revision
    )
    return WavTokenizerCodec(spec, model, random_weights=False)


ENTRIES = [
    CodecEntry(SPEC_40, "kodek.codecs.wavtokenizer:build", ("torch", "transformers")),
    CodecEntry(SPEC_75, "kodek.codecs.unsupported:refuse"),
]
