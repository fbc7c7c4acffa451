"""``kodek score``: decode a token dataset and score it against the original audio.

The main process decodes in length-bucketed batches (torch uses its own threads)
and runs the model-based metrics (speaker embeddings, ASR) batched on the GPU when
there is one; per-utterance CPU metrics (PESQ, STOI, mel distance) run meanwhile in
a pool of worker processes over all cores, so decoding, model inference and CPU
scoring overlap. Per-utterance values are written in parts, so a killed run resumes
where it stopped; the results JSON is aggregated from the finished per-utterance table.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kodek import audio, files, results
from kodek.batching import length_batches
from kodek.data.audiofile import load_utterance
from kodek.errors import KodekError
from kodek.metrics import text
from kodek.metrics.aggregate import aggregate
from kodek.metrics.modelstage import TRANSCRIPT_COLUMNS, ModelMetrics, Pair, columns
from kodek.metrics.pairs import (
    Delay,
    estimate_delay,
    fit_reconstruction,
    original_problem,
    reconstruction_failure,
    score_pair,
)
from kodek.metrics.registry import DEFAULT_METRICS, INTRUSIVE, METRICS, get_metric
from kodek.tokenize import layout
from kodek.tokenize.reader import TokenSet

log = logging.getLogger(__name__)
TASK = "reconstruction"
SCORE_RATE = 16_000  # originals and reconstructions are compared at BIGOS's rate
LISTEN_DEFAULT = 3  # reconstructions kept as FLAC for the leaderboard's listening view
ORIGINALS_DIR = "_originals"
SPEAKER_GROUPS = ("speaker_gender", "speaker_age")  # BIGOS columns; "N/A" where unknown
MAX_GROUP_VALUES = 20  # a column with more distinct values (raw ages, ids) is no grouping
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # audionames usable as file names


class ScoreError(KodekError, RuntimeError):
    pass


ENCODE_RTF_UTTERANCES = 8  # originals re-encoded to measure the encoder's real-time factor
DELAY_UTTERANCES = 16  # reconstructions the codec's delay is estimated from
SETTINGS_FILE = "settings.json"
# Bumped whenever a metric's definition or preparation changes: results of other versions are not ranked together.
# 2: delay compensated, REC resampled straight to each metric's rate, failed reconstructions at the floor.
SCORING_VERSION = 2


@dataclass
class Pending:
    row: dict[str, Any]
    future: Future | None = None
    failure: str | None = None  # a reason that applies to every metric of this utterance: not scored
    stage: str = "metric"  # where that failure happened: "decode" or "metric"
    model_values: dict[str, Any] = field(default_factory=dict)


_LIMITS: list = []  # keeps the worker's thread limits alive
PARENT_POLL_S = 1.0


def single_threaded_worker(parent: int | None = None) -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker, and no worker outliving the scorer.

    Without the thread limit each worker's numpy (PESQ/STOI's FFTs and matrix products) starts a
    thread per core, and N workers oversubscribe N cores. A SIGKILLed scorer cannot stop its pool:
    the worker asks the kernel for SIGKILL when its own parent (the forkserver) dies, and watches
    the scorer's pid (``parent``) besides, so that no worker is left running as an orphan.
    """
    exit_with_parent(parent)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _LIMITS.append(threadpool_limits(1))


