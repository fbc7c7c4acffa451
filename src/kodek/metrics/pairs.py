"""How an (original, reconstruction) pair is prepared for a metric: one definition for every caller.

``kodek score`` and the ``evaluate`` modules in ``metrics/`` both go through here, so a metric
means the same thing wherever it is computed:

1. the reconstruction is resampled to the metric's rate (soxr, through :func:`kodek.audio.resample`),
   straight from the codec's own rate;
2. the codec's constant delay (:func:`estimate_delay`, from the data) is removed;
3. it is fitted to the original's length: a reconstruction that comes out short is padded with
   zeros (the missing end is lost audio and is scored as such), an extra tail is ignored.
   The original is never cut.

The failure policy: a reconstruction that is empty, silent or holds NaN/inf samples while the
original is fine has *failed*. So has a pair on which the metric's library gives no value although
the original alone has one. A failed pair is counted at the metric's floor (its worst value, see
:func:`kodek.metrics.registry.MetricDef.floor`), so that no codec gains rank by failing; a pair
whose *original* has no value (silent, too short) is missing and counted apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kodek import audio
from kodek.metrics.intrusive import MetricUnavailable

DELAY_SEARCH_MS = 100.0  # bounded search: codec delays are a few tens of ms
DELAY_AGREEMENT_MS = 5.0  # utterances whose lag is this close to the median agree with it
DELAY_MIN_AGREEMENT = 0.5  # at least this share of the voting utterances must agree
DELAY_MIN_CORRELATION = 0.3  # waveform: a weaker normalised peak is no evidence of a lag ...
DELAY_MIN_ENVELOPE_CORRELATION = 0.5  # ... then the envelopes vote (vocoders keep no waveform phase)
ENVELOPE_SMOOTHING_MS = 5.0
DELAY_RATE = 16_000
SILENCE_PEAK = 1e-5  # -100 dBFS: below 16-bit quantisation, nothing audible


@dataclass(frozen=True)
class Delay:
    """A codec's constant delay, estimated from its reconstructions (``ms`` None: not established)."""

    ms: float | None
    utterances: int = 0  # utterances looked at
    voting: int = 0  # with a clear correlation peak
    agreeing: int = 0  # within DELAY_AGREEMENT_MS of the median
    lags_ms: list[float] = field(default_factory=list)
    why: str | None = None

    @property
    def seconds(self) -> float:
        """What is compensated: the estimate, or nothing where there is none."""
        return (self.ms or 0.0) / 1000

    def describe(self) -> dict[str, Any]:
        return {
            "delay_ms": self.ms,
            "method": f"median of per-utterance cross-correlation lags (waveforms, else amplitude envelopes), "
            f"search +-{DELAY_SEARCH_MS:g} ms at {DELAY_RATE} Hz; at least {DELAY_MIN_AGREEMENT:.0%} within "
            f"{DELAY_AGREEMENT_MS:g} ms of the median",
            "utterances": self.utterances,
            "voting": self.voting,
            "agreeing": self.agreeing,
            "lags_ms": [round(v, 4) for v in self.lags_ms[:64]],
            "why": self.why,
        }


NO_DELAY = Delay(0.0, why="not estimated (compensation off)")


def envelope(wave: np.ndarray, rate: int = DELAY_RATE) -> np.ndarray:
    """Hilbert amplitude envelope smoothed over ENVELOPE_SMOOTHING_MS, mean removed."""
    from scipy.signal import hilbert

    smoothing = max(1, round(ENVELOPE_SMOOTHING_MS / 1000 * rate))
    env = np.convolve(np.abs(hilbert(np.asarray(wave, dtype=np.float64))), np.ones(smoothing) / smoothing, "same")
    return env - env.mean()


def utterance_lag(original: np.ndarray, reconstruction: np.ndarray, rate: int = DELAY_RATE) -> tuple[int, str] | None:
    """(lag in samples of ``reconstruction`` behind ``original``, "waveform" or "envelope"), or None.

    The waveforms' cross-correlation where it has a clear peak (waveform codecs); else that of
    their amplitude envelopes (vocoders such as Codec2 resynthesise the phase); else no vote.
    """
    if not len(original) or not len(reconstruction):
        return None
    lag, peak = correlation_peak(original, reconstruction, rate)
    if peak >= DELAY_MIN_CORRELATION:
        return lag, "waveform"
    lag, peak = correlation_peak(envelope(original, rate), envelope(reconstruction, rate), rate)
    if peak >= DELAY_MIN_ENVELOPE_CORRELATION:
        return lag, "envelope"
    return None


def correlation_peak(original: np.ndarray, reconstruction: np.ndarray, rate: int) -> tuple[int, float]:
    """(lag in samples, normalised peak) of the cross-correlation within +-DELAY_SEARCH_MS."""
    from scipy.signal import correlate

    bound = round(DELAY_SEARCH_MS / 1000 * rate)
    ref = np.asarray(original, dtype=np.float64)
    deg = np.asarray(reconstruction, dtype=np.float64)
    norm = float(np.linalg.norm(ref) * np.linalg.norm(deg))
    if not norm or not np.isfinite(norm):
        return 0, 0.0
    full = correlate(deg, ref, mode="full", method="fft")  # index len(ref)-1 is lag 0
    zero = len(ref) - 1
    low, high = max(0, zero - bound), min(len(full), zero + bound + 1)
    window = full[low:high]
    best = int(np.argmax(window))
    return low + best - zero, float(window[best] / norm)


