"""Stable Codec (Parker et al., 2024): a transformer autoencoder at 25 Hz, 16 kHz, in the ``stable-codec`` environment.

The model is the authors' ``StableCodec`` class (``stable-codec`` 0.1.2 on stable-audio-tools 0.0.17) with
one of their post-hoc FSQ presets set by ``set_posthoc_bottleneck``: ``1x46656_400bps`` (one token of
6^6 per frame) or ``2x15625_700bps`` (two of 5^6). Each utterance goes through the steps of their
``encode(path)``: ``preprocess_audio_for_encoder`` (zero-padding to a whole hop of 640 samples), then
loudness normalisation to -20 LUFS (their ``VolumeNorm``), then the encoder and the post-hoc quantiser.
An utterance whose padded length is under one 400 ms loudness gating block (ITU-R BS.1770) has no
measurable loudness (their normalisation raises on it) and is encoded as it is.

Real weights: ``stabilityai/stable-codec-speech-16k`` (gated on the Hub; ``model_config.json`` and the
checkpoint) read at ``main``, the commit recorded, loaded strictly as their ``get_pretrained_model`` does.
The authors state that the model needs FlashAttention (its sliding-window attention; without it the
attention spans the whole utterance and they warn the results are degraded), so real weights run only
where ``flash_attn`` imports and CUDA is available. Random weights need the architecture config, which
is published only inside that gated repository (no public copy found): it is read from the Hub, or from
a local copy named by the spec option ``model_config``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs.isolated import IsolatedCodec, WorkerCodec, snapshot
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import STABLE_CODEC

REPO = "stabilityai/stable-codec-speech-16k"
CONFIG_FILE = "model_config.json"
GATING_BLOCK_S = 0.4  # BS.1770 loudness needs at least one 400 ms block


def _spec(label: str, count: int, size: int) -> CodecSpec:
    return CodecSpec(
        id=f"stable-codec-speech-16khz-{label}",
        family="stable-codec",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=25.0,
        num_codebooks=count,
        codebook_size=size,
        checkpoint=Checkpoint(
            REPO,
            "main",
            loader="stable-codec",
            note="resolved at run time, commit recorded",
            random_weights_need="the architecture's model_config.json, published only in the gated repository",
        ),
        license="stabilityai-community",
        description=f"Stable Codec speech 16 kHz, post-hoc FSQ preset {count}x{size} at 25 Hz; runs in the "
        "stable-codec environment (real weights need flash-attn on a GPU).",
        options={"preset": f"{count}x{size}_{label}"},
    )


SPECS = [_spec("400bps", 1, 46_656), _spec("700bps", 2, 15_625)]


class StableCodecCodec(WorkerCodec):
    def __init__(self, spec: CodecSpec, codec: Any, **kwargs: Any) -> None:
        super().__init__(spec, codec, **kwargs)
        self.hop_length = int(codec.model.downsampling_ratio)
        codec.set_posthoc_bottleneck(spec.options["preset"])

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        codec = self.model
        audio = codec.model.preprocess_audio_for_encoder(self.tensor(wave)[None], self.spec.sample_rate)
        if audio.shape[-1] >= GATING_BLOCK_S * self.spec.sample_rate:
            audio = codec.volume_norm(audio.squeeze(0)).unsqueeze(0)
        _, tokens = codec.encode(audio, posthoc_bottleneck=True)  # one [1, frames, 1] per stage
        return np.stack([stage[0, :, 0].long().cpu().numpy() for stage in tokens])

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        tokens = [self.tensor(stage, torch.long)[None, :, None] for stage in codes]
        return self.model.decode(tokens, posthoc_bottleneck=True).reshape(-1).float().cpu().numpy()


def sliding_window_attention() -> bool:
    """Whether stable-audio-tools runs its sliding-window attention (FlashAttention 2 on CUDA)."""
    from importlib.util import find_spec

    if find_spec("flash_attn") is None:  # known without importing stable-audio-tools (seconds of imports)
        return False
    import torch
    from stable_audio_tools.models import transformer

    return transformer.flash_attn_func is not None and torch.cuda.is_available()


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> StableCodecCodec:
    from kodek.codecs.base import CodecError

    # What refuses to build (no flash-attn, no architecture config) is checked before the model's imports.
    attention = sliding_window_attention()
    if not random_weights and not attention:
        raise CodecError(
            f"{spec.id}: real weights need flash-attn on a CUDA device (the model's sliding-window attention; "
            "without it the authors warn that results are degraded): install flash-attn into the stable-codec "
            "environment on a GPU machine"
        )
    facts: dict[str, Any] = {"preset": spec.options["preset"], "sliding_window_attention": attention}
    if random_weights:
        config, commit = _config(spec)
    else:
        folder, commit = snapshot(spec)
        config = folder / CONFIG_FILE
    import torch
    from stable_codec import StableCodec

    torch.manual_seed(seed)
    codec = StableCodec(model_config_path=str(config))
    facts["loudness_target_lufs"] = codec.volume_norm.value  # their VolumeNorm([-20, 0]): no random gain
    if random_weights:
        return StableCodecCodec(spec, codec, random_weights=True, seed=seed, config_commit=commit, **facts)
    from stable_audio_tools.models.utils import load_ckpt_state_dict

    weights = folder / "model.safetensors"
    codec.model.load_state_dict(load_ckpt_state_dict(str(weights if weights.exists() else folder / "model.ckpt")))
    return StableCodecCodec(spec, codec, random_weights=False, checkpoint_commit=commit, **facts)


def _config(spec: CodecSpec) -> tuple[Path, str | None]:
    """The architecture config for random weights: the spec's local copy, else the gated Hub file."""
    from kodek.codecs.base import WeightsUnavailableError

    if spec.options.get("model_config"):
        return Path(spec.options["model_config"]), None
    from huggingface_hub import hf_hub_download

    ckpt = spec.checkpoint
    assert ckpt is not None
    try:
        path = Path(hf_hub_download(ckpt.repo, CONFIG_FILE, revision=ckpt.revision))
    except Exception as error:  # offline, gated (no token), missing: the Hub client raises many kinds
        raise WeightsUnavailableError(
            f"{spec.id}: random weights need the architecture config {CONFIG_FILE} of {ckpt.repo}, which is "
            f"published only in that gated repository ({type(error).__name__}); run where the Hub is reachable "
            "with access to it",
            short=f"{CONFIG_FILE} of {ckpt.repo} could not be loaded (gated; offline?)",
        ) from None
    return path, path.parent.name  # snapshots/<commit>/model_config.json


def with_config(spec: CodecSpec, config: Path | dict[str, Any], folder: Path) -> CodecSpec:
    """``spec`` reading its architecture from ``config`` (a file, or a dict written into ``folder``)."""
    if isinstance(config, dict):
        path = folder / f"{spec.id}-{CONFIG_FILE}"
        path.write_text(json.dumps(config))
        config = path
    return dataclasses.replace(spec, options={**spec.options, "model_config": str(config)})


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    return IsolatedCodec(
        spec, STABLE_CODEC, "kodek.codecs.stablecodec:build_local", random_weights=random_weights, seed=seed
    )


ENTRIES = [CodecEntry(spec, "kodek.codecs.stablecodec:build", env=STABLE_CODEC.name) for spec in SPECS]