def exit_with_parent(parent: int | None) -> None:
    """This process ends when its parent process, or the process ``parent``, is gone."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is None:
        return

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid now belongs to another user's process: ours is gone
                os._exit(1)

    threading.Thread(target=watch, name="kodek-parent-watch", daemon=True).start()


def compute_metrics(
    names: Sequence[str], original: np.ndarray, reconstruction: np.ndarray, rec_rate: int, delay_s: float
) -> dict[str, Any]:
    """Every CPU metric of one utterance (run in a worker): value, missing reason or failure reason.

    ``original`` at SCORE_RATE; ``reconstruction`` at the codec's rate ``rec_rate``, prepared per
    metric by :func:`kodek.metrics.pairs.score_pair` (the same preparation as the evaluate modules).
    """
    out: dict[str, Any] = {}
    for name in names:
        metric = METRICS[name]
        outcome = score_pair(metric.load(), original, SCORE_RATE, reconstruction, rec_rate, metric.sample_rate, delay_s)
        out[name] = outcome.value
        out[f"{name}__missing"] = outcome.missing
        out[f"{name}__failed"] = outcome.failed
    return out


def _utterance_schema(names: Sequence[str]) -> pa.Schema:
    fields = [
        pa.field("audioname", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("split", pa.string()),
        pa.field("duration_s", pa.float64()),
    ]
    fields += [pa.field("failure", pa.string()), pa.field("failure_stage", pa.string())]  # the whole utterance
    for name in names:
        if METRICS[name].kind == INTRUSIVE:
            fields += [
                pa.field(name, pa.float64()),
                pa.field(f"{name}__missing", pa.string()),
                pa.field(f"{name}__failed", pa.string()),
            ]
        else:
            fields += [pa.field(column, pa.type_for_alias(kind)) for column, kind in columns(name)]
    if any(METRICS[n].kind == "asr" for n in names):
        fields += [pa.field(column, pa.string()) for column in TRANSCRIPT_COLUMNS]
    return pa.schema(fields)


def metric_info(name: str) -> dict[str, Any]:
    """How the results JSON describes a metric (before its statistics).

    ``range`` is given where both ends are finite; an error rate or a distance has only
    a lower bound (``lower_bound``), since JSON has no infinity.
    """
    metric = METRICS[name]
    low, high = metric.value_range
    bounds = {"range": [low, high]} if high is not None else {"lower_bound": low}
    return {
        "label": metric.label,
        "higher_is_better": metric.higher_is_better,
        **bounds,
        "description": metric.description,
        "conditions": list(metric.conditions),
    }


@dataclass
class _Inputs:
    """What a scoring run works on: the tokens of one split, their source, and the results dict begun."""

    tokens: TokenSet
    split: str
    metrics: list[str]
    normalisation: str
    limit: int | None
    table: pa.Table  # one row per utterance with codes, in the token dataset's order
    codes: list[np.ndarray]
    partial: bool  # a --limit run: fewer utterances than the split
    source: Any
    originals: dict[str, int]  # audioname -> row of the source (the original audio)
    upstream: list[dict[str, Any]]  # utterances of the source that never reached the codes
    names: list[str]
    references: list[str]
    infos: dict[str, dict[str, Any]]  # how the results describe each metric
    data: dict[str, Any]  # the results, filled in step by step


@dataclass
class _Timing:
    decode_s: float = 0.0
    decode_audio_s: float = 0.0
    models_s: float = 0.0
    timed_originals: list[np.ndarray] = field(default_factory=list)  # re-encoded at the end: the encoder's RTF


def score(
    tokens: TokenSet,
    out: Path,
    *,
    split: str | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    workers: int | None = None,
    device: str = "cpu",
    model_device: str | None = None,
    asr_model: Any = None,
    speaker_model: Any = None,
    normalisation: str = text.DEFAULT_NORMALISATION,
    cache_dir: Path | None = None,
    batch_seconds: float = 60.0,
    max_batch: int = 16,
    limit: int | None = None,
    token: str | bool | None = None,
    progress: bool = True,
    flush_every: int = 64,
    listen: int = LISTEN_DEFAULT,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``tokens`` (one codec) and write results under ``out``. Returns the results dict.

    ``device`` runs the codec's decoder; ``model_device`` the speaker and ASR models (default:
    a GPU when there is one). ``asr_model``/``speaker_model`` name a Hub id (``id@revision``),
    a local folder, ``resemblyzer`` (speaker), or pass a built backend; the defaults are the
    pinned ``openai/whisper-large-v3`` and ``microsoft/wavlm-base-plus-sv``. A model that
    cannot be loaded leaves its metrics missing with the reason.

    The first ``listen`` utterances' reconstructions are kept as FLAC under
    ``out/<codec>/audio/`` (and their originals under ``out/_originals/``). ``extra`` holds further
    top-level sections of the results file (a submission's ``request``), written with it in one write.

    The steps: prepare the inputs; build the codec and models; resume or start the run folder; decode and
    compute the metrics into per-utterance parts; merge them and aggregate the results file.
    """
    started = time.perf_counter()
    inputs = _prepare_inputs(tokens, split, metrics, normalisation, limit, token)
    if not tokens.spec.has_decoder:
        return _write_without_decoder(inputs, out, extra or {})

    spec = tokens.spec
    codec = _build_codec(inputs, device)
    models = ModelMetrics(
        inputs.metrics,
        asr_model=asr_model,
        speaker_model=speaker_model,
        normalisation=normalisation,
        device=model_device,
        cache_dir=cache_dir,
    )
    store = files.PartStore(out / spec.id / layout.WORK_DIR / TASK, "audioname")
    settings = _settings(tokens, inputs.split, limit, inputs.metrics, normalisation, models)
    delay = _resume_or_start(
        store, settings, lambda: _estimate_delay(codec, inputs.table, inputs.codes, inputs.source, inputs.originals)
    )
    done = store.done()
    todo = [i for i, name in enumerate(inputs.names) if name not in done]
    listened = {n for n in inputs.names[:listen] if SAFE_NAME.match(n)}
    scoring = _Scoring(inputs, codec, models, delay, store, out, listened, flush_every)
    timing = scoring.run(todo, batch_seconds, max_batch, workers, progress)

    per_utterance = _merge_utterances(store, results.utterances_path(out, spec.id, TASK), inputs.metrics)
    data = _aggregate_results(inputs, per_utterance, models, delay, codec, timing if todo else None)
    data["run"] = {
        "wall_s": round(time.perf_counter() - started, 2),
        "workers": workers or os.cpu_count(),
        "device": device,
        "model_device": getattr(models.asr or models.speaker, "device", None),
        "models_s": round(timing.models_s, 2),
        "resumed_utterances": len(inputs.table) - len(todo),
    }
    _finish(inputs, data, data["models"])
    data.update(extra or {})
    results.write_results(out, data)
    store.remove()
    return data


