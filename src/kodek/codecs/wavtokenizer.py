"""WavTokenizer (Ji et al., ICLR 2025) through transformers: one codebook of 4096 at 24 kHz.

The 40 tokens/s model (hop 600) exists in the transformers format
(``swiss-ai/wavtokenizer-large-unify-40token``, converted from
``novateur/WavTokenizer-large-unify-40token``): 40 Hz x 12 bit = 480 bit/s. The
75 tokens/s speech model (hop 320, 900 bit/s) is published only as the authors'
Lightning training checkpoint (``novateur/WavTokenizer-medium-speech-75token``);
kodek converts its inference tensors into transformers' ``WavTokenizerModel`` at
load time (``convert_upstream_state``). Random-weight builds take the published
architecture of each rate; the single codebook starts at zero and is seeded from
data. The SEANet encoder is non-causal, so utterances are encoded one at a time
(``padding_exact = False``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from kodek.codecs.base import TorchCodec, WeightsUnavailableError
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
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
    description="WavTokenizer large (unified domains), 40 tokens/s x 4096 entries = 0.48 kbps, transformers.",
)

# The authors' 75 tokens/s speech checkpoint. The file name is the one public users of the repo load
# (e.g. voidful/Codec-SUPERB's wavtokenizer_medium_speech_75token codec; transformers' own converter lists it
# among the released WavTokenizer files); "main" is resolved at run time and the commit recorded.
CKPT_75_FILE = "wavtokenizer_medium_speech_320_24k_v2.ckpt"
SPEC_75 = CodecSpec(
    id="wavtokenizer-75tps",
    family="wavtokenizer",
    kind="acoustic",
    sample_rate=24_000,
    frame_rate=75.0,
    num_codebooks=1,
    codebook_size=4096,
    checkpoint=Checkpoint(
        "novateur/WavTokenizer-medium-speech-75token",
        "main",
        loader="wavtokenizer",
        note=f"Lightning checkpoint {CKPT_75_FILE}, converted to transformers at load time; commit recorded",
    ),
    license="mit",
    description="WavTokenizer medium (speech), 75 tokens/s x 4096 entries = 0.9 kbps, transformers "
    "(converted from the authors' checkpoint).",
)

# The 75 tokens/s architecture, from the authors' configs/wavtokenizer_smalldata_frame75_3s_nq1_code4096_dim512_
# kmeans200_attn.yaml (github.com/jishengpeng/WavTokenizer, commit 5cf440d) and the SEANet arguments fixed in
# decoder/feature_extractors.py (EncodecFeatures): `dowmsamples: [8, 5, 4, 2]` (hop 320), `vq_bins: 4096`, a
# 512-dim encoder (32 filters, 1 residual layer, 2 LSTM layers, compress 2, conv shortcuts: true_skip=False),
# Vocos backbone `dim: 768`, `intermediate_dim: 2304`, `num_layers: 12`, `adanorm_num_embeddings: 4`, ISTFT head
# `n_fft: 1280`, `hop_length: 320`. transformers' `upsampling_ratios` are reversed for the encoder exactly as
# SEANet's `ratios` are, and it derives n_fft = 4 x hop (1280), so the same list means the same model.
CONFIG_75: dict[str, Any] = {
    "sampling_rate": 24_000,
    "upsampling_ratios": [8, 5, 4, 2],
    "num_filters": 32,
    "num_residual_layers": 1,
    "num_lstm_layers": 2,
    "compress": 2,
    "use_conv_shortcut": True,
    "hidden_size": 512,
    "codebook_size": 4096,
    "codebook_dim": 512,
    "decoder_hidden_size": 768,
    "decoder_intermediate_size": 2304,
    "decoder_num_layers": 12,
    "adanorm_num_embeddings": 4,
}

# Upstream state-dict names -> transformers WavTokenizerModel names. Upstream (decoder/pretrained.py,
# from_pretrained0802) keeps the `feature_extractor.`, `backbone.` and `head.` tensors of the Lightning
# `state_dict`. Its encoder is EnCodec's SEANet (`encodec.encoder.model.<i>`, the same layer order as
# transformers' `encoder.layers.<i>`), whose convolutions nest as `conv.conv` with the legacy weight norm
# (`weight_g`, `weight_v`); its single-stage quantizer keeps the codebook under `vq.layers.0._codebook`. The
# Vocos backbone has the same names in both; the ISTFT head's projection is `out` upstream, `linear` here.
PREFIXES = (
    ("feature_extractor.encodec.encoder.model.", "encoder_model.encoder.layers."),
    ("feature_extractor.encodec.quantizer.vq.layers.0._codebook.", "encoder_model.quantizer.codebook."),
    ("backbone.", "backbone."),
    ("head.out.", "head.linear."),
)
SUFFIXES = (
    (re.compile(r"\.conv\.conv\.weight_g$"), ".conv.parametrizations.weight.original0"),
    (re.compile(r"\.conv\.conv\.weight_v$"), ".conv.parametrizations.weight.original1"),
    (re.compile(r"\.conv\.conv\.bias$"), ".conv.bias"),
)
# Not used at inference: the SEANet decoder (replaced by the Vocos backbone and ISTFT head), the ISTFT window
# (transformers rebuilds it), and the training-only discriminators and losses of the Lightning module.
DROPPED = (
    "feature_extractor.encodec.decoder.",
    "head.istft.window",
    "multiperioddisc.",
    "multiresddisc.",
    "dac.",
    "dacdiscriminator.",
    "melspec_loss.",
)


def convert_upstream_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The transformers-named tensors of an upstream WavTokenizer state dict. A name that no rule knows is kept
    as it is, so that a strict load reports it instead of silently losing it."""
    converted = {}
    for name, tensor in state.items():
        if name.startswith(DROPPED):
            continue
        for old, new in PREFIXES:
            if name.startswith(old):
                name = new + name[len(old) :]
                break
        for pattern, replacement in SUFFIXES:
            name = pattern.sub(replacement, name)
        converted[name] = tensor
    return converted


