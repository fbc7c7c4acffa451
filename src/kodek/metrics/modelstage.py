"""The model-based metrics of the scorer: speaker similarity and the ASR metrics, per batch.

They run in the main process, batched, on the GPU when there is one, while the CPU
metrics of the same utterances run in the worker pool. Model outputs (embeddings,
transcripts) go through the disk cache, so the originals are embedded and transcribed
once whatever the number of codecs, and a resumed run does not redo them.

A model that cannot be loaded (no network, weights not cached) makes its metrics
missing for every utterance with the reason, and the results say so: never a crash,
never a made-up value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kodek.metrics import text
from kodek.metrics.cache import ModelCache
from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.models import ModelUnavailable, cached_outputs, is_missing, missing
from kodek.metrics.registry import ASR, METRICS, SPEAKER

log = logging.getLogger(__name__)
WITHHELD = "reference withheld"
TRANSCRIPT_COLUMNS = ("transcript_orig", "transcript_rec")


@dataclass
class Pair:
    """One utterance ready for the model metrics: 16 kHz, prepared by :mod:`kodek.metrics.pairs`."""

    original: np.ndarray
    degraded: np.ndarray | None  # None where the reconstruction failed
    reference_text: str  # "" where the dataset withholds it
    failure: str | None = None  # why the reconstruction failed: its REC values count at the floor


def columns(name: str) -> list[tuple[str, str]]:
    """(column, arrow type name) of one model metric in the per-utterance table."""
    metric = METRICS[name]
    out: list[tuple[str, str]] = []
    for condition in metric.conditions:
        column = name if condition == "rec" else f"{name}__gt"
        out += [(column, "float64"), (f"{column}__missing", "string")]
        if condition == "rec":
            out.append((f"{column}__failed", "string"))
        if metric.kind == ASR:
            out.append((f"{column}__len", "int64"))  # reference length: pooled rates from the table
    return out


class ModelMetrics:
    """Loads the models the selected metrics need (or records why it cannot) and scores batches."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        asr_model: Any = None,
        speaker_model: Any = None,
        normalisation: str = text.DEFAULT_NORMALISATION,
        device: str | None = None,
        cache_dir: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        if normalisation not in text.NORMALISATIONS:
            raise ValueError(f"unknown normalisation {normalisation!r}; one of {', '.join(text.NORMALISATIONS)}")
        self.names = [n for n in names if METRICS[n].kind in (SPEAKER, ASR)]
        self.normalisation = normalisation
        self.speaker, self.speaker_error = None, None
        self.asr, self.asr_error = None, None
        if any(METRICS[n].kind == SPEAKER for n in self.names):
            self.speaker, self.speaker_error = _load(speaker_model, "speaker", device)
        if any(METRICS[n].kind == ASR for n in self.names):
            self.asr, self.asr_error = _load(asr_model, "asr", device)
        loaded = self.speaker is not None or self.asr is not None
        self.cache = ModelCache(cache_dir) if use_cache and loaded else None

    @property
    def has_transcripts(self) -> bool:
        return any(METRICS[n].kind == ASR for n in self.names)

    def describe(self) -> dict[str, Any]:
        """The models used (id, revision, options) or why they are not available."""
        out: dict[str, Any] = {}
        for role, model, error in (("speaker", self.speaker, self.speaker_error), ("asr", self.asr, self.asr_error)):
            if model is not None:
                out[role] = {**model.describe(), "available": True}
            elif error is not None:
                out[role] = {"id": error[0], "available": False, "why": error[1]}
        return out

    def unavailable(self, name: str) -> str | None:
        """Why ``name`` cannot be computed at all here (its model did not load), else None."""
        kind = METRICS[name].kind
        error = {SPEAKER: self.speaker_error, ASR: self.asr_error}.get(kind)
        return error[1] if error else None

    def compute(self, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
        """Per pair: every selected model metric's columns (value or missing reason)."""
        rows: list[dict[str, Any]] = [{} for _ in pairs]
        if not pairs or not self.names:
            return rows
        if any(METRICS[n].kind == SPEAKER for n in self.names):
            self._speaker(pairs, rows)
        if self.has_transcripts:
            self._asr(pairs, rows)
        return rows

    def _speaker(self, pairs: Sequence[Pair], rows: list[dict[str, Any]]) -> None:
        if self.speaker is None:
            for row in rows:
                row.update({"spk_sim": None, "spk_sim__missing": self.speaker_error[1]})
            return
        key = "speaker|" + "|".join(str(v) for v in self.speaker.describe().values())
        live = [i for i, p in enumerate(pairs) if p.failure is None]
        waves = [p.original for p in pairs] + [pairs[i].degraded for i in live]
        embeddings = cached_outputs(waves, self.speaker.embed, key, self.cache)
        degraded = dict(zip(live, embeddings[len(pairs) :], strict=True))
        for i, (row, ref) in enumerate(zip(rows, embeddings[: len(pairs)], strict=True)):
            row.update(_failed_or(pairs[i].failure, "spk_sim", ref, degraded.get(i), _similarity))

    def _asr(self, pairs: Sequence[Pair], rows: list[dict[str, Any]]) -> None:
        names = [n for n in self.names if METRICS[n].kind == ASR]
        if self.asr is None:
            for row in rows:
                row.update(dict.fromkeys(TRANSCRIPT_COLUMNS))
                for name in names:
                    for column, _ in columns(name):
                        row[column] = self.asr_error[1] if column.endswith("__missing") else None
            return
        live = [i for i, p in enumerate(pairs) if p.failure is None]
        waves = [p.original for p in pairs] + [pairs[i].degraded for i in live]
        transcripts = cached_outputs(waves, self.asr.transcribe, self.asr.cache_key(), self.cache)
        degraded = dict(zip(live, transcripts[len(pairs) :], strict=True))
        for i, (row, pair, orig) in enumerate(zip(rows, pairs, transcripts[: len(pairs)], strict=True)):
            rec = degraded.get(i, missing(pair.failure or "no reconstruction"))
            row["transcript_orig"] = None if is_missing(orig) else orig
            row["transcript_rec"] = None if is_missing(rec) else rec
            for name in names:
                row.update(self._asr_metric(name, pair.reference_text, orig, rec, pair.failure))

    def _asr_metric(self, name: str, reference: str, orig: Any, rec: Any, failure: str | None) -> dict[str, Any]:
        """GT and REC columns of one ASR metric; REC fails where the reconstruction (or its transcript) did."""
        metric = METRICS[name]
        rate = text.word_errors if metric.unit == "word" else text.char_errors
        out: dict[str, Any] = {}
        if metric.against == "orig":
            # dWER: the original's transcript stands in for the reference text.
            return _rate(
                name,
                lambda: rate(self._original_text(orig), _text(rec, "reconstruction"), self.normalisation),
                failure,
            )
        for condition, hypothesis, what in (("gt", orig, "original"), ("rec", rec, "reconstruction")):
            column = name if condition == "rec" else f"{name}__gt"
            if not reference.strip():
                out.update({column: None, f"{column}__missing": WITHHELD, f"{column}__len": None})
                if condition == "rec":
                    out[f"{column}__failed"] = None
                continue
            compute = lambda h=hypothesis, w=what: rate(reference, _text(h, w), self.normalisation)  # noqa: E731
            out.update(_rate(column, compute, failure if condition == "rec" else None, condition == "rec"))
        return out

    def _original_text(self, orig: Any) -> str:
        transcript = _text(orig, "original")
        if not text.normalise(transcript, self.normalisation).strip():
            raise MetricUnavailable("the original's transcript is empty (nothing to compare with)")
        return transcript


def _load(model: Any, role: str, device: str | None) -> tuple[Any, tuple[str, str] | None]:
    """(backend, None), or (None, (model id, reason)) when it cannot be loaded here."""
    if model is not None and not isinstance(model, str):
        return model, None  # an already built backend
    from kodek.metrics.asr import DEFAULT_ASR_MODEL, load_asr
    from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL, load_speaker_embedder

    name = model or (DEFAULT_SPEAKER_MODEL if role == "speaker" else DEFAULT_ASR_MODEL)
    local = _hub_unreachable() if name != "resemblyzer" and not Path(name).exists() else False
    try:
        if role == "speaker":
            backend = load_speaker_embedder(name, device, local_files_only=local)
        else:
            backend = load_asr(name, device, local_files_only=local)
    except ModelUnavailable as error:
        log.warning("%s metrics: %s", role, error)
        return None, (name, str(error))
    return backend, None


def _hub_unreachable() -> bool:
    """Offline: load only cached weights, failing at once instead of retrying downloads."""
    import os

    from kodek.hub import hub_reachable

    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or not hub_reachable()


def _text(value: Any, what: str) -> str:
    if is_missing(value):
        raise MetricUnavailable(f"no transcript of the {what}: {value['missing']}")
    return value


def _similarity(reference: Any, degraded: Any) -> float:
    from kodek.metrics.speaker import similarity

    return similarity(reference, degraded)


def _failed_or(failure: str | None, column: str, ref: Any, deg: Any, compute) -> dict[str, Any]:
    """A REC value of a pair: failed (the reconstruction's fault), missing (the original's), or the value."""
    if failure is not None:
        return {column: None, f"{column}__missing": None, f"{column}__failed": failure}
    if is_missing(ref):
        return {column: None, f"{column}__missing": ref["missing"], f"{column}__failed": None}
    if is_missing(deg):
        return {column: None, f"{column}__missing": None, f"{column}__failed": deg["missing"]}
    try:
        return {column: compute(ref, deg), f"{column}__missing": None, f"{column}__failed": None}
    except MetricUnavailable as error:
        return {column: None, f"{column}__missing": str(error), f"{column}__failed": None}


def _rate(column: str, compute, failure: str | None = None, rec: bool = True) -> dict[str, Any]:
    """An error-rate column: failed where the reconstruction failed, else the rate or a missing reason.

    A REC transcript that could not be made while the original's could is a failure too.
    """
    extra = {f"{column}__failed": None} if rec else {}
    if failure is not None:
        return {column: None, f"{column}__missing": None, f"{column}__len": None, f"{column}__failed": failure}
    try:
        result = compute()
    except MetricUnavailable as error:
        reason = str(error)
        if rec and reason.startswith("no transcript of the reconstruction"):
            return {column: None, f"{column}__missing": None, f"{column}__len": None, f"{column}__failed": reason}
        return {column: None, f"{column}__missing": reason, f"{column}__len": None, **extra}
    return {column: result.rate, f"{column}__missing": None, f"{column}__len": result.length, **extra}