def _prepare_inputs(
    tokens: TokenSet,
    split: str | None,
    metrics: Sequence[str],
    normalisation: str,
    limit: int | None,
    token: str | bool | None,
) -> _Inputs:
    """Check the arguments, read the split's codes and open the source they were made from."""
    from kodek.data.source import load_source

    metrics = list(dict.fromkeys(metrics))
    for name in metrics:
        get_metric(name)
    if normalisation not in text.NORMALISATIONS:
        raise ScoreError(f"unknown normalisation {normalisation!r}; one of {', '.join(text.NORMALISATIONS)}")
    split = split or ("test" if "test" in tokens.splits else tokens.splits[0])
    table, codes = tokens.codes(split)
    full_rows = len(table)
    if limit is not None:
        table, codes = table.slice(0, limit), codes[:limit]
    partial = limit is not None and limit < full_rows
    origin = tokens.meta["source"]
    data_arg = origin["name"] + (f":{origin['config']}" if origin.get("config") else "")
    source = load_source(data_arg, split, token=token, revision=origin.get("revision") or "main")
    info = {**source.info(), "tokens": tokens.location}
    upstream = [] if partial else token_failures(tokens.meta, split)
    info["utterances"] = len(table)
    info["hours"] = round(float(pc_sum(table["duration_s"])) / 3600, 4)
    references = table["ref_orig"].to_pylist() if "ref_orig" in table.column_names else [""] * len(table)
    info["references_withheld"] = sum(not (r or "").strip() for r in references)
    data: dict[str, Any] = {**results.header(TASK, tokens, info), "normalisation": normalisation}
    names = table["audioname"].to_pylist()
    if len(set(names)) != len(names):
        duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
        raise ScoreError(f"duplicate audionames in the tokens (e.g. {duplicates[0]}): each must be unique")
    return _Inputs(
        tokens=tokens,
        split=split,
        metrics=metrics,
        normalisation=normalisation,
        limit=limit,
        table=table,
        codes=codes,
        partial=partial,
        source=source,
        originals={name: i for i, name in enumerate(source.dataset["audioname"])} if tokens.spec.has_decoder else {},
        upstream=upstream,
        names=names,
        references=[r or "" for r in references],
        infos={name: metric_info(name) for name in metrics},
        data=data,
    )


