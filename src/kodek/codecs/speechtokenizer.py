"""SpeechTokenizer (Zhang et al., ICLR 2024): RVQ whose first stage is distilled from HuBERT.

16 kHz, 50 frames/s, 8 residual codebooks of 1024: all 8 = 4 kbps; the first one
alone (RVQ-1, the "semantic" stage, 0.5 kbps) is registered too. Weights:
``fnlp/SpeechTokenizer`` (``speechtokenizer_hubert_avg/config.json`` +
``SpeechTokenizer.pt``), read with ``hf_hub_download``.

The ``speechtokenizer`` package declares torchaudio and its ``__init__`` imports
the trainer (which needs it); its model does not. kodek installs it without
dependencies and imports ``speechtokenizer.model`` with the package ``__init__``
bypassed. Its encoder has a bidirectional LSTM, so utterances are encoded one at
a time (``padding_exact = False``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import numpy as np

from kodek.codecs.base import TorchCodec
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
from kodek.codecs.spec import Checkpoint, CodecSpec

# Commit pinned by several public projects (exact-string search of public GitHub code: a checkpoint prefetch script
# pinning fnlp/SpeechTokenizer, and parity tools pinning it with speechtokenizer_hubert_avg/SpeechTokenizer.pt).
CHECKPOINT = Checkpoint("fnlp/SpeechTokenizer", "4d54939beef00572fa7bfe41ee35a335c3732f51", loader="speechtokenizer")
CONFIG_FILE = "speechtokenizer_hubert_avg/config.json"
WEIGHTS_FILE = "speechtokenizer_hubert_avg/SpeechTokenizer.pt"
# speechtokenizer_hubert_avg/config.json (the model's part)
CONFIG = {
    "n_filters": 64,
    "strides": [8, 5, 4, 2],
    "dimension": 1024,
    "semantic_dimension": 768,
    "bidirectional": True,
    "dilation_base": 2,
    "residual_kernel_size": 3,
    "n_residual_layers": 1,
    "lstm_layers": 2,
    "activation": "ELU",
    "codebook_size": 1024,
    "n_q": 8,
    "sample_rate": 16_000,
}


def _spec(codebooks: int) -> CodecSpec:
    name = "speechtokenizer-rvq1" if codebooks == 1 else "speechtokenizer"
    return CodecSpec(
        id=name,
        family="speechtokenizer",
        kind="semantic",
        sample_rate=16_000,
        frame_rate=50.0,
        num_codebooks=codebooks,
        codebook_size=1024,
        checkpoint=CHECKPOINT,
        license="apache-2.0",
        description="SpeechTokenizer, RVQ-1 only (the HuBERT-distilled semantic stage, 0.5 kbps)"
        if codebooks == 1
        else "SpeechTokenizer, all 8 RVQ stages (4 kbps)",
        options={"n_q": codebooks},
    )


def model_class():
    """``speechtokenizer.model.SpeechTokenizer`` without running the package ``__init__`` (which needs torchaudio)."""
    if "speechtokenizer.model" not in sys.modules:
        spec = importlib.util.find_spec("speechtokenizer")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("speechtokenizer is not installed (pip install --no-deps speechtokenizer)")
        package = types.ModuleType("speechtokenizer")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = importlib.machinery.ModuleSpec("speechtokenizer", None, is_package=True)
        sys.modules.setdefault("speechtokenizer", package)
    from speechtokenizer.model import SpeechTokenizer

    return SpeechTokenizer


class SpeechTokenizerCodec(TorchCodec):
    hop_length = 320
    requires = ("torch", "speechtokenizer")
    install_extra = "speechtokenizer"

    def _encode(self, batch, lengths: np.ndarray):
        return self.model.encode(batch, n_q=int(self.spec.options["n_q"])).permute(1, 0, 2)  # [K, B, F] -> [B, K, F]

    def _decode(self, codes):
        return self.model.decode(codes.permute(1, 0, 2))

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch

        torch.manual_seed(seed)
        model = model_class()(CONFIG).eval()
        wave = torch.from_numpy(calibration_audio(16_000, 2.0, seed=seed))[None, None]
        with torch.no_grad():
            vectors = model.encoder(wave)[0].T  # [F, dimension]
            seed_residual_codebooks(vectors, [layer._codebook for layer in model.quantizer.vq.layers], seed=seed)
        return model

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
        import json

        import torch
        from huggingface_hub import hf_hub_download

        config_path = hf_hub_download(CHECKPOINT.repo, CONFIG_FILE, revision=CHECKPOINT.revision)
        weights_path = hf_hub_download(CHECKPOINT.repo, WEIGHTS_FILE, revision=CHECKPOINT.revision)
        with open(config_path, encoding="utf-8") as handle:
            model = model_class()(json.load(handle))
        model.load_state_dict(torch.load(weights_path, map_location="cpu"))
        return model


ENTRIES = SpeechTokenizerCodec.entries(_spec(k) for k in (8, 1))
