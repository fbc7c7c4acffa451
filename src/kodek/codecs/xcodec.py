"""X-Codec (Ye et al. 2024) through transformers' XcodecModel: acoustic + semantic (HuBERT/WavLM) RVQ codec.

16 kHz, 50 frames/s, residual codebooks of 1024: 1, 2, 4 and 8 codebooks are
0.5, 1, 2 and 4 kbps. Two speech checkpoints: the HuBERT-based one trained on
LibriSpeech (English) and the WavLM-based one trained on Multilingual LibriSpeech
(whose 8 languages include Polish). Random-weight builds take the transformers
default config (HuBERT base semantic branch) and, for the WavLM variant, WavLM base
plus as the semantic branch. The semantic branch (HuBERT/WavLM base) normalises
over the whole input, so utterances are encoded one at a time
(``batch_invariant = False``).
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, load_pretrained, seed_residual_codebooks, shared
from kodek.codecs.registry import CodecEntry
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
        install_extra="codecs",
        description=f"X-Codec ({variant}), {codebooks} RVQ codebooks = {BANDWIDTH[codebooks]:g} kbps, transformers.",
        options={"variant": variant, "bandwidth": BANDWIDTH[codebooks]},
    )


class XcodecCodec(TorchCodec):
    hop_length = 320
    batch_invariant = False

    def __init__(self, spec: CodecSpec, model, *, random_weights: bool) -> None:
        super().__init__(spec, random_weights=random_weights)
        self.model = model.eval()
        self.bandwidth = float(spec.options["bandwidth"])

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            codes = self.model.encode(self.tensor(waves)[:, None, :], bandwidth=self.bandwidth).audio_codes
        return codes.cpu().numpy().astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            waves = self.model.decode(self.tensor(codes, torch.long)).audio_values[:, 0]
        return waves.float().cpu().numpy(), np.minimum(self.sample_lengths(frame_lengths), waves.shape[-1])


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


def _random_model(variant: str, seed: int):
    import torch
    from transformers import WavLMConfig, XcodecConfig, XcodecModel

    torch.manual_seed(seed)
    config = XcodecConfig() if variant == "hubert-librispeech" else XcodecConfig(semantic_model_config=WavLMConfig())
    model = XcodecModel(config).eval()
    wave = torch.from_numpy(calibration_audio(16_000, 2.0, seed=seed))[None, None]
    layers = model.quantizer.quantizers
    with torch.no_grad():
        vectors = quantizer_inputs(model, wave)[0].T  # [F, D]

        def assign(stage: int, embed) -> None:
            layers[stage].codebook.embed.copy_(embed)
            layers[stage].codebook.embed_avg.copy_(embed)

        seed_residual_codebooks(vectors, [config.codebook_size] * len(layers), assign, seed=seed)
    return model


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> XcodecCodec:
    variant = spec.options["variant"]
    if random_weights:
        return XcodecCodec(
            spec, shared(("xcodec", variant, seed), lambda: _random_model(variant, seed)), random_weights=True
        )
    from transformers import XcodecModel

    ckpt = spec.checkpoint
    model = load_pretrained(
        lambda: XcodecModel.from_pretrained(ckpt.repo, revision=ckpt.revision), spec.id, ckpt.repo, ckpt.revision
    )
    return XcodecCodec(spec, model, random_weights=False)


ENTRIES = [
    CodecEntry(_spec(variant, k), "kodek.codecs.xcodec:build", ("torch", "transformers"))
    for variant in VARIANTS
    for k in BANDWIDTH
]
