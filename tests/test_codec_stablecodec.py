"""Stable Codec in its ``stable-codec`` environment (torch 2.4, the authors' ``StableCodec`` class).

Stable Codec's architecture config is published only inside its gated Hub repository, so the random-weight
tests build the authors' class from a small test architecture of the same kind (a transformer autoencoder
of stable-audio-tools with a hop of 640 samples, 6 latent dimensions for the post-hoc FSQ presets): it
checks kodek's wrapping (padding, normalisation, presets, batching), not Stable Codec's numbers. The
environment is built once per machine (a session fixture) or the tests skip and say why. Expected values
come from the published facts: 25 Hz at 16 kHz, dictionaries of 6^6 and 5^6 (the authors' preset table).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import build_codec
from kodek.codecs.base import CodecError, WeightsUnavailableError
from kodek.codecs.init import calibration_audio
from kodek.codecs.isolated import IsolatedCodec
from kodek.codecs.stablecodec import SPECS, with_config
from kodek.envs import STABLE_CODEC, interpreter

from conftest import built_env, started_ahead, started_together

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

HOP = 640  # 16 kHz / 25 Hz
# A test architecture, not Stable Codec's: two transformer blocks (128 and 256 channels, strides 20 x 32 = HOP).
BLOCK = {"channels": 128, "latent_dim": 6, "c_mults": [1, 2], "strides": [20, 32], "transformer_depths": [1, 1]}
TEST_CONFIG = {
    "model_type": "autoencoder",
    "sample_rate": 16_000,
    "sample_size": 16_000,
    "audio_channels": 1,
    "model": {
        "encoder": {"type": "taae", "config": {"in_channels": 1, **BLOCK}},
        "decoder": {"type": "taae", "config": {"out_channels": 1, **BLOCK}},
        "bottleneck": {"type": "dithered_fsq", "config": {"dim": 6, "levels": 17}},
        "latent_dim": 6,
        "downsampling_ratio": HOP,
        "io_channels": 1,
    },
}


@pytest.fixture(scope="session")
def stable_codec_env():
    return built_env(STABLE_CODEC)


@started_ahead
@contextlib.contextmanager
def stable_codecs():
    built_env(STABLE_CODEC)
    with tempfile.TemporaryDirectory(prefix="stable-codec-") as folder:

        def build(spec):
            spec = with_config(spec, TEST_CONFIG, Path(folder))
            return IsolatedCodec(spec, STABLE_CODEC, "kodek.codecs.stablecodec:build_local", random_weights=True)

        with started_together({spec.id: functools.partial(build, spec) for spec in SPECS}) as codecs:
            yield codecs


@pytest.fixture(params=[spec.id for spec in SPECS])
def codec(request, stable_codecs):
    return stable_codecs[request.param]


def clips(seconds=(0.93, 0.27)) -> list[np.ndarray]:
    # 0.93 s is loudness-normalised; 0.27 s is shorter than one 400 ms gating block and is not
    return [calibration_audio(16_000, s, seed=k) for k, s in enumerate(seconds)]


def test_presets_are_the_published_dictionaries():
    sizes = {spec.id: (spec.num_codebooks, spec.codebook_size, spec.frame_rate) for spec in SPECS}
    assert sizes == {
        "stable-codec-speech-16khz-400bps": (1, 6**6, 25.0),
        "stable-codec-speech-16khz-700bps": (2, 5**6, 25.0),
    }


def test_codes_match_the_spec_and_batches_equal_one_by_one(codec):
    spec = codec.spec
    waves = clips()
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    assert codes.dtype == np.int64 and codes.shape[:2] == (2, spec.num_codebooks)
    assert frames.tolist() == [int(np.ceil(len(w) / spec.sample_rate * spec.frame_rate)) for w in waves]
    assert frames.tolist() == [codec.num_frames(len(w)) for w in waves]
    assert codes.min() >= 0 and codes.max() < spec.codebook_size
    for item, count in zip(codes, frames, strict=True):
        assert len(np.unique(item[:, :count])) > 1  # random weights still give varied codes
    alone, alone_frames = codec.encode(*pad_batch(waves[1:], codec.pad_multiple))
    np.testing.assert_array_equal(alone[0, :, : alone_frames[0]], codes[1, :, : frames[1]])

    rec, lengths = codec.decode(codes, frames)
    assert rec.dtype == np.float32 and np.isfinite(rec).all()
    assert lengths.tolist() == [count * HOP for count in frames]


def test_loudness_is_normalised_before_encoding(codec):
    wave = clips()[0]
    codes, _ = codec.encode(*pad_batch([wave, 0.25 * wave], codec.pad_multiple))
    # -20 LUFS whatever the input gain: the same codes, bar round-off flips at near-ties
    assert np.mean(codes[0] == codes[1]) > 0.9


# The authors' own path: StableCodec.encode(filename) loads, pads, normalises and quantises (same seed, same
# weights), with each preset in turn on one model (a post-hoc preset only replaces the quantiser).
AUTHORS_ENCODE = """
import sys, numpy as np, torch
from stable_codec import StableCodec
config, wav, out, *presets = sys.argv[1:]
torch.manual_seed(0)
model = StableCodec(model_config_path=config)
codes = {}
for preset in presets:
    model.set_posthoc_bottleneck(preset)
    _, tokens = model.encode(wav, posthoc_bottleneck=True)
    codes[preset] = np.stack([stage[0, :, 0].numpy() for stage in tokens])
