"""FunCodec in its own environment (``kodek env build funcodec``), with random weights from kodek's config.

The environment is built once into the usual cache folder (seconds with uv's cache warm); where it cannot
be built (no package registry), these tests skip and say why. Expected values come from FunCodec's
published facts: 16 kHz, downsampling 640 (25 Hz), 32 codebooks of 1024 (250 bit/s each), 57.83 M
parameters (its README), and ``ceil(samples / 640)`` frames per utterance (its inference script).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs.init import calibration_audio
from kodek.envs import FUNCODEC

from conftest import built_env, random_codecs, started_ahead

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

IDS = ("funcodec-16khz-ds640-16cb", "funcodec-16khz-ds640-32cb")


@pytest.fixture(scope="session")
def funcodec_env():
    return built_env(FUNCODEC)


@started_ahead
def funcodecs():
    return random_codecs(FUNCODEC, IDS)


@pytest.fixture(scope="module")
def codec(funcodecs):
    return funcodecs[IDS[0]]


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return [calibration_audio(16_000, seconds, seed=k) for k, seconds in enumerate((0.41, 0.27))]


@pytest.fixture(scope="module")
def encoded(codec, clips):
    return codec.encode(*pad_batch(clips, codec.pad_multiple))


def test_specs_state_the_published_rates():
    from kodek.codecs import registry

    for codec_id, codebooks in zip(IDS, (16, 32), strict=True):
        spec = registry().get(codec_id).spec
        assert (spec.sample_rate, spec.frame_rate, spec.codebook_size) == (16_000, 25.0, 1024)
        assert spec.num_codebooks == codebooks and spec.bitrate_bps == pytest.approx(250 * codebooks)


def test_codes_match_the_spec_and_batches_equal_one_by_one(codec, clips, encoded):
    codes, frames = encoded
    spec = codec.spec
    assert codes.dtype == np.int64 and codes.shape[:2] == (2, spec.num_codebooks)
    assert frames.tolist() == [math.ceil(len(w) / 16_000 * 25) for w in clips] == [11, 7]
    assert [codec.num_frames(len(w)) for w in clips] == frames.tolist()
    assert codes.min() >= 0 and codes.max() < 1024
    assert len(np.unique(codes[0, :, : frames[0]])) > 50  # seeded codebooks: varied codes
    alone, alone_frames = codec.encode(*pad_batch(clips[1:], codec.pad_multiple))
    np.testing.assert_array_equal(alone[0, :, : alone_frames[0]], codes[1, :, : frames[1]])


def test_codes_ignore_the_input_level(codec, clips, encoded):
    """FunCodec divides each utterance by its RMS before encoding (audio_normalize): half the level, same codes."""
    codes, _ = encoded
    quieter, _ = codec.encode(*pad_batch([0.5 * w for w in clips], codec.pad_multiple))
    assert np.mean(quieter == codes) > 0.99


def test_round_trip_gives_one_hop_per_frame(codec, clips, encoded):
    codes, frames = encoded
    rec, lengths = codec.decode(codes, frames)
    assert rec.dtype == np.float32 and np.isfinite(rec).all()
    assert lengths.tolist() == [f * 640 for f in frames.tolist()]
    for wave, length in zip(clips, lengths, strict=True):
        assert len(wave) <= length < len(wave) + 640
    assert 0 < np.abs(rec).max() <= 0.99 + 1e-6  # FunCodec writes its output under a 0.99 peak


def test_fewer_codebooks_are_a_prefix_of_the_residual(codec, encoded, clips, funcodecs):
    """Both ids are one model read with 16 or 32 residual stages (FunCodec's bit_width 4000 / 8000)."""
    full, full_frames = funcodecs[IDS[1]].encode(*pad_batch(clips, codec.pad_multiple))
    codes, frames = encoded
    assert full.shape[1] == 32 and full_frames.tolist() == frames.tolist()
    np.testing.assert_array_equal(full[:, :16], codes)


def test_the_codec_records_its_environment_and_size(codec):
    described = codec.describe()
    assert described["random_weights"] is True and described["funcodec"] == "0.2.0"
    # FunCodec's README: 57.83 M parameters, counting the training discriminator
    total = described["num_parameters"] + described["discriminator_parameters"]
    assert round(total / 1e6, 2) == 57.83 and codec.num_parameters() == described["num_parameters"]
    environment = described["environment"]
    assert environment["name"] == "funcodec"
    assert {"torch==2.11.0", "torchaudio==2.11.0"} <= set(environment["packages"])


@pytest.mark.weights
@pytest.mark.network
@pytest.mark.parametrize("codec_id", IDS)
def test_real_weights_load_and_record_the_resolved_commit(codec_id, funcodec_env, clips):
    from kodek.codecs import build_codec

    codec = build_codec(codec_id)
    described = codec.describe()
    assert len(described["checkpoint_commit"]) == 40 and int(described["checkpoint_commit"], 16) >= 0
    assert round((described["num_parameters"] + described["discriminator_parameters"]) / 1e6, 2) == 57.83
    codes, frames = codec.encode(*pad_batch(clips, codec.pad_multiple))
    assert codes.shape[1] == codec.spec.num_codebooks and codes.max() < 1024 and frames.tolist() == [11, 7]
    rec, lengths = codec.decode(codes, frames)
    assert lengths.tolist() == [11 * 640, 7 * 640] and np.isfinite(rec).all()
    codec.close()
