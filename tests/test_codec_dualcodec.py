"""DualCodec (12.5 Hz and 25 Hz) in the dualcodec environment, with random weights.

The environment is built once (``kodek env build dualcodec``) into the usual cache folder; where it cannot
be built (no package registry), these tests skip and say why. The expected facts come from the package's
model configs and README: 24 kHz, hop 1920 / 960, one semantic codebook of 16384 then 7 acoustic codebooks
of 4096 / 11 of 1024.
"""

from __future__ import annotations

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs.init import calibration_audio
from kodek.envs import DUALCODEC

from conftest import built_env, random_codecs, started_ahead

# w2v-BERT 2.0 (580 M parameters) plus the codec, built from configs: minutes on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PUBLISHED = {  # id -> (hop, codebooks, acoustic codebook size)
    "dualcodec-12hz-8cb": (1920, 8, 4096),
    "dualcodec-25hz-12cb": (960, 12, 1024),
}


@pytest.fixture(scope="session")
def dualcodec_env():
    return built_env(DUALCODEC)


@started_ahead
def dualcodecs():
    return random_codecs(DUALCODEC, PUBLISHED)


@pytest.fixture(params=sorted(PUBLISHED))
def dualcodec(request, dualcodecs):
    return dualcodecs[request.param]


def test_spec_facts(dualcodec):
    hop, codebooks, acoustic = PUBLISHED[dualcodec.spec.id]
    spec = dualcodec.spec
    assert (spec.sample_rate, spec.frame_rate * hop, spec.num_codebooks) == (24_000, 24_000, codebooks)
    assert spec.codebook_sizes == (16_384, *[acoustic] * (codebooks - 1)) and dualcodec.pad_multiple == hop


def test_codes_round_trip_and_batches_equal_one_by_one(dualcodec):
    hop, codebooks, acoustic = PUBLISHED[dualcodec.spec.id]
    waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([0.83, 0.41])]
    codes, frames = dualcodec.encode(*pad_batch(waves, hop))
    assert codes.dtype == np.int64 and codes.shape[:2] == (2, codebooks)
    for wave, count in zip(waves, frames, strict=True):
        # The pooled w2v-BERT frames: the authors' codec accepts at most 2 fewer than whole hops of audio.
        assert np.ceil(len(wave) / hop) - 2 <= count <= np.ceil(len(wave) / hop)
        assert count == dualcodec.num_frames(len(wave))
    assert codes[:, 0].max() < 16_384 and codes[:, 1:].max() < acoustic and codes.min() >= 0
    assert len(np.unique(codes[0, 0, : frames[0]])) > 1 and len(np.unique(codes[0, 1:, : frames[0]])) > 2
    alone, alone_frames = dualcodec.encode(*pad_batch(waves[1:], hop))
    np.testing.assert_array_equal(alone[0, :, : alone_frames[0]], codes[1, :, : frames[1]])

    out, lengths = dualcodec.decode(codes, frames)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    for length, count in zip(lengths, frames, strict=True):
        assert (
            count * hop - hop < length <= count * hop
        )  # one hop of samples per frame (the causal decoder trims a few)


def test_the_codec_records_its_environment(dualcodec):
    described = dualcodec.describe()
    assert described["random_weights"] is True and described["num_parameters"] > 580_000_000  # with w2v-BERT 2.0
    assert described["environment"]["name"] == "dualcodec"
    packages = set(described["environment"]["packages"])
    assert {"torch==2.11.0", "torchaudio==2.11.0", "dualcodec==0.4.2"} <= packages


@pytest.mark.weights
@pytest.mark.network
@pytest.mark.parametrize("codec_id", sorted(PUBLISHED))
def test_real_weights_load_and_record_the_resolved_commits(codec_id, dualcodec_env):
    from kodek.codecs import build_codec

    codec = build_codec(codec_id)
    described = codec.describe()
    assert len(described["checkpoint_commit"]) == 40 and len(described["semantic_model_commit"]) == 40
    codes, _ = codec.encode(*pad_batch([calibration_audio(24_000, 1.0)], codec.pad_multiple))
    assert codes.max() < 16_384
    codec.close()
