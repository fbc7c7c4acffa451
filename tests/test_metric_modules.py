"""metrics/<name>: evaluate modules over kodek.metrics, loadable offline, with cards whose examples run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from kodek import audio
from kodek.metrics import intrusive, text

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("pesq", "stoi", "speaker_similarity", "wer", "cer", "codec_facts")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # evaluate.load("./metrics/<name>") is a path relative to the checkout


@pytest.fixture(scope="module")
def speech(sample_test):
    ref = audio.load_audio(sample_test.dataset[0]["audio"]["bytes"], 16_000)[0]
    rng = np.random.default_rng(1)
    return ref, (ref + 0.02 * rng.standard_normal(len(ref))).astype(np.float32)


def load(name: str):
    import evaluate

    return evaluate.load(f"./metrics/{name}")


def test_surface_folders_are_thin_and_complete():
    assert not (ROOT / "metrics" / "__init__.py").exists()
    for name in MODULES:
        folder = ROOT / "metrics" / name
        assert {p.name for p in folder.iterdir() if not p.name.startswith(".")} >= {
            f"{name}.py",
            "README.md",
            "app.py",
            "requirements.txt",
        }
        assert not (folder / "__init__.py").exists()
        script = (folder / f"{name}.py").read_text(encoding="utf-8")
        # evaluate's import scanner misreads `import a, b`: one import per line.
        assert not re.search(r"^\s*import [^\n]*,", script, re.M), name
        app = ast.parse((folder / "app.py").read_text(encoding="utf-8"))
        calls = [n.func for n in ast.walk(app) if isinstance(n, ast.Call)]
        assert any(getattr(f, "id", None) == "launch_gradio_widget" for f in calls), name


@pytest.mark.parametrize("name", MODULES)
def test_card_header_is_a_space_config_and_documents_the_metric(name):
    card = (ROOT / "metrics" / name / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert (ROOT / "metrics" / name / header["app_file"]).is_file()
    assert {"evaluate", "metric"} <= set(header["tags"]) and header["title"] and header["description"]
    for section in ("### Inputs", "### Output values", "## Limitations and caveats", "## Citation", "```python"):
        assert section in card, (name, section)


@pytest.mark.parametrize("name", MODULES)
def test_card_examples_run(name, capsys):
    if name == "speaker_similarity":
        pytest.importorskip("resemblyzer")
    card = (ROOT / "metrics" / name / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, f"metrics/{name}/README.md", "exec"), {})
    assert capsys.readouterr().out.strip()  # the examples print their results


def test_pesq_and_stoi_modules_equal_kodek_metrics(speech):
    ref, deg = speech
    pesq = load("pesq").compute(predictions=[deg, ref], references=[ref, ref])
    assert pesq["pesq_per_item"][0] == pytest.approx(intrusive.pesq_wb(ref, deg), abs=1e-6)
    assert pesq["pesq"] == pytest.approx(np.mean(pesq["pesq_per_item"]))
    nb = load("pesq").compute(predictions=[deg], references=[ref], mode="nb")
    r8, d8 = audio.resample(ref, 16_000, 8_000), audio.resample(deg, 16_000, 8_000)
    assert nb["pesq"] == pytest.approx(intrusive.pesq_nb(r8, d8), abs=1e-6)
    stoi = load("stoi")
    assert stoi.compute(predictions=[deg], references=[ref])["stoi"] == pytest.approx(
        intrusive.stoi(ref, deg), abs=1e-6
    )
    estoi = stoi.compute(predictions=[deg], references=[ref], extended=True)["estoi"]
    assert estoi == pytest.approx(intrusive.estoi(ref, deg), abs=1e-6)


def test_missing_values_are_reported_not_averaged(speech):
    ref, _ = speech
    out = load("pesq").compute(predictions=[np.zeros_like(ref), ref], references=[ref, ref])
    assert out["pesq_per_item"][0] is None and out["missing"] == 1 and out["missing_reasons"]
    assert out["pesq"] == pytest.approx(out["pesq_per_item"][1])
    wer = load("wer").compute(predictions=["coś"], references=["<unk>"])
    assert wer["wer"] is None and wer["missing"] == 1


def test_wer_cer_modules_pool_over_the_corpus():
    refs = ["Źrebak sąsiadów biega po łące.", "Tak."]
    hyps = ["zrebak sąsiadów biega po łące", "nie"]
    out = load("wer").compute(predictions=hyps, references=refs)
    assert out["wer"] == pytest.approx(2 / 6)  # 2 errors over 6 reference words: pooled, not the mean of rates
    assert out["wer_mean_per_item"] == pytest.approx((1 / 5 + 1) / 2)
    cer = load("cer").compute(predictions=hyps, references=refs, normalisation="none")
    assert cer["cer_per_item"][0] == pytest.approx(text.cer(refs[0], hyps[0], "none"))
    assert cer["normalisation"] == "none"


def test_evaluate_combine_over_the_modules(speech):
    import evaluate

    ref, deg = speech
    combined = evaluate.combine([load("pesq"), load("stoi")])
    out = combined.compute(predictions=[deg], references=[ref])
    assert isinstance(out, dict) and out["pesq"] > 1 and 0 < out["stoi"] <= 1
    text_metrics = evaluate.combine([load("wer"), load("cer")])
    out = text_metrics.compute(predictions=["ala ma kota"], references=["Ala ma kota."])
    assert out["wer"] == 0.0 and out["cer"] == 0.0


def test_codec_facts_module_returns_a_dict():
    out = load("codec_facts").compute(codes=[[[0, 1, 2, 3], [1, 1, 1, 1]]], durations=[0.08], codebook_size=[4, 2])
    assert isinstance(out, dict) and out["bitrate_bps_measured"] == pytest.approx(50 * 3)
    assert [c["usage"] for c in out["codebooks"]] == [1.0, 0.5]
