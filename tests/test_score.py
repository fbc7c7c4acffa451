"""kodek score: decode, align, score against the reference libraries, honest failures, resume."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from kodek import audio
from kodek.codecs import build_codec
from kodek.leaderboard.schema import validate
from kodek.metrics import intrusive
from kodek.metrics import score as score_module
from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.score import score
from kodek.tokenize.pipeline import tokenize
from kodek.tokenize.reader import TokensError, open_tokens


@pytest.fixture(scope="module")
def opus_tokens(tmp_path_factory, sample_test):
    folder = tmp_path_factory.mktemp("tokens")
    tokenize(build_codec("opus-6kbps"), sample_test, folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def opus_results(tmp_path_factory, opus_tokens):
    out = tmp_path_factory.mktemp("results")
    return out, score(open_tokens(opus_tokens, "opus-6kbps"), out, workers=2, progress=False)


def test_results_json_follows_the_schema(opus_results, sample_test):
    out, data = opus_results
    assert validate(data) == []
    on_disk = json.loads((out / "opus-6kbps" / "reconstruction.json").read_text())
    assert on_disk == json.loads(json.dumps(data))
    assert data["task"] == "reconstruction" and data["random_weights"] is False
    assert data["dataset"]["utterances"] == len(sample_test.dataset) and data["dataset"]["synthetic"]
    assert data["codec_facts"]["bitrate_bps_measured"] > 6_000  # the flushed look-ahead costs a little
    assert set(data["by_subset"]) == set(sample_test.dataset["dataset"])
    assert data["software"]["kodek"] and data["date"]


def test_values_equal_a_direct_call_of_the_reference_libraries(opus_results, opus_tokens, sample_test):
    """Recompute two utterances by hand: decode, resample, align, pesq()/stoi()."""
    from pesq import pesq
    from pystoi import stoi

    out, data = opus_results
    table = pq.read_table(out / "opus-6kbps" / "reconstruction-utterances.parquet").to_pylist()
    codec = build_codec("opus-6kbps")
    tokens = open_tokens(opus_tokens, "opus-6kbps")
    meta, codes = tokens.codes("test")
    names = meta["audioname"].to_pylist()
    originals = {row["audioname"]: row for row in sample_test.dataset}
    for row in table[:2]:
        i = names.index(row["audioname"])
        wave, lengths = codec.decode(codes[i][None], np.array([codes[i].shape[1]]))
        ref, _ = audio.load_audio(originals[row["audioname"]]["audio"]["bytes"], 16_000)
        deg = audio.fit_length(audio.resample(wave[0, : lengths[0]], 16_000, 16_000), len(ref))
        assert row["pesq_wb"] == pytest.approx(pesq(16_000, ref.astype(float), deg.astype(float), "wb"), abs=1e-9)
        assert row["stoi"] == pytest.approx(stoi(ref.astype(float), deg.astype(float), 16_000), abs=1e-9)
    values = [r["pesq_wb"] for r in table if r["pesq_wb"] is not None]
    assert data["metrics"]["pesq_wb"]["rec"]["mean"] == pytest.approx(np.mean(values))
    assert data["metrics"]["pesq_wb"]["rec"]["n"] == len(values)


def test_silence_and_too_short_audio_are_missing_with_a_reason():
    silence = np.zeros(16_000, np.float32)
    t = np.arange(16_000) / 16_000
    speech = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    with pytest.raises(MetricUnavailable, match="PESQ"):
        intrusive.pesq_wb(speech, silence)
    with pytest.raises(MetricUnavailable, match="too short for PESQ"):
        intrusive.pesq_wb(speech[:1600], speech[:1600])
    with pytest.raises(MetricUnavailable, match="silent reference"):
        intrusive.stoi(silence, speech)
    with pytest.raises(MetricUnavailable, match="fewer than 30 speech frames"):
        intrusive.stoi(speech[:2000], speech[:2000])
    values = score_module.compute_metrics(["pesq_wb", "stoi"], silence, speech)
    assert values["pesq_wb"] is None and values["pesq_wb__missing"]
    assert values["stoi"] is None and values["stoi__missing"] == "silent reference"


def test_a_killed_scoring_run_resumes(tmp_path, opus_tokens, monkeypatch):
    real = score_module._flush
    calls = {"n": 0}

    def dies_after_the_first_part(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(score_module, "_flush", dies_after_the_first_part)
    tokens = open_tokens(opus_tokens, "opus-6kbps")
    with pytest.raises(KeyboardInterrupt):
        score(tokens, tmp_path, workers=1, progress=False, limit=5, max_batch=1, flush_every=2)
    work = tmp_path / "opus-6kbps" / ".kodek-work" / "reconstruction"
    assert len(list(work.glob("part-*.parquet"))) == 1
    monkeypatch.setattr(score_module, "_flush", real)
    data = score(tokens, tmp_path, workers=1, progress=False, limit=5, max_batch=1, flush_every=2)
    table = pq.read_table(tmp_path / "opus-6kbps" / "reconstruction-utterances.parquet")
    assert table.num_rows == 5 and len(set(table["audioname"].to_pylist())) == 5
    assert data["dataset"]["utterances"] == 5 and not work.exists()


def test_random_weight_tokens_are_marked_in_results(tmp_path, sample_test):
    codec = build_codec("encodec-24khz-1.5kbps", random_weights=True, seed=5)
    tokenize(codec, sample_test, tmp_path / "tokens", limit=3, progress=False)
    data = score(open_tokens(tmp_path / "tokens", codec.spec.id), tmp_path / "results", workers=1, progress=False)
    assert data["random_weights"] is True and data["dataset"]["utterances"] == 3
    assert validate(data) == []


def test_missing_codec_or_split_is_named(opus_tokens):
    with pytest.raises(TokensError, match=r"no tokens for codec 'mimi-8'.*opus-6kbps"):
        open_tokens(opus_tokens, "mimi-8")
    with pytest.raises(TokensError, match="no train split for opus-6kbps"):
        open_tokens(opus_tokens, "opus-6kbps").table("train")
