"""kodek score with the model metrics: GT/REC WER, dWER, speaker similarity, withheld references, no weights."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kodek import audio, files
from kodek.codecs import build_codec
from kodek.metrics import random_models, text
from kodek.metrics.asr import load_asr
from kodek.metrics.score import score
from kodek.metrics.speaker import load_speaker_embedder
from kodek.results.schema import validate
from kodek.tokenize.pipeline import tokenize
from kodek.tokenize.reader import open_tokens

from conftest import kill_at_the_second_part

MODEL_METRICS = ("pesq_wb", "spk_sim", "wer", "cer", "dwer", "dcer")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "speaker": str(random_models.xvector(root / "xvector")),
        "asr": str(random_models.ctc_asr(root / "ctc")),
        "cache": root / "cache",
    }


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, sample_test):
    folder = tmp_path_factory.mktemp("tokens")
    tokenize(build_codec("opus-6kbps"), sample_test, folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tokens, tiny):
    out = tmp_path_factory.mktemp("results")
    data = score(
        open_tokens(tokens, "opus-6kbps"),
        out,
        metrics=MODEL_METRICS,
        asr_model=tiny["asr"],
        speaker_model=tiny["speaker"],
        cache_dir=tiny["cache"],
        workers=2,
        progress=False,
    )
    return out, data


def test_gt_and_rec_values_equal_a_direct_recomputation(scored, tokens, tiny, sample_test):
    out, data = scored
    assert validate(data) == []
    table = pq.read_table(out / "opus-6kbps" / "reconstruction-utterances.parquet").to_pylist()
    codec = build_codec("opus-6kbps")
    tokenset = open_tokens(tokens, "opus-6kbps")
    meta, codes = tokenset.codes("test")
    names, refs = meta["audioname"].to_pylist(), meta["ref_orig"].to_pylist()
    originals = {row["audioname"]: row for row in sample_test.dataset}
    asr, embedder = load_asr(tiny["asr"]), load_speaker_embedder(tiny["speaker"])
    for row in table[:2]:
        i = names.index(row["audioname"])
        wave, lengths = codec.decode(codes[i][None], np.array([codes[i].shape[1]]))
        orig, _ = audio.load_audio(originals[row["audioname"]]["audio"]["bytes"], 16_000)
        rec = audio.fit_length(wave[0, : lengths[0]], len(orig))
        hyp_orig, hyp_rec = asr.transcribe([orig])[0], asr.transcribe([rec])[0]
        assert (row["transcript_orig"], row["transcript_rec"]) == (hyp_orig, hyp_rec)
        assert row["wer__gt"] == pytest.approx(text.wer(refs[i], hyp_orig))
        assert row["wer"] == pytest.approx(text.wer(refs[i], hyp_rec))
        assert row["cer__gt"] == pytest.approx(text.cer(refs[i], hyp_orig))
        assert row["wer__len"] == len(text.normalise(refs[i]).split())
        if text.normalise(hyp_orig):
            assert row["dwer"] == pytest.approx(text.wer(hyp_orig, hyp_rec))
        a, b = (np.array(e) for e in embedder.embed([orig, rec]))
        assert row["spk_sim"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-5)
    wer = data["metrics"]["wer"]
    assert set(wer) >= {"gt", "rec", "model", "normalisation"} and wer["normalisation"] == "all"
    values = [r["wer"] for r in table if r["wer"] is not None]
    lengths = [r["wer__len"] for r in table if r["wer"] is not None]
    assert wer["rec"]["mean"] == pytest.approx(np.mean(values))
    assert wer["rec"]["pooled"] == pytest.approx(np.dot(values, lengths) / np.sum(lengths))
    assert data["models"]["asr"]["id"] == tiny["asr"] and data["models"]["speaker"]["available"] is True
    assert data["normalisation"] == "all" and data["metrics"]["dwer"]["conditions"] == ["rec"]
    facts = data["codec_facts"]
    assert facts["encode_rtf"] > 0 and facts["decode_rtf"] > 0 and len(facts["codebooks"]) == 15
    assert 0 < facts["codebook_usage_mean"] <= 1


def test_withheld_references_leave_gt_rec_wer_missing_and_dwer_computed(tmp_path, tokens, tiny):
    import shutil

    copy = tmp_path / "tokens"
    shutil.copytree(tokens, copy)
    for part in (copy / "data" / "opus-6kbps").glob("test-*.parquet"):
        table = pq.read_table(part)
        blank = pa.array([""] * table.num_rows, pa.string())
        files.write_table(table.set_column(table.schema.get_field_index("ref_orig"), "ref_orig", blank), part)
    data = score(
        open_tokens(copy, "opus-6kbps"),
        tmp_path / "results",
        metrics=("wer", "dwer"),
        asr_model=tiny["asr"],
        cache_dir=tiny["cache"],
        workers=1,
        progress=False,
    )
    n = data["dataset"]["utterances"]
    assert data["dataset"]["references_withheld"] == n
    for condition in ("gt", "rec"):
        assert data["metrics"]["wer"][condition]["n"] == 0 and data["metrics"]["wer"][condition]["missing"] == n
    assert data["failures"]["by_reason"]["wer: reference withheld"] == n
    dwer = data["metrics"]["dwer"]["rec"]
    assert dwer["n"] + dwer["missing"] == n and dwer["n"] > 0


def test_unreachable_models_are_missing_with_a_reason_not_a_crash(tmp_path, tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = score(
        open_tokens(tokens, "opus-6kbps"),
        tmp_path,
        metrics=("stoi", "spk_sim", "wer"),
        workers=1,
        progress=False,
        limit=2,
    )
    assert validate(data) == []
    assert data["metrics"]["stoi"]["rec"]["n"] == 2  # the CPU metrics still run
    assert "available" not in data["metrics"]["stoi"] and "why" not in data["metrics"]["stoi"]
    for name, model in (("spk_sim", "microsoft/wavlm-base-plus-sv"), ("wer", "openai/whisper-large-v3")):
        entry = data["metrics"][name]
        assert entry["available"] is False and entry["why"].startswith(f"not available: weights for {model}@")
        assert {k: entry["rec"][k] for k in ("mean", "n", "missing")} == {"mean": None, "n": 0, "missing": 2}
    assert data["models"]["asr"] == {
        "id": "openai/whisper-large-v3",
        "available": False,
        "why": data["metrics"]["wer"]["why"],
    }
    table = pq.read_table(tmp_path / "opus-6kbps" / "reconstruction-utterances.parquet")
    assert table["spk_sim"].null_count == 2 and table["wer__gt__missing"].to_pylist()[0].startswith("not available")


def test_a_killed_run_with_model_metrics_resumes_from_the_cache(tmp_path, tokens, tiny, monkeypatch):
    revive = kill_at_the_second_part(monkeypatch)
    arguments = {
        "metrics": ("spk_sim", "wer"),
        "asr_model": tiny["asr"],
        "speaker_model": tiny["speaker"],
        "cache_dir": tmp_path / "cache",
        "workers": 1,
        "progress": False,
        "limit": 4,
        "max_batch": 1,
        "flush_every": 2,
    }
    tokenset = open_tokens(tokens, "opus-6kbps")
    with pytest.raises(KeyboardInterrupt):
        score(tokenset, tmp_path / "results", **arguments)
    revive()
    data = score(tokenset, tmp_path / "results", **arguments)
    table = pq.read_table(tmp_path / "results" / "opus-6kbps" / "reconstruction-utterances.parquet")
    assert table.num_rows == 4 and len(set(table["audioname"].to_pylist())) == 4
    assert data["run"]["resumed_utterances"] == 2 and data["metrics"]["wer"]["gt"]["n"] == 4


def test_the_default_metric_set_is_everything(tmp_path, tokens, monkeypatch):
    from kodek.metrics.registry import DEFAULT_METRICS, METRICS

    assert (
        set(DEFAULT_METRICS)
        == set(METRICS)
        == {
            "pesq_wb",
            "pesq_nb",
            "stoi",
            "estoi",
            "mel_distance",
            "spk_sim",
            "wer",
            "cer",
            "dwer",
            "dcer",
        }
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = score(open_tokens(tokens, "opus-6kbps"), tmp_path, workers=1, progress=False, limit=1)
    assert set(data["metrics"]) == set(METRICS) and validate(data) == []
    assert data["metrics"]["mel_distance"]["rec"]["n"] == 1 and data["metrics"]["pesq_nb"]["rec"]["n"] == 1


def test_bench_score_reports_speeds_efficiency_and_a_projection(tiny):
    from kodek.metrics.bench import bench_score

    report = bench_score(
        repeat_data=1, speaker_model=tiny["speaker"], repeat=1, target_utterances=1000, target_hours=2.0
    )
    assert report["utterances"] == 6 and report["metrics"] == ["pesq_wb", "stoi", "spk_sim"]
    assert report["speaker_model"].startswith(tiny["speaker"])
    cores = report["cores"]
    assert report[f"scorer_{cores}_workers_utt_per_s"] > 0 and report["scorer_1_worker_utt_per_s"] > 0
    assert report["scorer_parallel_efficiency"] == pytest.approx(
        report["scorer_1_worker_s"] / report[f"scorer_{cores}_workers_s"] / cores, rel=0.02
    )
    per_utterance = report[f"scorer_{cores}_workers_s"] / report["utterances"]
    assert report["projected_h_from_utterance_rate"] == pytest.approx(1000 * per_utterance / 3600, rel=0.02, abs=0.01)
