"""SNAC (multi-scale, laid out as 7 codes per coarse frame) and ESPnet's SoundStream; systems declared unsupported."""

from __future__ import annotations

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import availability, build_codec, registry
from kodek.codecs.base import UnsupportedCodecError, check_codes
from kodek.codecs.init import calibration_audio
from kodek.codecs.snac import from_frames, to_frames

from conftest import padding_changes_codes

pytestmark = pytest.mark.slow  # random-weight neural models, built and run for seconds


@pytest.fixture(scope="module")
def snac(random_codec):
    return random_codec("snac-24khz")


@pytest.fixture(scope="module")
def soundstream(random_codec):
    return random_codec("soundstream-espnet-16khz-4kbps")


def test_snac_layout_is_lossless():
    rng = np.random.default_rng(0)
    levels = [rng.integers(0, 4096, (2, n)) for n in (3, 6, 12)]
    frames = to_frames(levels)
    assert frames.shape == (2, 7, 3)
    assert frames[1, :, 1].tolist() == [levels[0][1, 1], *levels[1][1, 2:4], *levels[2][1, 4:8]]
    for a, b in zip(from_frames(frames), levels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_snac_facts_match_the_model_and_its_codes(snac):
    model, spec = snac.model, snac.spec
    assert model.sampling_rate == spec.sample_rate == 24_000
    assert model.hop_length * max(model.vq_strides) == snac.hop_length == 2048
    assert model.codebook_size == spec.codebook_size == 4096 and model.n_codebooks == 3
    assert spec.bitrate_bps == pytest.approx(984.375)  # 11.72 Hz x 7 x 12 bit: SNAC's published 0.98 kbps
    assert snac.num_parameters() == 19_842_914  # the hubertsiuzdak/snac_24khz architecture (19.8 M)
    waves = [calibration_audio(24_000, s, seed=k + 3) for k, s in enumerate([1.0, 0.4])]
    codes, frames = snac.encode(*pad_batch(waves, snac.pad_multiple))
    check_codes(codes, spec)
    assert frames.tolist() == [12, 5]  # ceil(duration x 11.72 Hz)
    assert len(np.unique(codes)) > 20  # codebooks seeded from data
    out, lengths = snac.decode(codes, frames)
    assert lengths.tolist() == [12 * 2048, 5 * 2048] and np.isfinite(out).all()


@pytest.mark.parametrize("name", ["snac", "soundstream"])
def test_non_causal_codecs_are_encoded_one_by_one(name, request):
    """A padded batch changes the last frames of the shorter item, so the pipeline must not batch these."""
    codec = request.getfixturevalue(name)
    assert padding_changes_codes(codec, (1.0, 0.4)) and not codec.padding_exact


def test_soundstream_facts_match_the_model_and_its_codes(soundstream):
    generator, spec = soundstream.model, soundstream.spec
    assert generator.sample_rate == spec.sample_rate == 16_000
    assert generator.frame_rate == spec.frame_rate == 50
    assert generator.quantizer.get_num_quantizers_for_bandwidth(generator.frame_rate, 4) == spec.num_codebooks == 8
    assert spec.bitrate_bps == 4_000
    waves = [calibration_audio(16_000, s, seed=k) for k, s in enumerate([1.0, 0.33])]
    codes, frames = soundstream.encode(*pad_batch(waves, soundstream.pad_multiple))
    check_codes(codes, spec)
    assert codes.shape[:2] == (2, 8) and frames.tolist() == [50, 17]
    assert len(np.unique(codes)) > 100  # zero-initialised codebooks were seeded from data
    out, lengths = soundstream.decode(codes, frames)
    assert lengths.tolist() == [16_000, 5_440] and out.shape[1] >= 16_000


def test_a_system_declared_unsupported_is_listed_with_its_reason_and_refused(monkeypatch):
    """A plugin may register a system it cannot run here (``CodecSpec.unsupported``): listed, never built."""
    from kodek.codecs.registry import CodecEntry
    from kodek.codecs.spec import CodecSpec

    reason = "its package pins torch==2.4, which this environment cannot hold"
    spec = CodecSpec(
        id="pinned-elsewhere",
        family="test",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=50.0,
        num_codebooks=1,
        codebook_size=1024,
        checkpoint=None,
        license="mit",
        unsupported=reason,
    )
    monkeypatch.setitem(registry().entries, spec.id, CodecEntry(spec, lambda *_: pytest.fail("built")))
    state = availability(registry().get(spec.id))
    assert state.status == "unsupported" and state.reason == reason
    with pytest.raises(UnsupportedCodecError, match=f"pinned-elsewhere: unsupported here: {reason}"):
        build_codec(spec.id)


def test_published_facts_of_environment_systems():
    assert registry().get("semanticodec-100tps").spec.bitrate_bps == pytest.approx(1_350)  # 50 Hz x (14 + 13)
    assert registry().get("bigcodec-16khz").spec.bitrate_bps == pytest.approx(1_040)
    assert registry().get("stable-codec-speech-16khz-700bps").spec.bitrate_bps == pytest.approx(696.6, abs=0.1)


@pytest.mark.weights
def test_snac_real_checkpoint_loads():
    codec = build_codec("snac-24khz")
    assert codec.num_parameters() == 19_842_914


@pytest.mark.weights
def test_soundstream_real_checkpoint_loads():
    codec = build_codec("soundstream-espnet-16khz-4kbps")
    assert codec.model.frame_rate == 50 and codec.model.quantizer.n_q == 32


def test_the_listing_says_where_a_random_weight_build_needs_more_than_kodek_carries():
    needs = {
        codec_id: availability(registry().get(codec_id)).reason
        for codec_id in ("stable-codec-speech-16khz-700bps", "encodec-24khz-6kbps")
    }
    if "not in the local Hub cache" not in needs["stable-codec-speech-16khz-700bps"]:
        pytest.skip("the weights are cached here")
    assert "--random-weights needs the architecture's model_config.json" in needs["stable-codec-speech-16khz-700bps"]
    assert "--random-weights works offline" in needs["encodec-24khz-6kbps"]
