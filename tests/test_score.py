"""kodek score: decode, align, score against the reference libraries, honest failures, resume."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from kodek import audio
from kodek.codecs import build_codec
from kodek.metrics import intrusive
from kodek.metrics import score as score_module
from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.score import score
from kodek.results.schema import validate
from kodek.tokenize.pipeline import tokenize
from kodek.tokenize.reader import TokensError, open_tokens

from conftest import kill_at_the_second_part


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
    shift = round(data["delay_ms"] * 16)  # the delay the results say was compensated
    assert data["delay_ms"] == data["codec_facts"]["delay_ms"] and abs(data["delay_ms"]) < 1.0
    for row in table[:2]:
        i = names.index(row["audioname"])
        wave, lengths = codec.decode(codes[i][None], np.array([codes[i].shape[1]]))
        ref, _ = audio.load_audio(originals[row["audioname"]]["audio"]["bytes"], 16_000)
        deg = wave[0, shift : lengths[0]]  # opus decodes at 16 kHz: no resampling
        deg = np.concatenate([deg, np.zeros(max(0, len(ref) - len(deg)), np.float32)])[: len(ref)]
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
    with pytest.raises(MetricUnavailable, match="too short for STOI"):
        intrusive.stoi(speech[:2000], speech[:2000])
    with pytest.raises(MetricUnavailable, match="too short for STOI"):
        intrusive.estoi(speech[:400], speech[:400])  # 25 ms: pystoi itself would crash
    values = score_module.compute_metrics(["pesq_wb", "stoi"], silence, speech, 16_000, 0.0)
    assert values["pesq_wb"] is None and values["pesq_wb__missing"] == "original is silent"
    assert values["stoi"] is None and values["stoi__missing"] == "original is silent"


def test_a_killed_scoring_run_resumes(tmp_path, opus_tokens, monkeypatch):
    revive = kill_at_the_second_part(monkeypatch)
    tokens = open_tokens(opus_tokens, "opus-6kbps")
    # one cheap metric: the parts and the resume are the same whatever the metrics (model metrics' own cache:
    # tests/test_score_models.py)
    settings = {"metrics": ["stoi"], "workers": 1, "progress": False, "limit": 5, "max_batch": 1, "flush_every": 2}
    with pytest.raises(KeyboardInterrupt):
        score(tokens, tmp_path, **settings)
    work = tmp_path / "opus-6kbps" / ".kodek-work" / "reconstruction"
    assert len(list(work.glob("part-*.parquet"))) == 1
    revive()
    data = score(tokens, tmp_path, **settings)
    table = pq.read_table(tmp_path / "opus-6kbps" / "reconstruction-utterances.parquet")
    assert table.num_rows == 5 and len(set(table["audioname"].to_pylist())) == 5
    assert data["dataset"]["utterances"] == 5 and not work.exists()


def test_random_weight_tokens_are_marked_in_results(tmp_path, sample_test, random_codec):
    codec = random_codec("encodec-24khz-1.5kbps")  # the session's random-weight model (seed 0)
    tokenize(codec, sample_test, tmp_path / "tokens", limit=2, progress=False)
    data = score(open_tokens(tmp_path / "tokens", codec.spec.id), tmp_path / "results", workers=1, progress=False)
    assert data["random_weights"] is True and data["dataset"]["utterances"] == 2
    assert validate(data) == []


def test_missing_codec_or_split_is_named(opus_tokens):
    with pytest.raises(TokensError, match=r"no tokens for codec 'mimi-8'.*opus-6kbps"):
        open_tokens(opus_tokens, "mimi-8")
    with pytest.raises(TokensError, match="no train split for opus-6kbps"):
        open_tokens(opus_tokens, "opus-6kbps").table("train")


def test_every_utterance_is_accounted_for_and_bad_originals_never_score(tmp_path, monkeypatch, tone, sample_test):
    """Silent original, 20 ms clip, unreadable file: counted with stage and reason, never a made-up value."""
    from kodek import results
    from kodek.metrics import random_models

    import conftest

    items = [
        ("good-1", sample_test.dataset[0]["audio"]["bytes"]),
        ("good-2", sample_test.dataset[1]["audio"]["bytes"]),
        ("clip-20ms", conftest.wav_bytes(tone[:320])),
        ("silent", conftest.wav_bytes(np.zeros(16_000, np.float32))),
        ("garbage", b"RIFF not audio at all"),
    ]
    source = conftest.make_source(items)
    monkeypatch.setattr("kodek.data.source.load_source", lambda *args, **kwargs: source)
    tokenize(build_codec("identity-16khz"), source, tmp_path / "tokens", progress=False)
    tokens = open_tokens(tmp_path / "tokens", "identity-16khz")
    asr = str(random_models.ctc_asr(tmp_path / "ctc"))
    data = score(
        tokens,
        tmp_path / "results",
        metrics=["pesq_wb", "stoi", "estoi", "spk_sim", "wer"],
        speaker_model="resemblyzer",
        asr_model=asr,
        workers=1,
        progress=False,
        cache_dir=tmp_path / "cache",
    )
    assert validate(data) == []
    counts = data["failures"]["utterances"]
    assert counts["source"] == 5 and counts["scored"] == 3 and counts["not_scored"] == 2
    assert counts["scored"] + sum(counts["by_stage"].values()) == counts["source"]
    assert counts["by_stage"]["metric"] == 1 and counts["by_stage"]["load"] + counts["by_stage"]["tokenize"] == 1
    stages = {i["audioname"]: (i["stage"], i["reason"]) for i in data["failures"]["items"] if "metric" not in i}
    assert stages["silent"] == ("metric", "original is silent") and stages["garbage"][0] in ("load", "tokenize")
    assert data["dataset"]["utterances"] == 3
    table = {
        r["audioname"]: r
        for r in pq.read_table(tmp_path / "results/identity-16khz/reconstruction-utterances.parquet").to_pylist()
    }
    assert table["silent"]["spk_sim"] is None and table["silent"]["wer"] is None  # no 1.0, no WER counted
    assert table["clip-20ms"]["stoi__missing"].startswith("too short") and table["clip-20ms"]["estoi"] is None
    assert data["metrics"]["spk_sim"]["rec"]["n"] == 2 and data["metrics"]["wer"]["gt"]["n"] == 2
    assert data["metrics"]["wer"]["gt"]["missing"] == 1  # the 20 ms clip: too short to transcribe
    assert data["metrics"]["spk_sim"]["model"] == "resemblyzer"
    assert data["comparability_key"] == results.comparability_key(data["comparability"])
    assert data["comparability"]["speaker_model"].startswith("resemblyzer@")
    assert data["comparability"]["asr_model"].split("@")[1].startswith("local-")


def test_a_resume_with_other_settings_is_refused_naming_the_difference(tmp_path, opus_tokens, monkeypatch):
    revive = kill_at_the_second_part(monkeypatch)
    tokens = open_tokens(opus_tokens, "opus-6kbps")
    with pytest.raises(KeyboardInterrupt):
        score(tokens, tmp_path, metrics=["stoi"], workers=1, progress=False, limit=3, max_batch=1, flush_every=1)
    revive()
    with pytest.raises(score_module.ScoreError, match=r"metrics: \['stoi'\] there, \['pesq_wb', 'stoi'\] now"):
        score(tokens, tmp_path, metrics=["stoi", "pesq_wb"], workers=1, progress=False, limit=3)
    with pytest.raises(score_module.ScoreError, match="normalisation: 'all' there, 'none' now"):
        score(tokens, tmp_path, metrics=["stoi"], normalisation="none", workers=1, progress=False, limit=3)
    with pytest.raises(score_module.ScoreError, match="limit: 3 there, 4 now"):
        score(tokens, tmp_path, metrics=["stoi"], workers=1, progress=False, limit=4)
    data = score(tokens, tmp_path, metrics=["stoi"], workers=1, progress=False, limit=3)
    assert data["metrics"]["stoi"]["rec"]["n"] == 3 and data["comparability"]["partial"] is True


def test_an_unknown_metric_is_one_line_listing_the_valid_names(tmp_path, capsys):
    from kodek.cli import main

    code = main(
        ["score", "--tokens", str(tmp_path), "--codec", "opus-6kbps", "--out", str(tmp_path), "--metrics", "pesq"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "unknown metric 'pesq'" in err and "pesq_wb" in err and "stoi" in err


def test_the_scorer_compensates_a_codec_delay(tmp_path, sample_test, monkeypatch):
    """A codec whose output is its input 20 ms late: delay_ms is 20 and STOI/ESTOI score as the original."""
    import kodek.codecs

    tokenize(build_codec("identity-16khz"), sample_test, tmp_path / "tokens", limit=3, progress=False)

    class Late:
        def __init__(self, codec):
            self.codec, self.spec = codec, codec.spec

        def decode(self, codes, frames):
            waves, lengths = self.codec.decode(codes, frames)
            return np.pad(waves, ((0, 0), (320, 0))), lengths + 320

        def __getattr__(self, name):
            return getattr(self.codec, name)

    real = kodek.codecs.build_codec
    monkeypatch.setattr(kodek.codecs, "build_codec", lambda *args, **kwargs: Late(real(*args, **kwargs)))
    tokens = open_tokens(tmp_path / "tokens", "identity-16khz")
    data = score(tokens, tmp_path / "results", metrics=["stoi", "estoi"], workers=1, progress=False, listen=0)
    assert data["delay_ms"] == pytest.approx(20.0) and data["codec_facts"]["delay"]["agreeing"] == 3
    assert data["metrics"]["stoi"]["rec"]["mean"] >= 0.99 and data["metrics"]["estoi"]["rec"]["mean"] >= 0.99
