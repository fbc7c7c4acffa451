"""Encode one split (or one shard of it) with a codec into the token dataset layout.

Resumable: utterances are processed in chunks, each chunk written atomically as a
part file under ``.kodek-work/``; a restarted run skips what its parts (and its
recorded failures) already hold, then merges the parts into the shard's parquet
file in source order. A bad item (undecodable, NaN, a codec error) is recorded
with its reason and never stops the run.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kodek import audio, files
from kodek.batching import length_batches
from kodek.codecs.base import Codec, check_codes
from kodek.codecs.registry import resolved_revision
from kodek.data.audiofile import load_utterance
from kodek.data.source import Source
from kodek.errors import KodekError
from kodek.tokenize import card, layout

log = logging.getLogger(__name__)
INDEX = "_index"  # the source row of a part's utterance: what a resumed run skips, and the merged file's order


class TokenizeError(KodekError, RuntimeError):
    """The output folder or the arguments do not allow this run."""


@dataclass
class Item:
    index: int  # row in the source split, the order of the output
    row: dict[str, Any]
    wave: np.ndarray  # at the codec's sample rate
    duration_s: float  # of the original audio


@dataclass
class TokenizeStats:
    codec_id: str
    split: str
    shard: str
    rows_in_shard: int = 0
    rows_written: int = 0
    rows_resumed: int = 0  # already present from an earlier, interrupted run
    failures: list[dict[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_s: float = 0.0
    encode_s: float = 0.0  # time inside codec.encode: the pure batched forward
    already_complete: bool = False

    def summary(self) -> str:
        if self.already_complete:
            return f"{self.codec_id}/{self.split} shard {self.shard}: already complete, nothing to do"
        speed = self.audio_seconds / self.wall_s if self.wall_s else 0.0
        return (
            f"{self.codec_id}/{self.split} shard {self.shard}: {self.rows_written} utterances encoded "
            f"({self.rows_resumed} resumed), {len(self.failures)} failed; {self.audio_seconds:.1f} s of audio "
            f"in {self.wall_s:.1f} s ({speed:.1f} audio s/s)"
        )


def batching_defaults(device: str) -> tuple[float, int]:
    """(padded audio seconds per batch, utterances per batch) that suit the device.

    On a CPU, large batches are slower per second of audio than small ones (cache
    pressure; measured with `kodek bench tokenize`), so batches stay small there.
    """
    return (600.0, 64) if device.startswith("cuda") else (16.0, 4)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), 0-based, as array jobs number their tasks."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise TokenizeError(f"--shard takes I/N (e.g. 0/4), not {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise TokenizeError(f"--shard {text}: need 0 <= I < N")
    return index, count


def shard_rows(total: int, index: int, count: int) -> range:
    """A contiguous block of rows, so shards concatenate back in source order."""
    return range(total * index // count, total * (index + 1) // count)


def tokenize(
    codec: Codec,
    source: Source,
    out: Path,
    *,
    shard: tuple[int, int] = (0, 1),
    batch_seconds: float | None = None,
    max_batch: int | None = None,
    chunk_size: int = 256,
    limit: int | None = None,
    progress: bool = True,
) -> TokenizeStats:
    """Encode ``source`` with ``codec`` into ``out`` (the Hub layout). Returns what was done."""
    spec = codec.spec
    default_seconds, default_batch = batching_defaults(codec.device)
    batch_seconds = batch_seconds or default_seconds
    max_batch = max_batch or default_batch
    name = layout.shard_name(source.split, *shard)
    stats = TokenizeStats(spec.id, source.split, name)
    started = time.perf_counter()
    meta_path = layout.codec_dir(out, spec.id) / "codec.json"
    with files.locked(out):
        meta = _check_or_start_meta(meta_path, codec, source, shard[1])
        codec.save_artefacts(out)
    final = layout.shard_path(out, spec.id, source.split, *shard)
    total = len(source.dataset) if limit is None else min(limit, len(source.dataset))
    rows = shard_rows(total, *shard)
    work = out / layout.WORK_DIR / spec.id / name
    store = files.PartStore(work, INDEX)
    recorded = meta.get("splits", {}).get(source.split, {}).get("shards", {}).get(name)
    if final.is_file() and recorded:
        if _covers(recorded, rows):
            stats.already_complete = True
            return stats
        with files.locked(out):  # a --limit run, now completed: its rows are resumed, not redone
            _reopen(meta_path, final, store, source, name, rows)

    stats.rows_in_shard = len(rows)
    done, failures = store.done(), store.failures()
    stats.rows_resumed = len(done)
    stats.failures = list(failures.values())
    todo = [i for i in rows if i not in done and i not in failures]

    bar = _progress(len(rows), len(done) + len(failures), f"{spec.id} {name}", progress)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        items, bad = _load_items(source, chunk, spec.sample_rate)
        encoded, failed = _encode_items(codec, items, batch_seconds, max_batch, stats)
        if encoded:
            store.write(_to_table(encoded, source.split, spec.code_dtype, with_index=True))
        _record_failures(store, bad + failed, stats)
        stats.rows_written += len(encoded)
        stats.audio_seconds += sum(item.duration_s for item, _ in encoded)
        bar.update(len(chunk))
    bar.close()

    if not store.merge(final, drop_key=True):
        if stats.failures:
            raise TokenizeError(f"no utterance of {final.name} could be encoded (see the failures above)")
        files.write_table(layout.schema(spec.code_dtype).empty_table(), final)  # a shard with no rows
    with files.locked(out):
        meta = files.read_json(meta_path)
        split_meta = meta.setdefault("splits", {}).setdefault(source.split, {})
        split_meta["shards"][name] = {
            "rows": pq.ParquetFile(final).metadata.num_rows,
            "range": [rows.start, rows.stop],  # the source rows this shard covers
            "partial": rows != shard_rows(len(source.dataset), *shard),  # a --limit run: fewer rows than its share
            "failures": stats.failures,
            "date": _now(),
        }
        split_meta["partial"] = any(s.get("partial", False) for s in split_meta["shards"].values())
        _record_failures_total(meta, source)
        files.write_json(meta_path, meta)
        card.write_card(out)
    _remove_work(store, out)
    stats.wall_s = time.perf_counter() - started
    return stats


def _remove_work(store: files.PartStore, out: Path) -> None:
    """Delete a finished shard's work folder, and its parents once empty."""
    store.remove()
    for parent in (store.folder.parent, out / layout.WORK_DIR):
        try:
            parent.rmdir()
        except OSError:  # not empty: another shard is still at work
            break


