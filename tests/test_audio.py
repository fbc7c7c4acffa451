"""kodek.audio: formats, downmix, resampling, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from kodek import audio


def _file(wave: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "OPUS"), ("MP3", None)])
def test_common_formats_load_as_mono_float32(tone, fmt, subtype):
    data = _file(tone, 48_000 if subtype == "OPUS" else 16_000, fmt, subtype)
    wave, rate = audio.load_audio(data, 16_000)
    assert rate == 16_000 and wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16_000 * (1 / 3 if subtype == "OPUS" else 1)) < 2_000  # codec padding aside
    assert np.abs(wave).max() > 0.1


def test_pyav_fallback_reads_what_libsndfile_cannot(tmp_path, tone):
    import av

    path = tmp_path / "clip.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="flt", layout="mono")
        frame.sample_rate = 16_000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    wave, rate = audio.load_audio(path)
    assert rate == 16_000 and abs(len(wave) - 16_000) < 2_048


def test_stereo_is_downmixed_by_averaging():
    left = np.full(800, 0.5, dtype=np.float32)
    right = np.full(800, -0.1, dtype=np.float32)
    wave, _ = audio.load_audio(_file(np.stack([left, right], 1), 8_000, "WAV", "FLOAT"))
    np.testing.assert_allclose(wave, 0.2, atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_resampling_to_16k_keeps_duration_and_pitch(rate):
    t = np.arange(rate) / rate
    wave = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out, out_rate = audio.load_audio(_file(wave, rate, "WAV", "FLOAT"), 16_000)
    assert out_rate == 16_000 and len(out) == 16_000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16_000 / len(out) - 440) <= 1


def test_resample_is_identity_at_the_same_rate(tone):
    assert audio.resample(tone, 16_000, 16_000) is not None
    np.testing.assert_array_equal(audio.resample(tone, 16_000, 16_000), tone)


def test_nan_samples_are_rejected_naming_the_item(tone):
    tone[100] = np.nan
    with pytest.raises(audio.AudioError, match="utt-7: 1 NaN/inf samples"):
        audio.load_audio(_file(tone, 16_000, "WAV", "FLOAT"), name="utt-7")


def test_corrupt_bytes_are_rejected_naming_the_item():
    with pytest.raises(audio.AudioError, match="broken-01: cannot decode audio"):
        audio.load_audio(b"RIFF\x00\x00garbage" * 10, name="broken-01")


def test_empty_audio_is_rejected():
    with pytest.raises(audio.AudioError, match="empty audio"):
        audio.load_audio(_file(np.zeros(0, np.float32), 16_000, "WAV"), name="empty")


def test_pad_batch_rounds_to_the_hop_and_keeps_lengths():
    waves = [np.ones(5, np.float32), np.ones(12, np.float32)]
    batch, lengths = audio.pad_batch(waves, multiple=8)
    assert batch.shape == (2, 16) and lengths.tolist() == [5, 12]
    assert batch[0, :5].sum() == 5 and batch[0, 5:].sum() == 0


def test_fit_length_trims_and_pads():
    wave = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_length(wave, 3), [0, 1, 2])
    np.testing.assert_array_equal(audio.fit_length(wave, 7), [0, 1, 2, 3, 4, 0, 0])