def _build_codec(inputs: _Inputs, device: str) -> Any:
    """The codec the tokens were made with (its weights, or the same seeded random weights), to decode them."""
    from kodek.codecs import build_codec

    spec = inputs.tokens.spec
    seed = inputs.tokens.meta.get("seed") or 0
    codec = build_codec(spec.id, random_weights=inputs.data["random_weights"], seed=seed, device=device)
    if codec.spec.to_dict() != spec.to_dict():
        raise ScoreError(f"{spec.id}: the registered spec differs from the one the tokens were made with")
    return codec


def _merge_utterances(store: files.PartStore, final: Path, metrics: list[str]) -> pa.Table:
    """The per-utterance table of the whole run, from its parts (or the earlier file, when nothing was left)."""
    if not store.merge(final) and not final.is_file():
        files.write_table(_utterance_schema(metrics).empty_table(), final)
    return pq.read_table(final)


def _write_without_decoder(inputs: _Inputs, out: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Tokens without a decoder (e.g. SSL k-means units): every metric not applicable, the codec facts measured."""
    data = inputs.data
    data.update(
        metrics={n: {**m, "applicable": False, "why": "no decoder (tokens only)"} for n, m in inputs.infos.items()},
        by_subset={},
        failures=_failures([], inputs.upstream, inputs.tokens.meta, inputs.split, len(inputs.table), inputs.partial),
        codec_facts=_codec_facts(inputs.tokens.spec, inputs.table, inputs.codes),
        delay_ms=None,
    )
    _finish(inputs, data, {})
    data.update(extra)
    results.write_results(out, data)
    return data


class _Scoring:
    """Decoding and metrics of the utterances still to do, written as parts of ``store`` every ``flush_every``.

    The main process decodes a batch and runs the model metrics on it while a pool of worker processes
    computes the CPU metrics of the batches before.
    """

    def __init__(
        self,
        inputs: _Inputs,
        codec: Any,
        models: ModelMetrics,
        delay: Delay,
        store: files.PartStore,
        out: Path,
        listened: set[str],
        flush_every: int,
    ) -> None:
        self.inputs, self.codec, self.models, self.delay = inputs, codec, models, delay
        self.store, self.out, self.listened, self.flush_every = store, out, listened, flush_every
        self.cpu_metrics = [n for n in inputs.metrics if METRICS[n].kind == INTRUSIVE]
        self.schema = _utterance_schema(inputs.metrics)
        self.timing = _Timing()

    def run(
        self, todo: list[int], batch_seconds: float, max_batch: int, workers: int | None, progress: bool
    ) -> _Timing:
        from tqdm.auto import tqdm

        table, spec = self.inputs.table, self.inputs.tokens.spec
        frames = np.array(table["num_frames"].to_pylist(), dtype=np.int64)
        budget = max(1, int(batch_seconds * spec.frame_rate))  # padded codec frames per decoded batch
        bar = tqdm(
            total=len(table), initial=len(table) - len(todo), desc=f"score {spec.id}", unit="utt", disable=not progress
        )
        with ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1,
            mp_context=get_context("forkserver"),
            initializer=single_threaded_worker,
            initargs=(os.getpid(),),
        ) as pool:
            pending: list[Pending] = []
            for batch in length_batches(frames, max_batch, budget=budget, order=todo):
                pending += self._batch(pool, batch, frames)
                if len(pending) >= self.flush_every:  # a part on disk: what a killed run keeps
                    self._flush(pending)
                    bar.update(len(pending))
                    pending = []
            self._flush(pending)
            bar.update(len(pending))
        bar.close()
        return self.timing

    def _batch(self, pool: ProcessPoolExecutor, batch: list[int], frames: np.ndarray) -> list[Pending]:
        """Decode one batch; start its CPU metrics in the pool, and run its model metrics here meanwhile."""
        inputs, spec, timing = self.inputs, self.inputs.tokens.spec, self.timing
        tick = time.perf_counter()
        decoded = _decode_each(self.codec, [inputs.codes[i] for i in batch], frames[batch])
        timing.decode_s += time.perf_counter() - tick
        timing.decode_audio_s += float(sum(inputs.table["duration_s"][i].as_py() for i in batch))
        pending: list[Pending] = []
        for_models: list[tuple[Pending, Pair]] = []
        for i, reconstruction in zip(batch, decoded, strict=True):
            row = {k: inputs.table[k][i].as_py() for k in ("audioname", "dataset", "split", "duration_s")}
            if isinstance(reconstruction, str):
                pending.append(Pending(row, failure=reconstruction, stage="decode"))
                continue
            if row["audioname"] in self.listened:
                _keep_example(self.out, spec, row["audioname"], reconstruction, inputs.source, inputs.originals)
            item, original = _prepare(row, inputs.source, inputs.originals)
            if original is not None:
                if self.cpu_metrics:
                    item.future = pool.submit(
                        compute_metrics,
                        self.cpu_metrics,
                        original,
                        reconstruction,
                        spec.sample_rate,
                        self.delay.seconds,
                    )
                for_models.append((item, self._pair(original, reconstruction, inputs.references[i])))
                if len(timing.timed_originals) < ENCODE_RTF_UTTERANCES:
                    timing.timed_originals.append(original)
            pending.append(item)
        tick = time.perf_counter()
        for (item, _), values in zip(for_models, self.models.compute([p for _, p in for_models]), strict=True):
            item.model_values = values
        timing.models_s += time.perf_counter() - tick
        return pending

    def _pair(self, original: np.ndarray, reconstruction: np.ndarray, reference: str) -> Pair:
        """The model metrics' input: the reconstruction aligned to the original (None where it failed)."""
        rate = self.inputs.tokens.spec.sample_rate
        failure = reconstruction_failure(reconstruction)
        degraded = (
            None if failure else fit_reconstruction(reconstruction, rate, SCORE_RATE, len(original), self.delay.seconds)
        )
        failure = failure or (reconstruction_failure(degraded) if degraded is not None else None)
        return Pair(original, degraded, reference, failure)

    def _flush(self, pending: list[Pending]) -> None:
        if pending:
            self.store.write(_rows(pending, self.schema))


def _aggregate_results(
    inputs: _Inputs, per_utterance: pa.Table, models: ModelMetrics, delay: Delay, codec, timing: _Timing | None
) -> dict[str, Any]:
    """The results file's statistics from the per-utterance table; ``timing`` of this run's decoding, if any."""
    data, infos, metrics = inputs.data, inputs.infos, inputs.metrics
    for name, reason in ((n, models.unavailable(n)) for n in metrics):
        if reason:
            infos[name].update(available=False, why=reason)
    data["models"] = models.describe()
    for name in metrics:
        role = {"speaker": "speaker", "asr": "asr"}.get(METRICS[name].kind)
        if role and role in data["models"]:
            infos[name]["model"] = data["models"][role].get("id")
            infos[name]["revision"] = data["models"][role].get("revision")
            if METRICS[name].kind == "asr":
                infos[name]["normalisation"] = inputs.normalisation
    scored = per_utterance.filter(pc_is_null(per_utterance["failure"]))
    aggregated = aggregate(scored, infos)
    data.update(metrics=aggregated["metrics"], by_subset=aggregated["by_subset"])
    data["failures"] = _failures(
        _utterance_failures(per_utterance),
        inputs.upstream,
        inputs.tokens.meta,
        inputs.split,
        len(inputs.table),
        inputs.partial,
        aggregated["failures"],
    )
    data["dataset"]["utterances"] = scored.num_rows
    if groups := _by_group(scored, infos, inputs.source, inputs.originals):
        data["by_group"] = groups
    facts = _codec_facts(inputs.tokens.spec, inputs.table, inputs.codes)
    facts["delay_ms"] = delay.ms
    facts["delay"] = delay.describe()
    if timing is not None:
        facts["decode_rtf"] = timing.decode_s / timing.decode_audio_s if timing.decode_audio_s else None
        facts.update(_encode_rtf(codec, timing.timed_originals))
    data["codec_facts"] = facts
    data["delay_ms"] = delay.ms
    return data


def _finish(inputs: _Inputs, data: dict[str, Any], models: dict[str, Any]) -> None:
    """The provenance record and the comparability key, last, over everything the results hold."""
    from kodek.provenance import record

    data.update(record())
    _comparable(
        data,
        inputs.source,
        inputs.names,
        inputs.upstream,
        inputs.split,
        inputs.limit,
        inputs.partial,
        inputs.normalisation,
        models,
    )


def _keep_example(out: Path, spec, name: str, wave: np.ndarray, source, originals: dict[str, int]) -> None:
    """A listening example: the reconstruction at the codec's rate, and the original beside the others."""
    files.write_bytes(out / spec.id / "audio" / f"{name}.flac", audio.encode_flac(wave, spec.sample_rate))
    original = out / ORIGINALS_DIR / f"{name}.flac"
    if name in originals and not original.is_file():
        try:
            wave = _load_original(source, originals, name)
        except (audio.AudioError, OSError):
            return  # scoring reports it; a listening example is optional
        files.write_bytes(original, audio.encode_flac(wave, SCORE_RATE))


def _by_group(table: pa.Table, metric_info: dict[str, Any], source, originals: dict[str, int]) -> dict[str, Any]:
    """Aggregates per speaker gender / age where the source knows them (BIGOS columns, 'N/A' when unknown)."""
    groups: dict[str, Any] = {}
    names = table["audioname"].to_pylist()
    for column in SPEAKER_GROUPS:
        if column not in source.dataset.column_names:
            continue
        known = source.dataset[column]
        values = [str(known[originals[n]]) if n in originals else "N/A" for n in names]
        if all(v in ("N/A", "", "None") for v in values) or len(set(values)) > MAX_GROUP_VALUES:
            continue
        relabelled = table.set_column(table.schema.get_field_index("dataset"), "dataset", pa.array(values))
        groups[column] = aggregate(relabelled, metric_info)["by_subset"]
    return groups


def pc_sum(column: pa.ChunkedArray) -> float:
    import pyarrow.compute as pc

    return pc.sum(column).as_py() or 0.0


def _codec_facts(spec, table: pa.Table, codes: list[np.ndarray]) -> dict[str, Any]:
    """Bitrate, frame rate, tokens per second, codebook usage and entropy, from the actual codes."""
    from kodek.metrics.facts import codec_facts

    facts = codec_facts(codes, table["duration_s"].to_pylist(), spec.codebook_sizes)
    facts["bitrate_bps_nominal"] = spec.bitrate_bps
    return facts


def _encode_rtf(codec, originals: list[np.ndarray]) -> dict[str, Any]:
    """Seconds of encoder compute per second of audio, one utterance at a time, on a few originals."""
    if not originals:
        return {"encode_rtf": None}
    seconds = 0.0
    audio_s = 0.0
    for wave in originals:
        resampled = audio.resample(wave, SCORE_RATE, codec.spec.sample_rate)
        padded, lengths = audio.pad_batch([resampled], codec.pad_multiple)
        tick = time.perf_counter()
        codec.encode(padded, lengths)
        seconds += time.perf_counter() - tick
        audio_s += len(wave) / SCORE_RATE
    return {"encode_rtf": seconds / audio_s if audio_s else None, "encode_rtf_utterances": len(originals)}


def _decode(codec, items: list[np.ndarray], frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = np.zeros((len(items), items[0].shape[0], int(frames.max())), dtype=np.int64)
    for row, item in zip(batch, items, strict=True):
        row[:, : item.shape[1]] = item
    return codec.decode(batch, frames)


def _prepare(row, source, originals) -> tuple[Pending, np.ndarray | None]:
    """The utterance's original at 16 kHz, or the reason it cannot be scored at all (every metric missing)."""
    name = row["audioname"]
    if name not in originals:
        return Pending(row, failure=f"no original audio for {name} in {source.label}/{source.split}"), None
    try:
        original = _load_original(source, originals, name)
    except (audio.AudioError, OSError) as error:
        return Pending(row, failure=f"original unreadable: {error}"), None
    if problem := original_problem(original):
        return Pending(row, failure=problem), None
    return Pending(row), original


def _decode_each(codec, items: list[np.ndarray], frames: np.ndarray) -> list[np.ndarray | str]:
    """The batch's reconstructions (at the codec's rate); where decoding fails, one at a time, the reason."""
    try:
        waves, lengths = _decode(codec, items, frames)
        return [waves[j, : lengths[j]] for j in range(len(items))]
    except Exception:  # a codec's own error: find the utterance(s) it comes from
        if len(items) == 1:
            raise
    out: list[np.ndarray | str] = []
    for item, count in zip(items, frames, strict=True):
        try:
            waves, lengths = _decode(codec, [item], np.array([count]))
            out.append(waves[0, : lengths[0]])
        except Exception as error:  # recorded as this utterance's decode failure
            out.append(
                f"decoding failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            )
    return out


def _estimate_delay(codec, table: pa.Table, codes: list[np.ndarray], source, originals: dict[str, int]) -> Delay:
    """The codec's delay from its first DELAY_UTTERANCES reconstructions (table order: the same on every run)."""
    pairs = []
    for i in range(min(DELAY_UTTERANCES, len(codes))):
        name = table["audioname"][i].as_py()
        if name not in originals:
            continue
        try:
            original = _load_original(source, originals, name)
            waves, lengths = _decode(codec, [codes[i]], np.array([codes[i].shape[1]]))
        except Exception:  # an utterance that cannot be read or decoded does not vote
            continue
        pairs.append((original, waves[0, : lengths[0]], codec.spec.sample_rate))
    return estimate_delay(pairs)


def _settings(tokens: TokenSet, split: str, limit, metrics, normalisation: str, models: ModelMetrics) -> dict:
    """What a run folder's per-utterance parts depend on: a resume with anything else is refused."""
    described = models.describe()
    return {
        "scoring_version": SCORING_VERSION,
        "codec": tokens.spec.id,
        "tokens": str(tokens.location),
        "split": split,
        "limit": limit,
        "metrics": sorted(metrics),
        "normalisation": normalisation,
        "speaker_model": _model_name(described.get("speaker")),
        "asr_model": _model_name(described.get("asr")),
    }


def _model_name(described: dict | None) -> str | None:
    if not described or not described.get("available", True):
        return None
    return f"{described.get('id')}@{described.get('revision')}"


def _resume_or_start(store: files.PartStore, settings: dict[str, Any], estimate) -> Delay:
    """Check a resumed run's settings (refusing others, naming them), or start one: the delay it uses."""
    work = store.folder
    path = work / SETTINGS_FILE
    if path.is_file():
        saved = files.read_json(path)
        differ = [
            k for k in sorted(set(settings) | set(saved["settings"])) if settings.get(k) != saved["settings"].get(k)
        ]
        if differ:
            what = "; ".join(f"{k}: {saved['settings'].get(k)!r} there, {settings.get(k)!r} now" for k in differ)
            raise ScoreError(
                f"{work.parent.parent}: an unfinished run with other settings is there ({what}); rerun it with the "
                f"same settings to finish it, or delete {work} to start again"
            )
        return Delay(**saved["delay"])
    if store.parts():
        raise ScoreError(
            f"{work}: parts of an unfinished run without its settings (an older kodek); delete it to start again"
        )
    delay = estimate()
    work.mkdir(parents=True, exist_ok=True)
    files.write_json(path, {"settings": settings, "delay": asdict(delay)})
    return delay


def token_failures(meta: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """Utterances of the source without codes (stage load or tokenize), from the failure records in ``codec.json``."""
    found: dict[str, dict[str, Any]] = {}
    records = list(meta.get("failures") or [])
    for shard in (meta.get("splits", {}).get(split, {}).get("shards") or {}).values():
        records += [dict(r, split=split) for r in shard.get("failures") or []]
    for item in records:
        if not isinstance(item, dict) or item.get("split", split) != split or not item.get("audioname"):
            continue
        found.setdefault(
            str(item["audioname"]),
            {
                "audioname": str(item["audioname"]),
                "dataset": item.get("dataset"),
                "stage": item.get("stage") if item.get("stage") in ("load", "tokenize") else "tokenize",
                "reason": str(item.get("reason") or "no codes")[:500],
            },
        )
    return list(found.values())


def _utterance_failures(table: pa.Table) -> list[dict[str, Any]]:
    return [
        {"audioname": r["audioname"], "dataset": r["dataset"], "stage": r["failure_stage"], "reason": r["failure"]}
        for r in table.select(["audioname", "dataset", "failure", "failure_stage"]).to_pylist()
        if r["failure"] is not None
    ]


def _failures(
    not_scored: list[dict[str, Any]],
    upstream: list[dict[str, Any]],
    meta: dict[str, Any],
    split: str,
    rows: int,
    partial: bool,
    per_metric: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every utterance of the source accounted for: scored, or not scored with its stage and reason."""
    per_metric = per_metric or {"count": 0, "by_reason": {}, "items": []}
    utterances = upstream + not_scored
    by_stage = Counter(item["stage"] for item in utterances)
    total = rows + len(upstream)
    declared = (meta.get("source") or {}).get("utterances_total")
    if isinstance(declared, dict):
        declared = declared.get(split)
    by_reason = Counter({f"{u['stage']}: {u['reason']}": 0 for u in utterances})
    for item in utterances:
        by_reason[f"{item['stage']}: {item['reason']}"] += 1
    return {
        "count": len(utterances) + per_metric["count"],
        "by_reason": {**by_reason, **per_metric["by_reason"]},
        "items": (utterances + per_metric["items"])[: results.MAX_LISTED_FAILURES],
        "utterances": {
            "source": total,
            "source_declared": declared if isinstance(declared, int) and not partial else None,
            "scored": rows - len(not_scored),
            "not_scored": len(utterances),
            "by_stage": {stage: by_stage.get(stage, 0) for stage in ("load", "tokenize", "decode", "metric")},
            "partial": partial,
        },
    }


def _comparable(data, source, names, upstream, split, limit, partial, normalisation, models) -> None:
    """The comparability record and key: what must match for two results to be ranked together."""
    info = source.info()
    speaker, asr = (models or {}).get("speaker"), (models or {}).get("asr")
    comparability = {
        "task": TASK,
        "dataset": info.get("repo") or info.get("name"),
        "config": info.get("config"),
        "revision": info.get("revision"),
        "split": split,
        "subsets": [str(s) for s in info.get("subsets") or []],
        "utterance_set": results.utterance_set_hash(list(names) + [u["audioname"] for u in upstream]),
        "utterances": len(set(names)) + len(upstream),
        "limit": limit,
        "partial": partial,
        "normalisation": normalisation,
        "speaker_model": _model_name(speaker),
        "asr_model": _model_name(asr),
        "scoring_version": SCORING_VERSION,
    }
    data["comparability"] = comparability
    data["comparability_key"] = results.comparability_key(comparability)


def pc_is_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.is_null(column)


def _load_original(source, originals: dict[str, int], name: str) -> np.ndarray:
    return load_utterance(source.dataset[originals[name]], SCORE_RATE)[0]


def _rows(pending: list[Pending], schema: pa.Schema) -> pa.Table:
    """The per-utterance rows of finished utterances (their CPU metrics awaited)."""
    base = {"audioname", "dataset", "split", "duration_s"}
    rows = []
    for item in pending:
        values: dict[str, Any] = {}
        if item.future is not None:
            values.update(item.future.result())
        values.update(item.model_values)
        values.update(failure=item.failure, failure_stage=item.stage if item.failure else None)
        for column in schema.names:  # an utterance-wide failure: every metric missing with its reason
            if column not in base and column not in values:
                values[column] = item.failure if column.endswith("__missing") else None
        rows.append({**item.row, **values})
    return pa.Table.from_pylist(rows, schema=schema)
