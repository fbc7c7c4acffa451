"""X-Codec, WavTokenizer and SpeechTokenizer with random weights; X-Codec2 and NeuCodec registered as unsupported."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import availability, build_codec, get_spec, registry
from kodek.codecs.base import UnsupportedCodecError, check_codes
from kodek.codecs.init import calibration_audio

from conftest import padding_changes_codes

pytestmark = pytest.mark.slow  # random-weight neural models, built and run for seconds


@pytest.mark.parametrize(
    ("codec_id", "rate", "frame_rate", "codebooks", "size", "bps"),
    [
        ("xcodec-hubert-librispeech-1cb", 16_000, 50, 1, 1024, 500),
        ("xcodec-wavlm-mls-8cb", 16_000, 50, 8, 1024, 4_000),
        ("wavtokenizer-40tps", 24_000, 40, 1, 4096, 480),
        ("wavtokenizer-75tps", 24_000, 75, 1, 4096, 900),
        ("speechtokenizer", 16_000, 50, 8, 1024, 4_000),
        ("speechtokenizer-rvq1", 16_000, 50, 1, 1024, 500),
        ("xcodec2", 16_000, 50, 1, 65_536, 800),
        ("neucodec", 16_000, 50, 1, 65_536, 800),
    ],
)
def test_published_facts(codec_id, rate, frame_rate, codebooks, size, bps):
    spec = get_spec(codec_id)
    assert (spec.sample_rate, spec.frame_rate, spec.num_codebooks, spec.codebook_size) == (
        rate,
        frame_rate,
        codebooks,
        size,
    )
    assert spec.bitrate_bps == pytest.approx(bps)


@pytest.fixture(scope="module")
def xcodec(random_codec):
    return random_codec("xcodec-hubert-librispeech-4cb")


@pytest.fixture(scope="module")
def wavtokenizer(random_codec):
    return random_codec("wavtokenizer-40tps")


@pytest.fixture(scope="module")
def speechtokenizer(random_codec):
    return random_codec("speechtokenizer")


def test_xcodec_codes_and_config(xcodec):
    config = xcodec.model.config
    assert config.sample_rate == 16_000 and config.codebook_size == 1024 and 2.0 in config.target_bandwidths
    waves = [calibration_audio(16_000, s, seed=k) for k, s in enumerate([1.0, 0.33])]
    codes, frames = xcodec.encode(*pad_batch(waves, 320))
    check_codes(codes, xcodec.spec)
    assert codes.shape[1] == 4 and frames.tolist() == [50, 17] and len(np.unique(codes)) > 50
    out, lengths = xcodec.decode(codes, frames)
    assert lengths.tolist() == [16_000, 5_440] and np.isfinite(out).all()


def test_wavtokenizer_codes_and_config(wavtokenizer):
    assert (
        wavtokenizer.model.config.sampling_rate == 24_000
        and np.prod(wavtokenizer.model.config.upsampling_ratios) == 600
    )
    waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([1.0, 0.33])]
    codes, frames = wavtokenizer.encode(*pad_batch(waves, wavtokenizer.pad_multiple))
    check_codes(codes, wavtokenizer.spec)
    assert frames.tolist() == [40, 14] and len(np.unique(codes)) > 10  # the zero codebook was seeded
    out, lengths = wavtokenizer.decode(codes, frames)
    assert lengths.tolist() == [24_000, 8_400] and np.isfinite(out).all()


def test_speechtokenizer_imports_no_torchaudio_and_rvq1_is_the_first_stage(speechtokenizer):
    assert "torchaudio" not in sys.modules
    assert speechtokenizer.num_parameters() == 103_675_586  # speechtokenizer_hubert_avg's architecture
    waves = [calibration_audio(16_000, s, seed=k) for k, s in enumerate([0.5, 0.33])]
    codes, frames = speechtokenizer.encode(*pad_batch(waves, 320))
    check_codes(codes, speechtokenizer.spec)
    assert frames.tolist() == [25, 17] and len(np.unique(codes)) > 100
    from kodek.codecs.speechtokenizer import SpeechTokenizerCodec

    rvq1 = SpeechTokenizerCodec(get_spec("speechtokenizer-rvq1"), speechtokenizer.model, random_weights=True)
    first, _ = rvq1.encode(*pad_batch(waves, 320))
    np.testing.assert_array_equal(first[:, 0], codes[:, 0])
    out, lengths = speechtokenizer.decode(codes, frames)
    assert lengths.tolist() == [8_000, 5_440] and np.isfinite(out).all()


@pytest.mark.parametrize("name", ["xcodec", "wavtokenizer", "speechtokenizer"])
def test_non_causal_codecs_are_encoded_one_by_one(name, request):
    """Padding changes the shorter item's codes, so these are never batched."""
    codec = request.getfixturevalue(name)
    assert padding_changes_codes(codec) and not codec.padding_exact


@pytest.mark.parametrize("codec_id", ["wavtokenizer-75tps"])
def test_unsupported_newer_systems_say_why(codec_id):
    state = availability(registry().get(codec_id))
    assert state.status == "unsupported" and ("torchaudio" in state.reason or "checkpoint" in state.reason)
    with pytest.raises(UnsupportedCodecError):
        build_codec(codec_id)


@pytest.mark.weights
def test_real_checkpoints_load():
    assert build_codec("speechtokenizer").num_parameters() == 103_675_586
    assert build_codec("xcodec-hubert-librispeech-8cb").model.config.sample_rate == 16_000


@pytest.mark.weights
def test_wavtokenizer_real_checkpoint_loads():
    codec = build_codec("wavtokenizer-40tps")
    assert codec.model.config.sampling_rate == 24_000 and codec.model.config.codebook_size == 4096