np.savez(out, **codes)
"""


@started_ahead
@contextlib.contextmanager
def authors_codes() -> Iterator[dict[str, np.ndarray]]:
    """The authors' codes of ``clips()[0]`` as a WAV file, per preset (one process for both presets)."""
    import soundfile

    with tempfile.TemporaryDirectory(prefix="stable-codec-authors-") as name:
        folder = Path(name)
        built_env(STABLE_CODEC)
        wav, out = folder / "clip.wav", folder / "codes.npz"
        soundfile.write(wav, clips()[0], 16_000, subtype="FLOAT")
        config = with_config(SPECS[0], TEST_CONFIG, folder).options["model_config"]
        clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        presets = [spec.options["preset"] for spec in SPECS]
        done = subprocess.run(
            [str(interpreter(STABLE_CODEC)), "-c", AUTHORS_ENCODE, config, str(wav), str(out), *presets],
            env=clean,
            capture_output=True,
            text=True,
            check=False,
        )
        if "backend" in done.stderr.lower() and done.returncode:
            pytest.skip(f"torchaudio in the environment cannot read WAV files here: {done.stderr.splitlines()[-1]}")
        assert done.returncode == 0, done.stderr[-2000:]
        with np.load(out) as codes:
            yield {preset: codes[preset] for preset in presets}


def test_codes_equal_the_authors_encode_of_a_file(codec, authors_codes):
    codes, frames = codec.encode(*pad_batch([clips()[0]], codec.pad_multiple))
    np.testing.assert_array_equal(codes[0, :, : frames[0]], authors_codes[codec.spec.options["preset"]])


def test_the_codec_records_its_environment(codec):
    described = codec.describe()
    assert described["random_weights"] is True and described["preset"] == codec.spec.options["preset"]
    assert described["loudness_target_lufs"] == -20 and isinstance(described["sliding_window_attention"], bool)
    environment = described["environment"]
    assert environment["name"] == "stable-codec"
    assert {"torch==2.4.0", "torchaudio==2.4.0", "stable-codec==0.1.2"} <= set(environment["packages"])


def test_random_weights_without_the_config_say_why_offline(stable_codec_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"model_config\.json"):
        build_codec(SPECS[0].id, random_weights=True)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine may have flash-attn")
def test_real_weights_without_flash_attention_are_refused(stable_codec_env):
    with pytest.raises(CodecError, match="flash-attn"):
        build_codec(SPECS[0].id)


@pytest.mark.weights
@pytest.mark.network
@pytest.mark.gpu
@pytest.mark.parametrize("codec_id", [spec.id for spec in SPECS])
def test_real_weights_load_and_record_the_resolved_commit(codec_id, stable_codec_env):
    codec = build_codec(codec_id, device="cuda")
    described = codec.describe()
    assert len(described["checkpoint_commit"]) == 40 and described["sliding_window_attention"] is True
    waves = clips()
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    assert codes.max() < codec.spec.codebook_size and frames.tolist() == [24, 7]
    codec.close()
