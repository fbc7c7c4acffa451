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


def test_failed_predictions_count_at_the_floor_missing_ones_are_left_out(speech):
    ref, _ = speech
    out = load("pesq").compute(predictions=[np.zeros_like(ref), ref], references=[ref, ref])
    assert out["pesq_per_item"][0] is None and out["failed"] == 1 and out["missing"] == 0
    assert out["failed_reasons"] == ["reconstruction is silent"]
    assert out["pesq"] == pytest.approx((1.0 + out["pesq_per_item"][1]) / 2)  # the silent one at PESQ's floor
    silent_reference = load("stoi").compute(predictions=[ref, ref], references=[np.zeros_like(ref), ref])
    assert silent_reference["missing_reasons"] == ["original is silent"] and silent_reference["failed"] == 0
    assert silent_reference["stoi"] == pytest.approx(silent_reference["stoi_per_item"][1])
    wer = load("wer").compute(predictions=["coś"], references=["<unk>"])
    assert wer["wer"] is None and wer["missing"] == 1


def test_the_modules_and_the_scorer_agree_on_the_same_pairs(speech):
    """A late, short reconstruction: the modules and ``kodek score``'s worker give the same numbers."""
    from pesq import pesq as pesq_ref

    from kodek.metrics.modelstage import ModelMetrics, Pair
    from kodek.metrics.pairs import estimate_delay, fit_reconstruction
    from kodek.metrics.score import compute_metrics

    ref, deg = speech
    late = np.concatenate([np.zeros(160, np.float32), deg])[:-4_000]  # 10 ms late, 250 ms lost at the end
    delay = estimate_delay([(ref, late, 16_000)])
    assert delay.ms == pytest.approx(10.0)
    scorer = compute_metrics(["pesq_wb", "pesq_nb", "stoi", "estoi"], ref, late, 16_000, delay.seconds)
    wb = load("pesq").compute(predictions=[late], references=[ref])
    nb = load("pesq").compute(predictions=[late], references=[ref], mode="nb")
    stoi = load("stoi").compute(predictions=[late], references=[ref])
    estoi = load("stoi").compute(predictions=[late], references=[ref], extended=True)
    assert wb["delay_ms"] == pytest.approx(10.0)
    assert wb["pesq"] == pytest.approx(scorer["pesq_wb"], abs=1e-9) and nb["pesq"] == pytest.approx(scorer["pesq_nb"])
    assert stoi["stoi"] == pytest.approx(scorer["stoi"]) and estoi["estoi"] == pytest.approx(scorer["estoi"])
    # Independently: undo the 160 samples by hand, pad the lost end with zeros, call pesq directly.
    by_hand = np.concatenate([late[160:], np.zeros(len(ref) - len(late) + 160, np.float32)])
    assert wb["pesq"] == pytest.approx(pesq_ref(16_000, ref.astype(float), by_hand.astype(float), "wb"), abs=1e-6)
    pytest.importorskip("resemblyzer")
    module = load("speaker_similarity").compute(predictions=[late], references=[ref], model="resemblyzer")
    models = ModelMetrics(["spk_sim"], speaker_model="resemblyzer", use_cache=False)
    prepared = fit_reconstruction(late, 16_000, 16_000, len(ref), delay.seconds)
    assert module["speaker_similarity"] == pytest.approx(models.compute([Pair(ref, prepared, "")])[0]["spk_sim"])


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
