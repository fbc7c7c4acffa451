"""DAC (16/24/44.1 kHz and codebook-prefix variants) and Mimi (8/16/32 codebooks) through transformers."""

from __future__ import annotations

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import build_codec, get_spec
from kodek.codecs.base import check_codes
from kodek.codecs.dac import config as dac_config
from kodek.codecs.init import calibration_audio

from conftest import padding_changes_codes

pytestmark = pytest.mark.slow  # random-weight neural models, built and run for seconds


@pytest.mark.parametrize(
    ("codec_id", "rate", "frame_rate", "codebooks", "bps"),
    [
        ("dac-16khz", 16_000, 50.0, 12, 6_000),  # 12 x 50 Hz x 10 bit
        ("dac-16khz-4cb", 16_000, 50.0, 4, 2_000),
        ("dac-24khz", 24_000, 75.0, 32, 24_000),  # 32 x 75 Hz x 10 bit
        ("dac-44khz", 44_100, 44_100 / 512, 9, 7_751.953125),  # 9 x 86.13 Hz x 10 bit
        ("mimi-8cb", 24_000, 12.5, 8, 1_100),  # 8 x 12.5 Hz x 11 bit
        ("mimi-32cb", 24_000, 12.5, 32, 4_400),
    ],
)
def test_published_facts(codec_id, rate, frame_rate, codebooks, bps):
    spec = get_spec(codec_id)
    assert (spec.sample_rate, spec.frame_rate, spec.num_codebooks) == (rate, frame_rate, codebooks)
    assert spec.bitrate_bps == pytest.approx(bps)


@pytest.fixture(scope="module")
def dac16(random_codec):
    return random_codec("dac-16khz")


@pytest.fixture(scope="module")
def mimi(random_codec):
    return random_codec("mimi-8cb")


def test_dac_configs_carry_the_true_hop(dac16):
    for model, hop in (("16khz", 320), ("24khz", 320), ("44khz", 512)):
        config = dac_config(model)
        assert config.hop_length == int(np.prod(config.downsampling_ratios)) == hop
    assert dac16.model.config.n_codebooks == 12 and dac16.num_parameters() == 74_141_697


def test_dac_codes_frames_and_round_trip(dac16):
    waves = [calibration_audio(16_000, s, seed=k) for k, s in enumerate([1.0, 0.3])]
    codes, frames = dac16.encode(*pad_batch(waves, dac16.pad_multiple))
    check_codes(codes, dac16.spec)
    assert frames.tolist() == [50, 15] and codes.shape[1] == 12
    assert len(np.unique(codes)) > 100
    out, lengths = dac16.decode(codes, frames)
    assert lengths.tolist() == [15_992, 4_800]  # DAC 16 kHz returns 8 samples short of whole frames
    assert np.isfinite(out).all()


def test_dac_codebook_prefix_variant_is_the_prefix_of_the_full_codes(dac16):
    from kodek.codecs.dac import DacCodec

    four = DacCodec(get_spec("dac-16khz-4cb"), dac16.model, random_weights=True)
    wave = [calibration_audio(16_000, 0.5, seed=2)]
    full, _ = dac16.encode(*pad_batch(wave, 320))
    prefix, _ = four.encode(*pad_batch(wave, 320))
    np.testing.assert_array_equal(prefix, full[:, :4])


def test_dac_is_not_batch_invariant(dac16):
    """Centred convolutions see past the end of a padded item."""
    assert padding_changes_codes(dac16, (1.0, 0.3)) and not dac16.padding_exact


def test_mimi_facts_match_the_model_and_its_codes(mimi):
    config = mimi.model.config
    assert config.sampling_rate == 24_000 and config.frame_rate == 12.5 and config.codebook_size == 2048
    assert mimi.num_parameters() == 79_308_609  # kyutai/mimi
    waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([1.0, 0.3])]
    codes, frames = mimi.encode(*pad_batch(waves, mimi.pad_multiple))
    check_codes(codes, mimi.spec)
    assert frames.tolist() == [13, 4] and len(np.unique(codes)) > 50
    out, lengths = mimi.decode(codes, frames)
    assert lengths.tolist() == [13 * 1920, 4 * 1920] and np.isfinite(out).all()


def test_mimi_batched_equals_one_by_one(mimi, monkeypatch):
    """Causal: padding never reaches an item's frames. In float64, with the quantiser's float32
    distances made float64 too, the codes are identical."""
    import torch
    from transformers.models.mimi import modeling_mimi

    def quantize64(self, hidden_states):
        return torch.cdist(hidden_states[None].double(), self.embed[None].double())[0].argmin(dim=-1)

    monkeypatch.setattr(modeling_mimi.MimiEuclideanCodebook, "quantize", quantize64)
    mimi.to("cpu", torch.float64)
    layers = [
        *mimi.model.quantizer.semantic_residual_vector_quantizer.layers,
        *mimi.model.quantizer.acoustic_residual_vector_quantizer.layers,
    ]
    try:
        for layer in layers:
            layer.codebook._embed = None
        waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([1.0, 0.3, 2.2])]
        batched, frames = mimi.encode(*pad_batch(waves, mimi.pad_multiple))
        for k, wave in enumerate(waves):
            single, f = mimi.encode(*pad_batch([wave], mimi.pad_multiple))
            np.testing.assert_array_equal(single[0, :, : f[0]], batched[k, :, : frames[k]])
    finally:
        mimi.to("cpu", torch.float32)
        for layer in layers:
            layer.codebook._embed = None


@pytest.mark.weights
def test_real_checkpoints_load():
    assert build_codec("mimi-8cb").num_parameters() == 79_308_609
    assert build_codec("dac-16khz").model.config.n_codebooks == 12