def load_upstream_state(model: Any, state: Mapping[str, Any], source: str) -> Any:
    """``model`` holding the converted upstream tensors; every parameter and buffer must be matched exactly."""
    converted = convert_upstream_state(state)
    missing, unexpected = _mismatches(model, converted)
    if missing or unexpected:
        raise WeightsUnavailableError(
            f"{source}: not the WavTokenizer layout kodek converts ({len(missing)} tensors missing, e.g. "
            f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]})"
        )
    model.load_state_dict(converted, strict=True)
    return model


def _mismatches(model: Any, converted: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    unexpected += sorted(n for n in set(converted) & set(expected) if converted[n].shape != expected[n].shape)
    return missing, unexpected


class WavTokenizerCodec(TorchCodec):
    hop_length = 600

    def _encode(self, batch, lengths: np.ndarray):
        return self.model.encode(batch).audio_codes

    def _decode(self, codes):
        return self.model.decode(codes).audio_values

    @classmethod
    def config(cls) -> Any:
        from transformers import WavTokenizerConfig

        return WavTokenizerConfig()  # transformers' defaults are the 40 tokens/s architecture

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch
        from transformers import WavTokenizerModel

        torch.manual_seed(seed)
        model = WavTokenizerModel(cls.config()).eval()
        wave = torch.from_numpy(calibration_audio(24_000, 8.0, seed=seed))[None, None]
        with torch.no_grad():
            vectors = model.encoder_model.encoder(wave)[0].T  # [F, D]
            seed_residual_codebooks(vectors, [model.encoder_model.quantizer.codebook], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        from transformers import WavTokenizerModel

        return WavTokenizerModel.from_pretrained(spec.checkpoint.repo, revision=spec.checkpoint.revision)


class WavTokenizer75Codec(WavTokenizerCodec):
    hop_length = 320

    @classmethod
    def config(cls) -> Any:
        from transformers import WavTokenizerConfig

        return WavTokenizerConfig(**CONFIG_75)

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        import torch
        from huggingface_hub import hf_hub_download
        from transformers import WavTokenizerModel

        ckpt = spec.checkpoint
        path = hf_hub_download(ckpt.repo, CKPT_75_FILE, revision=ckpt.revision)
        # Tensors only: the Lightning file also pickles its hyper-parameters, which kodek never executes.
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        model = WavTokenizerModel(cls.config())
        return load_upstream_state(model, state, f"{ckpt.repo}/{CKPT_75_FILE}").eval()


ENTRIES = [*WavTokenizerCodec.entries([SPEC_40]), *WavTokenizer75Codec.entries([SPEC_75])]
