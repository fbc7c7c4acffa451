"""kodek tokenize: the Hub layout, load_dataset round trips, shards, resume, bad input."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from kodek.codecs import build_codec
from kodek.codecs.init import calibration_audio
from kodek.tokenize import layout, pipeline
from kodek.tokenize.pipeline import TokenizeError, tokenize

from conftest import make_source, wav_bytes


def _speechlike(n: int, k: int) -> list[tuple[str, bytes]]:
    return [(f"utt-{i:03d}", wav_bytes(calibration_audio(16_000, 0.4 + 0.3 * i, seed=i))) for i in range(k, k + n)]


@pytest.fixture(scope="module")
def source():
    return make_source(_speechlike(7, 0))


@pytest.fixture(scope="module")
def opus():
    return build_codec("opus-6kbps")


def _rows(folder, codec_id, split="test"):
    return datasets.load_dataset(str(folder), codec_id, split=split)


def test_load_dataset_reads_the_token_folder(tmp_path, source, opus):
    stats = tokenize(opus, source, tmp_path, progress=False)
    assert stats.rows_written == 7 and not stats.failures
    rows = _rows(tmp_path, "opus-6kbps")
    assert rows.column_names == list(layout.COLUMNS)
    assert rows.features["codes"].feature.feature.dtype == "uint8"  # narrowest unsigned type kept
    assert rows["audioname"] == [f"utt-{i:03d}" for i in range(7)]  # source order
    for row in rows:
        codes = np.array(row["codes"])
        assert codes.shape == (15, row["num_frames"])
        expected = row["duration_s"] * opus.spec.frame_rate
        assert np.ceil(expected) <= row["num_frames"] <= np.ceil(expected) + 1  # + the flushed look-ahead
    streamed = list(datasets.load_dataset(str(tmp_path), "opus-6kbps", split="test", streaming=True))
    assert [r["audioname"] for r in streamed] == rows["audioname"]
    assert streamed[3]["codes"] == rows[3]["codes"]


def test_codec_json_and_card_describe_the_folder(tmp_path, source, opus):
    tokenize(opus, source, tmp_path, progress=False)
    tokenize(build_codec("identity-16khz"), source, tmp_path, progress=False)
    meta = json.loads((tmp_path / "data/opus-6kbps/codec.json").read_text())
    assert meta["codec"]["id"] == "opus-6kbps" and meta["random_weights"] is False
    assert meta["splits"]["test"]["shards"]["test-00000-of-00001"]["rows"] == 7
    assert meta["software"]["kodek"] and meta["source"]["name"] == "synthetic"
    card = (tmp_path / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["language"] == ["pl"]
    assert [c["config_name"] for c in header["configs"]] == ["identity-16khz", "opus-6kbps"]
    assert header["configs"][1]["data_files"] == [{"split": "test", "path": "data/opus-6kbps/test-*.parquet"}]
    assert _rows(tmp_path, "identity-16khz").num_rows == 7


def test_bad_items_are_reported_and_never_stop_the_run(tmp_path, opus):
    t = np.arange(16_000 * 60) / 16_000
    long_tone = (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    nan = calibration_audio(16_000, 1.0)
    nan[10] = np.nan
    items = [
        ("ok-1", wav_bytes(calibration_audio(16_000, 1.0))),
        ("corrupt", b"RIFF\x00\x00\x00\x00WAVEjunk" * 20),
        ("nan", wav_bytes(nan)),
        ("silence", wav_bytes(np.zeros(16_000, np.float32))),
        ("clip-10ms", wav_bytes(calibration_audio(16_000, 0.01))),
        ("clip-60s", wav_bytes(long_tone)),
        ("stereo", wav_bytes(np.stack([np.zeros(16_000, np.float32), calibration_audio(16_000, 1.0)], 1))),
        ("rate-8k", wav_bytes(calibration_audio(8_000, 1.0), 8_000)),
        ("rate-48k", wav_bytes(calibration_audio(48_000, 1.0), 48_000)),
    ]
    stats = tokenize(opus, make_source(items), tmp_path, progress=False)
    failed = {f["audioname"]: f["reason"] for f in stats.failures}
    assert set(failed) == {"corrupt", "nan"}
    assert "corrupt: cannot decode audio" in failed["corrupt"] and "NaN" in failed["nan"]
    rows = _rows(tmp_path, "opus-6kbps")
    durations = dict(zip(rows["audioname"], rows["duration_s"], strict=True))
    assert set(durations) == {name for name, _ in items} - {"corrupt", "nan"}
    assert durations["clip-60s"] == pytest.approx(60.0) and durations["clip-10ms"] == pytest.approx(0.01)
    assert durations["rate-8k"] == pytest.approx(1.0) and durations["rate-48k"] == pytest.approx(1.0)
    meta = json.loads((tmp_path / "data/opus-6kbps/codec.json").read_text())
    assert len(meta["splits"]["test"]["shards"]["test-00000-of-00001"]["failures"]) == 2


def test_shards_together_equal_one_run(tmp_path, source, opus):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    tokenize(opus, source, whole, progress=False)
    for index in range(3):
        tokenize(opus, source, parts, shard=(index, 3), progress=False)
    assert len(layout.split_files(parts, "opus-6kbps", "test")) == 3
    a, b = _rows(whole, "opus-6kbps"), _rows(parts, "opus-6kbps")
    assert a["audioname"] == b["audioname"] and a["codes"] == b["codes"]


def test_a_killed_run_resumes_without_duplicates_or_losses(tmp_path, source, opus, monkeypatch):
    calls = {"n": 0}
    real = pipeline._encode_items

    def dies_on_the_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_encode_items", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        tokenize(opus, source, tmp_path, chunk_size=2, progress=False)
    assert not layout.split_files(tmp_path, "opus-6kbps", "test")  # nothing half-published
    monkeypatch.setattr(pipeline, "_encode_items", real)
    stats = tokenize(opus, source, tmp_path, chunk_size=2, progress=False)
    assert stats.rows_resumed == 4 and stats.rows_written == 3
    rows = _rows(tmp_path, "opus-6kbps")
    assert rows["audioname"] == [f"utt-{i:03d}" for i in range(7)]
    assert not (tmp_path / layout.WORK_DIR / "opus-6kbps").exists()
    again = tokenize(opus, source, tmp_path, progress=False)
    assert again.already_complete and pq.read_table(layout.split_files(tmp_path, "opus-6kbps", "test")[0]).num_rows == 7


def test_batched_pipeline_equals_one_by_one(tmp_path, source):
    """Length-bucketed padded batches give the same codes as encoding each utterance alone."""
    import torch

    codec = build_codec("encodec-24khz-6kbps", random_weights=True, seed=7).to("cpu", torch.float64)  # unshared
    tokenize(codec, source, tmp_path / "batched", max_batch=8, progress=False)
    tokenize(codec, source, tmp_path / "single", max_batch=1, progress=False)
    a, b = _rows(tmp_path / "batched", codec.spec.id), _rows(tmp_path / "single", codec.spec.id)
    assert a["num_frames"] == b["num_frames"] and a["codes"] == b["codes"]
    meta = json.loads((tmp_path / "batched" / "data" / codec.spec.id / "codec.json").read_text())
    assert meta["random_weights"] is True and meta["seed"] == 7 and meta["checkpoint_revision"] is None
    assert "random weights: not a real score" in (tmp_path / "batched" / "README.md").read_text()


def test_a_folder_never_mixes_two_runs_of_one_codec(tmp_path, source):
    tokenize(
        build_codec("encodec-24khz-1.5kbps", random_weights=True, seed=0), source, tmp_path, limit=2, progress=False
    )
    other = build_codec("encodec-24khz-1.5kbps", random_weights=True, seed=1)
    with pytest.raises(TokenizeError, match=r"different run .*seed"):
        tokenize(other, source, tmp_path, progress=False)


def test_shard_argument_is_checked():
    assert pipeline.parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(TokenizeError, match="--shard"):
            pipeline.parse_shard(bad)
