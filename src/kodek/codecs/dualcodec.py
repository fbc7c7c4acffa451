"""DualCodec (Li et al., Interspeech 2025) in its own environment, through the authors' ``dualcodec`` package.

A frame holds one semantic code (the first RVQ stage, 16384 entries, quantising w2v-BERT 2.0 layer-17
features) and the acoustic residual codes of a DAC-style encoder at 24 kHz. The package's model configs
(``dualcodec/conf/model/*.yaml`` in the 0.4.2 wheel) and its README give the two released variants:
``12hz_v1`` (encoder rates 4x5x6x8x2 = hop 1920, 12.5 Hz, 7 acoustic codebooks of 4096, "any from 1-8"
quantizers) and ``25hz_v1`` (4x5x6x8 = hop 960, 25 Hz, 11 acoustic codebooks of 1024, 1-12); kodek uses
all of them. The package imports descript-audiotools (protobuf<3.20) and torchaudio, hence the environment.

Each utterance goes through the authors' ``Inference.encode``: resampled to 16 kHz, SeamlessM4T filter
banks, w2v-BERT 2.0 hidden state 17, normalised with the released mean/variance, average-pooled to the
codec's rate. The codes have as many frames as those pooled features, which can be one or two fewer than
whole hops of audio (the filter banks drop a partial window): ``num_frames`` follows that arithmetic, and the
reconstruction is ``frames x hop`` samples long. Random weights build the package's config and w2v-BERT 2.0's
architecture (normalisation mean 0, deviation 1); real weights are ``amphion/dualcodec`` and
``facebook/w2v-bert-2.0`` at ``main``, resolved at run time and both commits recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kodek.codecs.isolated import IsolatedCodec, WorkerCodec, random_transformers_model
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import DUALCODEC

SAMPLE_RATE = 24_000
SEMANTIC_RATE = 16_000
SEMANTIC_MODEL = "facebook/w2v-bert-2.0"
MEAN_VAR_FILE = "w2vbert2_mean_var_stats_emilia.pt"  # in amphion/dualcodec, as the package's Inference loads it
# model id -> (frame rate, hop, acoustic codebook size, codebooks in all, weights file, package config)
VARIANTS: dict[str, tuple[float, int, int, int, str, str]] = {
    "12hz_v1": (12.5, 1920, 4096, 8, "dualcodec_12hz_16384_4096.safetensors", "dualcodec_12hz_16384_4096_8vq.yaml"),
    "25hz_v1": (25.0, 960, 1024, 12, "dualcodec_25hz_16384_1024.safetensors", "dualcodec_25hz_16384_1024_12vq.yaml"),
}


def _spec(model_id: str) -> CodecSpec:
    rate, _, acoustic, codebooks, _, _ = VARIANTS[model_id]
    label = model_id.split("_")[0]
    return CodecSpec(
        id=f"dualcodec-{label}-{codebooks}cb",
        family="dualcodec",
        kind="semantic",
        sample_rate=SAMPLE_RATE,
        frame_rate=rate,
        num_codebooks=codebooks,
        codebook_size=(16_384, *[acoustic] * (codebooks - 1)),
        checkpoint=Checkpoint(
            "amphion/dualcodec", "main", loader="dualcodec", note=f"with {SEMANTIC_MODEL}; commits recorded"
        ),
        license="see amphion/dualcodec",
        description=f"DualCodec {label}: 1 semantic (w2v-BERT 2.0, 16384) + {codebooks - 1} acoustic codebooks "
        f"of {acoustic} at {rate:g} Hz, 24 kHz; runs in the dualcodec environment.",
        options={"model_id": model_id},
    )


class DualCodecCodec(WorkerCodec):
    """``model`` is the authors' ``Inference`` (the codec and the semantic front end)."""

    def __init__(self, spec: CodecSpec, inference: Any, **kwargs: Any) -> None:
        import torch

        modules = torch.nn.ModuleDict({"codec": inference.model, "semantic": inference.semantic_cfg.semantic_model})
        super().__init__(spec, modules, **kwargs)
        self.inference = inference
        self.hop_length = VARIANTS[spec.options["model_id"]][1]
        self.pool = inference.model.semantic_downsample_factor

    def num_frames(self, num_samples: int) -> int:
        """Pooled w2v-BERT frames: 16 kHz samples (torchaudio rounds up), 25 ms / 10 ms filter-bank windows
        (a partial one dropped), padded to an even count and stacked in pairs (stride 2), then pooled."""
        samples_16k = -(-num_samples * SEMANTIC_RATE // SAMPLE_RATE)
        windows = 1 + (samples_16k - 400) // 160
        return (windows + windows % 2) // 2 // self.pool

    def to(self, device: str, dtype: Any = None) -> DualCodecCodec:
        super().to(device, dtype)
        self.inference.device = device
        for key in ("mean", "std"):
            self.inference.semantic_cfg[key] = self.inference.semantic_cfg[key].to(device)
        return self

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        import torch

        semantic, acoustic = self.inference.encode(self.tensor(wave)[None, None], n_quantizers=self.spec.num_codebooks)
        return torch.cat([semantic, acoustic], dim=1)[0].long().cpu().numpy()

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        codes_t = self.tensor(codes[None], torch.long)
        return self.inference.decode(codes_t[:, :1], codes_t[:, 1:]).reshape(-1).float().cpu().numpy()


def _codec_model(model_id: str) -> Any:
    """The package's DualCodec built from the model config it ships, as its ``get_model`` does."""
    from importlib.resources import files

    import hydra
    from omegaconf import OmegaConf

    config = OmegaConf.load(str(files("dualcodec") / "conf" / "model" / VARIANTS[model_id][5]))
    return hydra.utils.instantiate(config.model)


def _semantic_config(model: Any, mean: Any, std: Any) -> Any:
    """The front end the package's ``Inference`` builds (``_build_semantic_model``): layer 15, output 17."""
    from easydict import EasyDict
    from transformers import SeamlessM4TFeatureExtractor

    return EasyDict(
        semantic_model=model.eval(),
        layer_idx=15,
        output_idx=17,
        mean=mean,
        std=std,
        feature_extractor=SeamlessM4TFeatureExtractor(),  # its defaults are w2v-BERT 2.0's preprocessor
    )


def _inference(codec_model: Any, semantic: Any) -> Any:
    """The package's ``Inference`` around already built parts (its constructor downloads them itself); autocast
    off, so the codec runs in float32 on any device."""
    from dualcodec import Inference

    inference = Inference.__new__(Inference)
    inference.model, inference.semantic_cfg = codec_model.eval(), semantic
    inference.device, inference.autocast = "cpu", False
    return inference


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> DualCodecCodec:
    """Inside the environment: the authors' model and w2v-BERT 2.0, seeded random or from the Hub."""
    import torch
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    model_id = spec.options["model_id"]
    torch.manual_seed(seed)
    codec_model = _codec_model(model_id)
    if random_weights:
        semantic = random_transformers_model(Wav2Vec2BertModel, Wav2Vec2BertConfig())
        mean, std = torch.zeros(semantic.config.hidden_size), torch.ones(semantic.config.hidden_size)
        inference = _inference(codec_model, _semantic_config(semantic, mean, std))
        return DualCodecCodec(spec, inference, random_weights=True, seed=seed)
    import safetensors.torch
    from huggingface_hub import hf_hub_download

    ckpt = spec.checkpoint
    weights = hf_hub_download(ckpt.repo, VARIANTS[model_id][4], revision=ckpt.revision)
    stats = torch.load(hf_hub_download(ckpt.repo, MEAN_VAR_FILE, revision=ckpt.revision), map_location="cpu")
    safetensors.torch.load_model(codec_model, weights)
    semantic_config = hf_hub_download(SEMANTIC_MODEL, "config.json", revision="main")
    semantic = Wav2Vec2BertModel.from_pretrained(SEMANTIC_MODEL, revision=_commit_of(semantic_config))
    inference = _inference(codec_model, _semantic_config(semantic, stats["mean"], torch.sqrt(stats["var"])))
    facts = {"checkpoint_commit": _commit_of(weights), "semantic_model_commit": _commit_of(semantic_config)}
    return DualCodecCodec(spec, inference, random_weights=False, **facts)


def _commit_of(path: str) -> str:
    from pathlib import Path

    return Path(path).parent.name  # .../snapshots/<commit>/<file>


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    return IsolatedCodec(
        spec, DUALCODEC, "kodek.codecs.dualcodec:build_local", random_weights=random_weights, seed=seed
    )


ENTRIES = [CodecEntry(_spec(m), "kodek.codecs.dualcodec:build", env=DUALCODEC.name) for m in VARIANTS]
