"""Codecs that run in the torch-audio environment (X-Codec2, NeuCodec, BigCodec), with random weights.

The environment is built once (``kodek env build torch-audio``; about 5 GB, seconds with uv's cache
warm) into the usual cache folder, so later sessions reuse it. Where it cannot be built (no package
registry), these tests skip and say why. Expected frame counts come from the published frame rates.
"""

from __future__ import annotations

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs.init import calibration_audio
from kodek.envs import TORCH_AUDIO

from conftest import built_env, random_codecs, started_ahead

TORCH_AUDIO_CODECS = ["xcodec2", "neucodec", "bigcodec-16khz"]
# 630 M-parameter models built from their configs: minutes on a busy 2-core machine, above the default timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="session")
def torch_audio_env():
    return built_env(TORCH_AUDIO)


@started_ahead
def isolated_codecs():
    return random_codecs(TORCH_AUDIO, TORCH_AUDIO_CODECS)


@pytest.fixture(params=TORCH_AUDIO_CODECS)
def isolated_codec(request, isolated_codecs):
    return isolated_codecs[request.param]


def clips(rate: int, seconds=(0.41, 0.27)) -> list[np.ndarray]:
    return [calibration_audio(rate, s, seed=k) for k, s in enumerate(seconds)]


def test_codes_match_the_spec_and_batches_equal_one_by_one(isolated_codec):
    codec = isolated_codec
    spec = codec.spec
    waves = clips(spec.sample_rate)
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    assert codes.dtype == np.int64 and codes.shape[:2] == (2, spec.num_codebooks)
    for wave, count in zip(waves, frames, strict=True):
        published = len(wave) / spec.sample_rate * spec.frame_rate
        assert np.ceil(published) <= count <= np.ceil(published) + 1  # every sample is covered by a frame
        assert count == codec.num_frames(len(wave))
    assert codes.min() >= 0 and codes.max() < max(spec.codebook_sizes)
    assert len(np.unique(codes[0, :, : frames[0]])) > 1  # random weights still give varied codes
    alone, alone_frames = codec.encode(*pad_batch(waves[1:], codec.pad_multiple))
    np.testing.assert_array_equal(alone[0, :, : alone_frames[0]], codes[1, :, : frames[1]])

    rec, lengths = codec.decode(codes, frames)
    assert rec.dtype == np.float32 and rec.ndim == 2 and np.isfinite(rec).all()
    for wave, length, count in zip(waves, lengths, frames, strict=True):
        # one hop of samples per frame at the spec's sample rate (NeuCodec's 24 kHz output is resampled)
        assert length == count * spec.sample_rate / spec.frame_rate
        assert len(wave) <= length <= len(wave) + 2 * spec.sample_rate / spec.frame_rate


def test_the_codec_records_its_environment(isolated_codec):
    described = isolated_codec.describe()
    assert described["random_weights"] is True and described["num_parameters"] > 1_000_000
    environment = described["environment"]
    assert environment["name"] == "torch-audio"
    assert {"torch==2.11.0", "torchaudio==2.11.0"} <= set(environment["packages"])


@pytest.mark.weights
@pytest.mark.network
@pytest.mark.parametrize("codec_id", TORCH_AUDIO_CODECS)
def test_real_weights_load_and_record_the_resolved_commit(codec_id, torch_audio_env):
    from kodek.codecs import build_codec

    codec = build_codec(codec_id)
    commit = codec.describe()["checkpoint_commit"]
    assert len(commit) == 40 and int(commit, 16) >= 0
    codes, _ = codec.encode(*pad_batch(clips(codec.spec.sample_rate), codec.pad_multiple))
    assert codes.max() < max(codec.spec.codebook_sizes)
    codec.close()
