"""SemantiCodec (Liu et al., 2024) in its own environment, installed from the authors' GitHub repository.

The inference package is not on the package registry: the ``semanticodec`` environment installs it
from ``haoheliu/SemantiCodec-inference`` at a pinned commit (the repository's head as mirrored
publicly, 2025-03-07), which needs access to github.com; where that is not reachable,
``kodek env build semanticodec`` fails with uv's one-line reason. The model only loads its released
weights (no random-weight build: its constructor downloads them), from ``haoheliu/SemantiCodec`` at
``main``; the commit they resolve to is recorded. Each utterance goes through the authors' own
``encode(filepath)`` (a temporary 16 kHz WAV), so their padding to 0.16 s patches and their Kaldi
filter banks apply; a frame holds the semantic and the acoustic token.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kodek.codecs.isolated import IsolatedCodec, WorkerCodec
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import SEMANTICODEC

PATCH_S = 0.16  # AudioMAE patch: the authors pad every utterance to a whole number of these


def _spec(tokens_per_second: int) -> CodecSpec:
    # Two codebooks per frame: semantic (16384) + acoustic (8192); the token rate counts both.
    return CodecSpec(
        id=f"semanticodec-{tokens_per_second}tps",
        family="semanticodec",
        kind="semantic",
        sample_rate=16_000,
        frame_rate=tokens_per_second / 2,
        num_codebooks=2,
        codebook_size=(16_384, 8_192),
        checkpoint=Checkpoint(
            "haoheliu/SemantiCodec",
            "main",
            loader="semanticodec",
            note="commit recorded",
            random_weights_need="the real weights: SemantiCodec's constructor loads them",
        ),
        license="see haoheliu/SemantiCodec-inference",
        description=f"SemantiCodec at {tokens_per_second} tokens/s (semantic vocabulary 16384); runs in the "
        "semanticodec environment (installed from GitHub at a pinned commit).",
        options={"token_rate": tokens_per_second, "semantic_vocab_size": 16_384},
    )


class SemantiCodecCodec(WorkerCodec):
    def __init__(self, spec: CodecSpec, model: Any, **kwargs: Any) -> None:
        super().__init__(spec, model, **kwargs)
        self.hop_length = int(spec.sample_rate / spec.frame_rate)

    def num_frames(self, num_samples: int) -> int:
        seconds = num_samples / self.spec.sample_rate
        padded = seconds + (PATCH_S - seconds % PATCH_S)
        return math.ceil(padded * self.spec.frame_rate)

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        import tempfile

        import soundfile

        with tempfile.NamedTemporaryFile(suffix=".wav") as file:
            soundfile.write(file.name, wave, self.spec.sample_rate, subtype="FLOAT")
            tokens = self.model.encode(file.name)  # [1, frames, 2]
        return tokens[0].T.long().cpu().numpy()

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        wave = self.model.decode(torch.as_tensor(codes.T[None], device=self.model.device))
        return np.asarray(wave, dtype=np.float32).reshape(-1)


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> SemantiCodecCodec:
    from huggingface_hub import constants

    from kodek.codecs.base import CodecError

    if random_weights:
        raise CodecError(f"{spec.id}: SemantiCodec has no random-weight build (its constructor loads the weights)")
    from semanticodec import SemantiCodec

    model = SemantiCodec(
        token_rate=spec.options["token_rate"],
        semantic_vocab_size=spec.options["semantic_vocab_size"],
        cache_path=constants.HF_HUB_CACHE,  # the usual Hub cache, where the resolved commit shows
    )
    commit = _resolved_commit("haoheliu/SemantiCodec")
    return SemantiCodecCodec(spec, model, random_weights=False, checkpoint_commit=commit)


def _resolved_commit(repo: str) -> str | None:
    from huggingface_hub import constants

    ref = constants.HF_HUB_CACHE and f"{constants.HF_HUB_CACHE}/models--{repo.replace('/', '--')}/refs/main"
    try:
        with open(ref) as file:
            return file.read().strip()
    except OSError:
        return None


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    factory = "kodek.codecs.semanticodec:build_local"
    return IsolatedCodec(spec, SEMANTICODEC, factory, random_weights=random_weights, seed=seed)


ENTRIES = [CodecEntry(_spec(rate), "kodek.codecs.semanticodec:build", env=SEMANTICODEC.name) for rate in (100, 50, 25)]