def _now() -> str:
    from kodek.provenance import now

    return now()


def _covers(recorded: dict[str, Any], rows: range) -> bool:
    """Whether a finished shard holds every row this run asks for (older folders: no range, taken as whole)."""
    start, stop = recorded.get("range", [rows.start, rows.stop])
    return start <= rows.start and rows.stop <= stop


def _reopen(meta_path: Path, final: Path, store: files.PartStore, source: Source, name: str, rows: range) -> None:
    """Turn a finished partial shard back into resumable work: its rows and failures that this run's
    ``rows`` hold seed the work folder (the others belong to another shard now)."""
    meta = files.read_json(meta_path)
    recorded = meta["splits"][source.split]["shards"][name]
    index = {n: i for i, n in enumerate(source.dataset["audioname"])}
    table = pq.read_table(final)
    names = table["audioname"].to_pylist()
    if any(n not in index for n in names):
        raise TokenizeError(f"{final} holds utterances this source does not list: use another --out")
    store.remove()
    positions = [index[n] for n in names]
    seeded = table.append_column(INDEX, pa.array(positions, pa.int64()))
    seeded = seeded.filter(pa.array([p in rows for p in positions]))
    if seeded.num_rows:
        store.write(seeded.replace_schema_metadata(table.schema.metadata))
    store.record_failures(
        [
            (index[f["audioname"]], f)
            for f in recorded["failures"]
            if f["audioname"] in index and index[f["audioname"]] in rows
        ]
    )
    del meta["splits"][source.split]["shards"][name]
    files.write_json(meta_path, meta)
    final.unlink()


def _record_failures_total(meta: dict[str, Any], source: Source) -> None:
    """Every utterance of the source without codes, with its stage, and how many the source held."""
    split_meta = meta["splits"][source.split]
    split_meta["load_failures"] = source.failures
    split_meta["utterances_total"] = source.utterances_total
    meta["failures"] = [
        failure
        for split in meta["splits"].values()
        for failure in [*split.get("load_failures", []), *(f for s in split["shards"].values() for f in s["failures"])]
    ]
    meta["source"]["utterances_total"] = sum(s.get("utterances_total") or 0 for s in meta["splits"].values())


def _check_or_start_meta(path: Path, codec: Codec, source: Source, shard_count: int) -> dict[str, Any]:
    """codec.json: written by the first shard; later runs must match it exactly (one shard scheme per split)."""
    from kodek.provenance import versions

    spec = codec.spec.to_dict()
    origin = {k: v for k, v in source.info().items() if k in ("name", "config", "repo", "revision")}
    origin["license"] = source.license
    meta = files.read_json(path)
    if meta:
        _check_shard_scheme(meta, path.parent, source.split, shard_count)
        clash = [
            what
            for what, old, new in (
                ("codec spec", meta.get("codec"), spec),
                ("random weights", meta.get("random_weights"), codec.random_weights),
                ("seed", meta.get("seed"), codec.describe()["seed"]),
                ("float64", meta.get("float64", False), codec.describe().get("float64", False)),
                ("source", {k: v for k, v in meta.get("source", {}).items() if k != "utterances_total"}, origin),
            )
            if old != new
        ]
        if clash:
            raise TokenizeError(
                f"{path.parent} already holds {codec.spec.id} tokens from a different run "
                f"({', '.join(clash)} differ): use another --out, or delete {path.parent}"
            )
        split_meta = meta.setdefault("splits", {}).setdefault(source.split, {"shards": {}})
        split_meta.setdefault("shards", {})
        split_meta.setdefault("shard_count", shard_count)
        files.write_json(path, meta)
        return meta
    _check_shard_scheme({}, path.parent, source.split, shard_count)
    ckpt = codec.spec.checkpoint
    meta = {
        "codec": spec,
        **codec.describe(),
        # The commit the weights came from (a branch such as "main" resolved through the Hub cache).
        "checkpoint_revision": None
        if ckpt is None or codec.random_weights
        else resolved_revision(ckpt.repo, ckpt.revision),
        "batch_invariant": codec.batch_invariant,
        "source": origin,
        "software": versions(),
        "splits": {source.split: {"shard_count": shard_count, "shards": {}}},
    }
    files.write_json(path, meta)
    return meta


