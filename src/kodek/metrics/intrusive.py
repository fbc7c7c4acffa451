"""Intrusive quality metrics: the reference library, called the reference way.

Each function takes the original (reference) and the reconstruction as mono
float arrays at the metric's own rate, already prepared by :mod:`kodek.metrics.pairs`
(resampled, delay removed, fitted to the original's length), and returns a float,
or raises :class:`MetricUnavailable` with the reason when the reference library
cannot give a value (silence, too short). A missing value is
recorded as missing, never replaced by a made-up number.
"""

from __future__ import annotations

import warnings

import numpy as np


class MetricUnavailable(ValueError):
    """No value for this utterance, with the reason (recorded and counted)."""


PESQ_MIN_SECONDS = 0.25  # P.862 needs at least 1/4 s; shorter input raises in the library
# pystoi works on 256-sample frames (hop 128) at 10 kHz and needs 30 of them (~0.4 s): shorter
# input either crashes inside the library (under ~26 ms) or returns a 1e-5 placeholder.
STOI_MIN_SECONDS = (29 * 128 + 256) / 10_000


def _check_pair(reference: np.ndarray, degraded: np.ndarray) -> None:
    if reference.shape != degraded.shape:
        raise MetricUnavailable(f"length mismatch {reference.shape} vs {degraded.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(degraded).all()):
        raise MetricUnavailable("NaN or inf samples")


def pesq(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, mode: str) -> float:
    """ITU-T P.862 PESQ (``mode`` 'wb' at 16 kHz, 'nb' at 8 kHz) with the ``pesq`` package."""
    from pesq import PesqError
    from pesq import pesq as pesq_ref

    _check_pair(reference, degraded)
    if len(reference) < PESQ_MIN_SECONDS * sample_rate:
        raise MetricUnavailable(f"too short for PESQ ({len(reference) / sample_rate:.3f} s < {PESQ_MIN_SECONDS} s)")
    try:
        value = pesq_ref(sample_rate, reference.astype(np.float64), degraded.astype(np.float64), mode)
    except PesqError as error:  # NoUtterancesError, BufferTooShortError, ...
        raise MetricUnavailable(f"PESQ: {type(error).__name__}") from error
    except ValueError as error:  # an all-silent degraded signal
        raise MetricUnavailable(f"PESQ: {error}") from error
    if not np.isfinite(value):
        raise MetricUnavailable("PESQ returned NaN")
    return float(value)


def pesq_wb(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Wide-band PESQ (P.862.2) of 16 kHz signals."""
    return pesq(reference, degraded, 16_000, "wb")


def pesq_nb(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Narrow-band PESQ (P.862, MOS-LQO mapping of P.862.1) of 8 kHz signals."""
    return pesq(reference, degraded, 8_000, "nb")


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16_000, extended: bool = False) -> float:
    """(E)STOI with ``pystoi``; a reference without speech frames has no value."""
    from pystoi import stoi as stoi_ref

    _check_pair(reference, degraded)
    if not np.any(reference):
        raise MetricUnavailable("silent reference")
    if len(reference) < STOI_MIN_SECONDS * sample_rate:
        raise MetricUnavailable(f"too short for STOI ({len(reference) / sample_rate:.3f} s < {STOI_MIN_SECONDS:.3f} s)")
    # pystoi drops silent frames; with fewer than 30 frames left it warns and returns a
    # placeholder 1e-5, which must not be averaged as a score.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = stoi_ref(reference.astype(np.float64), degraded.astype(np.float64), sample_rate, extended=extended)
        except (ValueError, IndexError) as error:  # pystoi's own shape errors on degenerate input
            raise MetricUnavailable(f"STOI: {type(error).__name__}") from error
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise MetricUnavailable("STOI: fewer than 30 speech frames (too short or silent)")
    if not np.isfinite(value):
        raise MetricUnavailable("STOI returned NaN")
    return float(value)


def estoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16_000) -> float:
    """Extended STOI (Jensen & Taal 2016) with ``pystoi``."""
    return stoi(reference, degraded, sample_rate, extended=True)


# Mel distance: the log-mel spectrogram distance that codec papers train and report (DAC,
# EnCodec use multi-scale variants), fixed at one scale so that numbers compare across codecs.
MEL_N_FFT = 1024  # 64 ms at 16 kHz
MEL_HOP = 256  # 16 ms
MEL_BANDS = 80
MEL_FLOOR = 1e-5  # magnitude floor before log10: -100 dB, below 16-bit quantisation noise


def mel_spectrogram(wave: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
    """Magnitude mel spectrogram [MEL_BANDS, frames] with ``librosa`` (Slaney mel scale and norm)."""
    import librosa

    return librosa.feature.melspectrogram(
        y=wave.astype(np.float32),
        sr=sample_rate,
        n_fft=MEL_N_FFT,
        hop_length=MEL_HOP,
        win_length=MEL_N_FFT,
        window="hann",
        center=True,
        pad_mode="constant",
        power=1.0,
        n_mels=MEL_BANDS,
        fmin=0.0,
        fmax=sample_rate / 2,
    )


def mel_distance(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = 16_000) -> float:
    """Mean absolute difference of log10 mel magnitudes, original vs reconstruction (lower is better).

    ``mean(|log10(max(M_ref, 1e-5)) - log10(max(M_deg, 1e-5))|)`` over all bands and frames, where
    ``M`` is :func:`mel_spectrogram` (16 kHz, 1024-point Hann STFT, hop 256, 80 Slaney mel bands
    0-8 kHz, magnitude). 0 for identical signals; 1.0 means a factor of 10 (20 dB) on average.
    """
    _check_pair(reference, degraded)
    if len(reference) < MEL_N_FFT // 2:
        raise MetricUnavailable(f"too short for the mel distance ({len(reference)} samples < {MEL_N_FFT // 2})")
    if not np.any(reference):
        raise MetricUnavailable("silent reference")
    ref = np.log10(np.maximum(mel_spectrogram(reference, sample_rate), MEL_FLOOR))
    deg = np.log10(np.maximum(mel_spectrogram(degraded, sample_rate), MEL_FLOOR))
    return float(np.mean(np.abs(ref - deg)))