def estimate_delay(pairs: Sequence[tuple[np.ndarray, np.ndarray, int]], rate: int = DELAY_RATE) -> Delay:
    """The codec's constant delay from ``(original at rate, reconstruction, reconstruction's rate)`` pairs.

    Per utterance: the lag maximising the cross-correlation within +-DELAY_SEARCH_MS (see
    :func:`utterance_lag`); across utterances: their median, accepted where most utterances agree
    with it. Otherwise the delay is not established (``ms`` None) and nothing is compensated.
    """
    lags: list[float] = []
    for original, reconstruction, rec_rate in pairs:
        deg = audio.resample(np.asarray(reconstruction, dtype=np.float32), rec_rate, rate)
        if not np.isfinite(deg).all() or reconstruction_failure(deg) or original_problem(original):
            continue
        if (found := utterance_lag(original, deg, rate)) is not None:
            lags.append(found[0] * 1000 / rate)
    if not lags:
        return Delay(None, len(pairs), 0, 0, [], "no utterance with a clear cross-correlation peak")
    median = float(np.median(lags))
    agreeing = sum(abs(v - median) <= DELAY_AGREEMENT_MS for v in lags)
    if agreeing < DELAY_MIN_AGREEMENT * len(lags):
        why = f"lags disagree ({agreeing} of {len(lags)} within {DELAY_AGREEMENT_MS:g} ms of the median)"
        return Delay(None, len(pairs), len(lags), agreeing, lags, why)
    return Delay(median, len(pairs), len(lags), agreeing, lags)


def fit_reconstruction(
    reconstruction: np.ndarray, rec_rate: int, metric_rate: int, length: int, delay_s: float = 0.0
) -> np.ndarray:
    """The reconstruction at ``metric_rate``, its delay removed, fitted to ``length`` samples (see module)."""
    deg = audio.resample(np.asarray(reconstruction, dtype=np.float32), rec_rate, metric_rate)
    shift = round(delay_s * metric_rate)
    if shift > 0:
        deg = deg[shift:]
    elif shift < 0:
        deg = np.concatenate([np.zeros(-shift, np.float32), deg])
    return audio.fit_length(deg, length)


def reconstruction_failure(reconstruction: np.ndarray) -> str | None:
    """Why a reconstruction counts as failed (in words), or None."""
    return _unusable(reconstruction, "reconstruction")


def original_problem(original: np.ndarray) -> str | None:
    """Why an original cannot be scored against at all (every metric missing), or None."""
    return _unusable(original, "original")


def _unusable(wave: np.ndarray, what: str) -> str | None:
    wave = np.asarray(wave)
    if not wave.size:
        return f"{what} is empty"
    if not np.isfinite(wave).all():
        return f"{what} has NaN or infinite samples"
    if float(np.max(np.abs(wave))) < SILENCE_PEAK:
        return f"{what} is silent"
    return None


@dataclass
class Outcome:
    """One metric on one pair: a value, or missing (the original's fault), or failed (the reconstruction's)."""

    value: float | None = None
    missing: str | None = None
    failed: str | None = None


def score_pair(
    function: Callable[[np.ndarray, np.ndarray], float],
    original: np.ndarray,
    original_rate: int,
    reconstruction: np.ndarray,
    rec_rate: int,
    metric_rate: int,
    delay_s: float = 0.0,
) -> Outcome:
    """``function(original, reconstruction)`` at ``metric_rate``, prepared as the module says."""
    ref = audio.resample(np.asarray(original, dtype=np.float32), original_rate, metric_rate)
    if problem := original_problem(ref):
        return Outcome(missing=problem)
    if failure := reconstruction_failure(reconstruction):
        return Outcome(failed=failure)
    deg = fit_reconstruction(reconstruction, rec_rate, metric_rate, len(ref), delay_s)
    if failure := reconstruction_failure(deg):  # nothing left once aligned (all of it was delay or tail)
        return Outcome(failed=failure)
    try:
        return Outcome(value=float(function(ref, deg)))
    except MetricUnavailable as error:
        reason = str(error)
    try:  # the original alone: is the missing value the original's fault or the reconstruction's?
        function(ref, ref.copy())
    except MetricUnavailable as error:
        return Outcome(missing=str(error))
    return Outcome(failed=f"no value for the reconstruction ({reason})")


def mean_with_floor(values: Sequence[float | None], failed: Sequence[bool], floor: float | None) -> float | None:
    """Mean over the values present and the failed items counted at ``floor`` (missing items left out)."""
    counted = [floor if f else v for v, f in zip(values, failed, strict=True) if f or v is not None]
    counted = [v for v in counted if v is not None]
    return float(np.mean(counted)) if counted else None
