"""Audio I/O for kodek: load, downmix, resample, pad and batch.

This is the only module that resamples audio: every other part of kodek calls
:func:`resample` (soxr, a well-kept high-quality resampler) rather than its own.
Waveforms are mono ``float32`` numpy arrays in [-1, 1] unless said otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kodek.errors import KodekError

AudioSource = str | Path | bytes | bytearray | io.IOBase


class AudioError(KodekError, ValueError):
    """An audio item that cannot be used, with a message naming the item."""


def load_audio(
    source: AudioSource, sample_rate: int | None = None, *, name: str | None = None
) -> tuple[np.ndarray, int]:
    """Read any common audio file (path or bytes) as mono float32.

    ``sample_rate`` resamples to that rate; ``None`` keeps the file's rate.
    soundfile (libsndfile: WAV, FLAC, OGG/Opus, MP3) is tried first, PyAV
    (FFmpeg: M4A, WebM, ...) second. Raises :class:`AudioError` naming ``name``
    (or the path) when neither can decode the item or it holds NaN/inf samples.
    """
    label = name or (str(source) if isinstance(source, str | Path) else "<bytes>")
    try:
        wave, rate = _read_soundfile(source)
    except Exception as first:
        try:
            wave, rate = _read_pyav(source)
        except Exception as second:
            raise AudioError(f"{label}: cannot decode audio ({first}; {second})") from second
    wave = check_wave(to_mono(wave), name=label)
    if sample_rate is not None and rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
        rate = sample_rate
    return wave, rate


def _as_file(source: AudioSource):
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    if isinstance(source, io.IOBase):
        source.seek(0)
    return source


def _read_soundfile(source: AudioSource) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wave, rate = sf.read(_as_file(source), dtype="float32", always_2d=True)
    return wave.T, int(rate)  # [channels, samples]


def _read_pyav(source: AudioSource) -> tuple[np.ndarray, int]:
    import av

    src = _as_file(source)
    with av.open(str(src) if isinstance(src, Path) else src) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
        chunks = [out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)]
    if not chunks:
        raise AudioError("no audio frames")
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate)


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Downmix ``[channels, samples]`` (or ``[samples]``) to ``[samples]`` float32."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    if wave.ndim != 1:
        raise AudioError(f"expected [samples] or [channels, samples], got shape {wave.shape}")
    return np.ascontiguousarray(wave)


def check_wave(wave: np.ndarray, *, name: str = "<audio>") -> np.ndarray:
    """Reject empty waveforms and ones holding NaN or infinity."""
    if wave.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise AudioError(f"{name}: {bad} NaN/inf samples")
    return wave


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono waveform with soxr (high quality); identity when rates match."""
    wave = np.asarray(wave, dtype=np.float32)
    if orig_sr == target_sr:
        return wave
    import soxr

    return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def fit_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad ``wave`` (last axis) to exactly ``length`` samples."""
    if wave.shape[-1] >= length:
        return wave[..., :length]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, length - wave.shape[-1])]
    return np.pad(wave, pad)


def pad_batch(waves: Sequence[np.ndarray], multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Stack mono waveforms into ``[B, T]`` with zeros after each, and their lengths.

    ``T`` is the longest length rounded up to ``multiple`` (a codec's hop length,
    so that padding never changes the frames a shorter item owns).
    """
    lengths = np.array([len(w) for w in waves], dtype=np.int64)
    longest = int(lengths.max()) if len(waves) else 0
    total = -(-longest // multiple) * multiple
    batch = np.zeros((len(waves), total), dtype=np.float32)
    for row, wave in zip(batch, waves, strict=True):
        row[: len(wave)] = wave
    return batch, lengths


def encode_flac(wave: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC bytes of a mono waveform (for compact, lossless storage)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
