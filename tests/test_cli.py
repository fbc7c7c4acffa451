"""The kodek command: messages a user sees."""

from __future__ import annotations

import json

import pytest

from kodek.cli import main


def test_codecs_list_shows_every_codec_with_its_facts(capsys):
    assert main(["codecs", "list"]) == 0
    out = capsys.readouterr().out
    assert "encodec-24khz-6kbps" in out and "needs-weights" in out and "opus-6kbps" in out


def test_codecs_show_prints_the_spec(capsys):
    assert main(["codecs", "show", "opus-6kbps"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["bitrate_bps"] == 6000 and spec["availability"] == "available"


def test_unknown_codec_is_one_clear_line(capsys):
    assert main(["tokenize", "--codec", "encodek-6", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kodek: error: unknown codec id 'encodek-6'") and "Traceback" not in err


def test_unknown_split_and_data_are_named(capsys, tmp_path):
    assert main(["tokenize", "--codec", "opus-6kbps", "--split", "dev", "--out", str(tmp_path)]) == 2
    assert "dev" in capsys.readouterr().err
    assert main(["tokenize", "--codec", "opus-6kbps", "--data", "librispeech", "--out", str(tmp_path)]) == 2
    assert "unknown data 'librispeech'" in capsys.readouterr().err


def test_tokenize_and_score_from_the_command_line(capsys, tmp_path):
    tokens, results = tmp_path / "tokens", tmp_path / "results"
    assert main(["tokenize", "--codec", "identity-16khz", "--out", str(tokens), "--limit", "3"]) == 0
    assert (
        main(["score", "--tokens", str(tokens), "--codec", "identity-16khz", "--out", str(results), "--workers", "1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 utterances encoded" in out and "pesq_wb: 4.6" in out  # lossless: PESQ's ceiling
    data = json.loads((results / "identity-16khz" / "reconstruction.json").read_text())
    assert data["metrics"]["stoi"]["rec"]["mean"] > 0.999


def test_bench_tokenize_reports_pipeline_and_forward_timings(capsys):
    assert main(["bench", "tokenize", "--codec", "opus-6kbps", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["utterances"] == 6 and report["audio_s"] > 10
    assert report["pipeline_wall_s"] > 0 and report["forward_batched_s"] > 0 and report["forward_one_by_one_s"] > 0
    ratio = report["pipeline_wall_s"] / report["forward_batched_s"]
    assert report["pipeline_overhead"] == pytest.approx(ratio, abs=0.02)
    assert report["batched_equals_one_by_one"] == 1.0  # every Opus utterance is encoded on its own