def _check_shard_scheme(meta: dict[str, Any], folder: Path, split: str, count: int) -> None:
    """One shard scheme per split and folder: shards of another N would overlap these rows."""
    recorded = meta.get("splits", {}).get(split, {}).get("shard_count")
    on_disk = layout.shard_counts(folder.glob(f"{split}-*-of-*.parquet"))
    other = {recorded} if recorded else set()
    other |= on_disk
    other.discard(count)
    if other:
        n = min(other)
        raise TokenizeError(
            f"{folder} holds {split} in {n} shards; this run asks for {count} (--shard I/{count}): "
            f"use --shard I/{n}, or another --out"
        )


def _record_failures(store: files.PartStore, failed: list[tuple[int, dict[str, str]]], stats: TokenizeStats) -> None:
    store.record_failures(failed)
    for _, record in failed:
        log.warning("skipped %s: %s", record["audioname"], record["reason"])
        stats.failures.append(record)


def _load_items(source: Source, indices: list[int], sample_rate: int):
    """Decode and resample a chunk in threads (libsndfile and soxr release the GIL)."""

    def load(index: int) -> Item | tuple[int, dict[str, str]]:
        row = source.dataset[index]
        try:
            wave, rate = load_utterance(row)  # at the file's rate: the duration of the original
            duration = len(wave) / rate
            return Item(index, row, audio.resample(wave, rate, sample_rate), duration)
        except (audio.AudioError, OSError) as error:
            return index, _failure(row, source.split, "load", str(error))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(load, indices))
    items = [r for r in results if isinstance(r, Item)]
    bad = [r for r in results if not isinstance(r, Item)]
    return items, bad


def _failure(row: dict[str, Any], split: str | None, stage: str, reason: str) -> dict[str, Any]:
    """A failure record of codec.json (audioname, dataset, stage, reason, split)."""
    return {
        "audioname": row["audioname"],
        "dataset": row.get("dataset"),
        "split": split,
        "stage": stage,
        "reason": reason,
    }


def _encode_items(codec: Codec, items: list[Item], batch_seconds: float, max_batch: int, stats: TokenizeStats):
    budget = int(batch_seconds * codec.spec.sample_rate)
    size = max_batch if codec.batch_invariant else 1
    encoded: list[tuple[Item, np.ndarray]] = []
    failed: list[tuple[int, dict[str, str]]] = []
    lengths = [len(item.wave) for item in items]
    for group in length_batches(lengths, size, budget=budget, multiple=codec.pad_multiple):
        batch = [items[k] for k in group]
        try:
            encoded += _encode_batch(codec, batch, stats)
        except Exception as error:
            if len(batch) > 1:
                sub_encoded, sub_failed = _encode_items(codec, batch, 0.0, 1, stats)
                encoded += sub_encoded
                failed += sub_failed
            else:
                reason = f"{codec.spec.id} failed: {type(error).__name__}: {error}"
                failed.append((batch[0].index, _failure(batch[0].row, batch[0].row.get("split"), "tokenize", reason)))
    return encoded, failed


def _encode_batch(codec: Codec, batch: list[Item], stats: TokenizeStats) -> list[tuple[Item, np.ndarray]]:
    waves, lengths = audio.pad_batch([item.wave for item in batch], codec.pad_multiple)
    tick = time.perf_counter()
    codes, frames = codec.encode(waves, lengths)
    stats.encode_s += time.perf_counter() - tick
    check_codes(codes, codec.spec)
    return [(item, codes[i, :, : frames[i]]) for i, item in enumerate(batch)]


def _to_table(encoded: list[tuple[Item, np.ndarray]], split: str, dtype: str, *, with_index: bool) -> pa.Table:
    columns = {
        "audioname": [item.row["audioname"] for item, _ in encoded],
        "dataset": [item.row["dataset"] for item, _ in encoded],
        "split": [split] * len(encoded),
        "ref_orig": [item.row.get("ref_orig") or "" for item, _ in encoded],
        "duration_s": [item.duration_s for item, _ in encoded],
        "num_frames": [codes.shape[1] for _, codes in encoded],
    }
    schema = layout.schema(dtype)
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema if f.name != "codes"]
    arrays.append(layout.codes_to_arrow([codes for _, codes in encoded], dtype))
    table = pa.Table.from_arrays(arrays, schema=schema)
    if with_index:
        table = table.append_column(INDEX, pa.array([item.index for item, _ in encoded], pa.int64()))
    return table


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="utt", disable=not enabled)
