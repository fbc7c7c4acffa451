"""X-Codec (Ye et al. 2024) through transformers' XcodecModel: acoustic + semantic (HuBERT/WavLM) RVQ codec.

16 kHz, 50 frames/s, residual codebooks of 1024: 1, 2, 4 and 8 codebooks are
0.5, 1, 2 and 4 kbps. Two speech checkpoints: the HuBERT-based one trained on
LibriSpeech (English) and the WavLM-based one trained on Multilingual LibriSpeech
(whose 8 languages include Polish). Random-weight builds take the transformers
default config (HuBERT base semantic branch) and, for the WavLM variant, WavLM base
plus as the semantic branch. The semantic branch (HuBERT/WavLM base) normalises
over the whole input, so utterances are encoded one at a time
(``padding_exact = False``).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
from kodek.codecs.spec import Checkpoint, CodecSpec

VARIANTS = {
    "hubert-librispeech": Checkpoint("hf-audio/xcodec-hubert-librispeech", "main", note="English (LibriSpeech)"),
    "wavlm-mls": Checkpoint("hf-audio/xcodec-wavlm-mls", "main", note="Multilingual LibriSpeech, incl. Polish"),
}
BANDWIDTH = {1: 0.5, 2: 1.0, 4: 2.0, 8: 4.0}  # codebooks -> kbps (the config's target bandwidths)


def _spec(variant: str, codebooks: int) -> CodecSpec:
    return CodecSpec(
        id=f"xcodec-{variant}-{codebooks}cb",
        family="xcodec",
        kind="semantic",
        sample_rate=16_000,
        frame_rate=50.0,
        num_codebooks=codebooks,
        codebook_size=1024,
        checkpoint=VARIANTS[variant],
        license="cc-by-4.0",
        description=f"X-Codec ({variant}), {codebooks} RVQ codebooks = {BANDWIDTH[codebooks]:g} kbps, transformers.",
        options={"variant": variant, "bandwidth": BANDWIDTH[codebooks]},
    )


class XcodecCodec(TorchCodec):
    hop_length = 320

    def _encode(self, batch, lengths: np.ndarray):
        return self.model.encode(batch, bandwidth=float(self.spec.options["bandwidth"])).audio_codes

    def _decode(self, codes):
        return self.model.decode(codes).audio_values

    @classmethod
    def model_key(cls, spec: CodecSpec) -> tuple:
        return (spec.options["variant"],)

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import WavLMConfig, XcodecConfig, XcodecModel

        torch.manual_seed(seed)
        variant = spec.options["variant"]
        semantic = {} if variant == "hubert-librispeech" else {"semantic_model_config": WavLMConfig()}
        config = XcodecConfig(**semantic)
        model = XcodecModel(config).eval()
        wave = torch.from_numpy(calibration_audio(16_000, 2.0, seed=seed))[None, None]
        with torch.no_grad():
            vectors = quantizer_inputs(model, wave)[0].T  # [F, D]
            seed_residual_codebooks(vectors, [layer.codebook for layer in model.quantizer.quantizers], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import XcodecModel

        return XcodecModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


def quantizer_inputs(model, wave) -> object:
    """What XcodecModel.encode hands its quantizer, captured by wrapping ``quantizer.encode`` once."""
    captured = []
    original = model.quantizer.encode

    def capture(embeddings, *args, **kwargs):
        captured.append(embeddings)
        return original(embeddings, *args, **kwargs)

    model.quantizer.encode = capture
    try:
        model.encode(wave)
    finally:
        del model.quantizer.encode  # back to the class method
    return captured[0]


ENTRIES = XcodecCodec.entries(_spec(variant, k) for variant in VARIANTS for k in BANDWIDTH)
