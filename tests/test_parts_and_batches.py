"""The shared machinery of the pipeline stages: the resumable part store, the length batcher, the pooled error
rate and the loading of an utterance's audio. Expected values are worked out by hand in each test."""

from __future__ import annotations

import math
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from kodek import audio, files
from kodek.batching import length_batches
from kodek.data.audiofile import load_utterance
from kodek.files import PartStore
from kodek.metrics.text import pooled_rate

from conftest import wav_bytes


def _part(keys: list[str]) -> pa.Table:
    return pa.table({"name": keys, "value": [float(len(k)) for k in keys]})


def test_a_kill_between_parts_resumes_with_exactly_the_finished_parts(tmp_path):
    store = PartStore(tmp_path / "work", "name")
    store.write(_part(["c", "a"]))

    # A writer killed (SIGKILL) mid-write leaves its temporary file beside the parts.
    (tmp_path / "work" / ".part-00001.parquet.tmp-4242").write_bytes(b"PAR1 half a parquet file")

    resumed = PartStore(tmp_path / "work", "name")  # ... and a new run does not count it
    assert resumed.done() == {"a", "c"}
    assert [p.name for p in resumed.parts()] == ["part-00000.parquet"]
    resumed.write(_part(["d", "b"]))
    assert [p.name for p in resumed.parts()] == ["part-00000.parquet", "part-00001.parquet"]
    final = tmp_path / "out" / "all.parquet"
    assert resumed.merge(final)
    assert pq.read_table(final).to_pydict() == {"name": ["a", "b", "c", "d"], "value": [1.0, 1.0, 1.0, 1.0]}


def test_the_merged_file_drops_the_key_on_request_and_keeps_the_parts_metadata(tmp_path):
    store = PartStore(tmp_path / "work", "_index")
    metadata = {b"huggingface": b'{"info": 1}'}
    store.write(pa.table({"_index": [3, 1], "text": ["three", "one"]}).replace_schema_metadata(metadata))
    store.write(pa.table({"_index": [2], "text": ["two"]}).replace_schema_metadata(metadata))
    final = tmp_path / "final.parquet"
    assert store.merge(final, drop_key=True)
    merged = pq.read_table(final)
    assert merged.column_names == ["text"] and merged["text"].to_pylist() == ["one", "two", "three"]
    assert merged.schema.metadata == metadata
    assert not PartStore(tmp_path / "empty", "_index").merge(tmp_path / "none.parquet")
    assert not (tmp_path / "none.parquet").exists()
    store.remove()
    assert not (tmp_path / "work").exists()


def test_failures_survive_a_torn_last_line_and_are_not_done(tmp_path):
    store = PartStore(tmp_path, "_index")
    store.record_failures([(4, {"audioname": "x", "reason": "bad"}), (7, {"audioname": "y", "reason": "worse"})])
    with open(tmp_path / PartStore.FAILURES, "a") as handle:
        handle.write('{"_index": 9, "audioname": "z", "rea')  # killed mid-write
    assert store.failures() == {4: {"audioname": "x", "reason": "bad"}, 7: {"audioname": "y", "reason": "worse"}}
    assert store.done() == set()


def test_batches_are_longest_first_and_cut_at_the_item_limit():
    # lengths 10, 10, 7, 3, 1 in that order: indices 1, 3 (a tie keeps index order), 2, 0, 4
    assert length_batches([3, 10, 7, 10, 1], 2) == [[1, 3], [2, 0], [4]]
    # ties keep the given order; indices outside ``order`` are not batched
    assert length_batches([5, 5, 5, 1, 8], 2, order=[2, 0, 1, 3]) == [[2, 0], [1, 3]]


def test_batches_respect_the_padded_budget():
    # Longest first: 9, 5, 4, 4, 2, padded to a multiple of 4: 12, 8, 4, 4, 4. Under a budget of 20 the
    # 12-long batch holds one item (two cost 24), the 8-long one two (16; three 24), the 4-long one the rest.
    assert length_batches([5, 9, 2, 4, 4], 10, budget=20, multiple=4) == [[1], [0, 3], [4, 2]]
    assert length_batches([5, 9, 2, 4, 4], 10, budget=24, multiple=4) == [[1, 0], [3, 4, 2]]
    assert length_batches([30, 2], 10, budget=10) == [[0], [1]]  # longer than the budget: alone
    assert length_batches([4, 4, 3, 4], 10, same_length=True) == [[0, 1, 3], [2]]


def test_every_index_is_batched_exactly_once_within_the_limits():
    rng = random.Random(3)
    for _ in range(50):
        lengths = [rng.randint(1, 50) for _ in range(rng.randint(0, 40))]
        budget, multiple, limit = rng.randint(1, 200), rng.choice([1, 4, 7]), rng.randint(1, 6)
        batches = length_batches(lengths, limit, budget=budget, multiple=multiple)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        firsts = [lengths[b[0]] for b in batches]
        assert firsts == sorted(firsts, reverse=True)
        for batch in batches:
            longest = max(lengths[i] for i in batch)
            assert lengths[batch[0]] == longest and len(batch) <= limit
            assert len(batch) == 1 or len(batch) * math.ceil(longest / multiple) * multiple <= budget


def test_the_pooled_rate_is_all_errors_over_all_reference_units():
    # utterances with 1 of 4 and 3 of 4 words wrong pool to 4/8; unknown errors or lengths are left out
    assert pooled_rate([1, None, 3, math.nan], [4, 5, 4, 2]) == 0.5
    assert pooled_rate([2, 0], [2, 8]) == 0.2  # not the mean of 1.0 and 0.0
    assert pooled_rate([None], [3]) is None and pooled_rate([], []) is None


def test_an_utterance_reads_the_same_from_bytes_or_path_and_a_cut_wav_is_refused(tmp_path, tone):
    data = wav_bytes(tone, 16_000, "PCM_16")
    (tmp_path / "u.wav").write_bytes(data)
    expected, rate = sf.read(tmp_path / "u.wav", dtype="float32")
    for ref in ({"bytes": data, "path": None}, {"bytes": None, "path": str(tmp_path / "u.wav")}):
        wave, got_rate = load_utterance({"audioname": "u", "audio": ref})
        assert got_rate == rate == 16_000 and np.array_equal(wave, expected)
    wave, got_rate = load_utterance({"audioname": "u", "audio": {"bytes": data}}, 8_000)
    assert got_rate == 8_000 and len(wave) == 8_000
    with pytest.raises(audio.AudioError, match=r"^cut: truncated WAV"):
        load_utterance({"audioname": "cut", "audio": {"bytes": data[: len(data) // 2]}})


def test_a_replaced_file_takes_the_umask_and_a_failed_write_keeps_the_old_one(tmp_path):
    import os
    import stat

    target = tmp_path / "deep" / "results.json"
    previous = os.umask(0o027)
    try:
        files.write_bytes(target, b"first")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"first" and stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError), files.replacing(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"first" and sorted(p.name for p in target.parent.iterdir()) == ["results.json"]
