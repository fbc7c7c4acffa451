"""X-Codec, WavTokenizer (40 and 75 tokens/s) and SpeechTokenizer with random weights."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import build_codec, get_spec
from kodek.codecs.base import check_codes
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
def wavtokenizer75(random_codec):
    return random_codec("wavtokenizer-75tps")


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


def test_wavtokenizer_75_has_the_published_architecture(wavtokenizer75):
    """configs/wavtokenizer_smalldata_frame75_3s_nq1_code4096_dim512_kmeans200_attn.yaml (jishengpeng/WavTokenizer):
    downsamples [8, 5, 4, 2], 4096 bins, Vocos backbone 768/2304/12 layers/4 embeddings, ISTFT n_fft 1280, hop 320."""
    config = wavtokenizer75.model.config
    assert (config.sampling_rate, list(config.upsampling_ratios), config.codebook_size) == (24_000, [8, 5, 4, 2], 4096)
    assert (config.hop_length, config.n_fft, config.frame_rate, wavtokenizer75.pad_multiple) == (320, 1280, 75, 320)
    assert (config.decoder_hidden_size, config.decoder_intermediate_size, config.decoder_num_layers) == (768, 2304, 12)
    assert (config.adanorm_num_embeddings, config.hidden_size, config.num_filters) == (4, 512, 32)
    assert wavtokenizer75.model.head.linear.out_features == 1280 + 2


def test_wavtokenizer_75_codes_and_round_trip_lengths(wavtokenizer75):
    # 1 s, 0.33 s (7920 samples: not a whole hop) and one sample past a hop.
    waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([1.0, 0.33])] + [np.full(321, 0.1, "f4")]
    codes, frames = wavtokenizer75.encode(*pad_batch(waves, wavtokenizer75.pad_multiple))
    check_codes(codes, wavtokenizer75.spec)
    assert codes.shape == (3, 1, 75) and frames.tolist() == [75, 25, 2] and len(np.unique(codes)) > 10
    out, lengths = wavtokenizer75.decode(codes, frames)
    assert lengths.tolist() == [24_000, 8_000, 640] and out.shape == (3, 24_000) and np.isfinite(out).all()
    single, single_frames = wavtokenizer75.encode(*pad_batch(waves[1:2], 320))
    assert single.shape == (1, 1, 25) and single_frames.tolist() == [25]


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


@pytest.mark.weights
def test_real_checkpoints_load():
    assert build_codec("speechtokenizer").num_parameters() == 103_675_586
    assert build_codec("xcodec-hubert-librispeech-8cb").model.config.sample_rate == 16_000


@pytest.mark.weights
def test_wavtokenizer_real_checkpoint_loads():
    codec = build_codec("wavtokenizer-40tps")
    assert codec.model.config.sampling_rate == 24_000 and codec.model.config.codebook_size == 4096


@pytest.mark.weights
def test_wavtokenizer_75_authors_checkpoint_converts():
    codec = build_codec("wavtokenizer-75tps")  # the Lightning file, converted with a strict load
    assert codec.model.config.hop_length == 320 and codec.num_parameters() > 70_000_000
    wave = calibration_audio(24_000, 1.0)
    codes, frames = codec.encode(*pad_batch([wave], 320))
    assert frames.tolist() == [75] and len(np.unique(codes)) > 20
    out, _ = codec.decode(codes, frames)
    rms = np.sqrt(np.mean(out[0] ** 2) / np.mean(wave**2))
    assert np.isfinite(out).all() and 0.5 < rms < 2  # trained weights reconstruct the level
