"""SpeechLLM (kodek.lm) with the tiny random LLM: masks, splicing, stacking, PPL/BPC, training, resume, results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from kodek import files
from kodek.codecs.spec import CodecSpec
from kodek.lm import checkpoint as ckpt
from kodek.lm.adapter import stack_frames
from kodek.lm.config import ConfigError, load_config, stack_factor, windows
from kodek.lm.metrics import bits_per_char, perplexity
from kodek.lm.model import collate
from kodek.lm.session import open_session
from kodek.tokenize import layout

TOY_ID = "toy-4x8"
LEADERBOARD_APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
# Four Polish sentences; every utterance's codes say which one it is.
SENTENCES = ["ala ma kota", "dzień dobry wszystkim", "jutro będzie padać", "gdzie jest dworzec"]


def tiny_config(**overrides):
    base = {
        "llm.id": "tiny-random",
        "llm.dtype": "float32",
        "adapter.embed_dim": 32,
        "adapter.projector_hidden": 64,
        "adapter.dropout": 0.0,
        "training.batch_size": 4,
        "training.global_batch": 4,
        "training.lr": 0.01,
        "training.warmup_steps": 2,
        "training.max_epochs": 100,
        "training.eval_every": 5,
        "eval.batch_size": 8,
        "eval.max_new_tokens": 12,
    }
    config = load_config(None, {**base, **overrides})
    config.name = "tiny"
    return config


def write_toy_tokens(root, *, per_split=(24, 8, 8), frame_rate=12.5, seed=0):
    """A token dataset whose codes determine the transcript: sentence i <-> code pattern i (plus noise)."""
    spec = CodecSpec(
        id=TOY_ID,
        family="toy",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=frame_rate,
        num_codebooks=2,
        codebook_size=8,
        checkpoint=None,
        license="CC0",
    )
    rng = np.random.default_rng(seed)
    meta = {
        "codec": spec.to_dict(),
        "random_weights": False,
        "seed": 0,
        "source": {"name": "toy", "config": None, "revision": None},
    }
    folder = layout.codec_dir(root, TOY_ID)
    folder.mkdir(parents=True)
    files.write_json(folder / "codec.json", meta)
    for split, count in zip(("train", "validation", "test"), per_split, strict=True):
        rows, codes = [], []
        for index in range(count):
            which = index % len(SENTENCES)
            frames = int(rng.integers(6, 14))
            item = np.full((2, frames), 2 * which, dtype=np.int64)
            item[1] = 2 * which + 1
            item[:, rng.integers(0, frames)] = rng.integers(0, 8, size=2)  # one noisy frame
            codes.append(item)
            rows.append(
                {
                    "audioname": f"toy-{split}-{index:03d}",
                    "dataset": f"toy-{which % 2}",
                    "split": split,
                    "ref_orig": SENTENCES[which],
                    "duration_s": frames / frame_rate,
                    "num_frames": frames,
                }
            )
        table = pa.Table.from_pylist(rows).append_column("codes", layout.codes_to_arrow(codes, "uint8"))
        files.write_table(table.cast(layout.schema("uint8")), layout.shard_path(root, TOY_ID, split, 0, 1))
    return root


@pytest.fixture(scope="module")
def toy_tokens(tmp_path_factory):
    return write_toy_tokens(tmp_path_factory.mktemp("toy-tokens"))


@pytest.fixture(scope="module")
def session(toy_tokens):
    return open_session(tiny_config(), str(toy_tokens), TOY_ID)


@pytest.mark.parametrize(
    ("frame_rate", "factor"),
    [(75, 6), (50, 4), (12.5, 1), (25, 2), (40, 3), (150, 12), (62.5, 5), (16_000, 1280), (8000 / 60, 11)],
)
def test_frames_are_stacked_to_an_80_ms_window(frame_rate, factor):
    assert stack_factor(frame_rate, 80.0) == factor


def test_the_last_partial_window_is_padded_never_dropped():
    assert [windows(n, 6) for n in (1, 6, 7, 12, 13)] == [1, 1, 2, 2, 3]
    frames = torch.arange(2 * 7 * 2, dtype=torch.float32).reshape(2, 7, 2) + 1
    stacked, counts = stack_frames(frames, torch.tensor([7, 4]), 3)
    assert stacked.shape == (2, 3, 6) and counts.tolist() == [3, 2]
    # Item 0: frame 6 starts the third window, the rest of it is zeros.
    assert stacked[0, 2].tolist() == [*frames[0, 6].tolist(), 0, 0, 0, 0]
    # Item 1 has 4 frames: frames 4.. (batch padding) are zeros, whatever the tensor held there.
    assert stacked[1, 1].tolist() == [*frames[1, 3].tolist(), 0, 0, 0, 0]
    assert stacked[1, 2].abs().sum() == 0


def test_labels_cover_only_the_transcript_and_the_end_token_and_audio_sits_after_the_prompt(session):
    split = session.load("train", limit=3)
    layout_ = session.layout
    batch = collate(split.utterances, layout_, session.factor)
    tokenizer = session.llm.tokenizer
    for row, utterance in enumerate(split.utterances):
        prefix, suffix = len(layout_.prefix_ids), len(layout_.suffix_ids)
        count = windows(utterance.frames, session.factor)
        assert batch.text_ids[row, :prefix].tolist() == layout_.prefix_ids
        audio = batch.audio_mask[row].nonzero().flatten().tolist()
        assert audio == list(range(prefix, prefix + count))
        answer_at = prefix + count + suffix
        assert batch.text_ids[row, prefix + count : answer_at].tolist() == layout_.suffix_ids
        labelled = (batch.labels[row] != -100).nonzero().flatten().tolist()
        assert labelled == list(range(answer_at, answer_at + len(utterance.answer_ids)))
        answer = batch.labels[row, labelled].tolist()
        assert answer[-1] == layout_.end_id
        assert tokenizer.decode(answer[:-1]) == utterance.text
        assert batch.attention_mask[row].sum() == answer_at + len(answer)
    # The prompt is the LLM's chat template around the instruction.
    prompt = tokenizer.decode(layout_.prefix_ids + layout_.suffix_ids)
    assert "<|im_start|>user" in prompt and session.config.prompt.instruction in prompt
    assert prompt.rstrip().endswith("<|im_start|>assistant")


def test_projected_audio_replaces_the_placeholder_positions_in_the_input_embeddings(session):
    split = session.load("train", limit=2)
    model = session.model(session.new_adapter(split))
    batch = collate(split.utterances, session.layout, session.factor)
    embeds = model.embed(batch)
    audio, counts = model.adapter(batch.inputs, batch.frames)
    text = model.base.get_input_embeddings()(batch.text_ids)
    for row in range(2):
        at = batch.audio_mask[row]
        torch.testing.assert_close(embeds[row, at], audio[row, : counts[row]])
        torch.testing.assert_close(embeds[row, ~at], text[row, ~at])


def test_summed_nll_ppl_and_bpc_match_a_hand_computation(session):
    split = session.load("test")
    model = session.model(session.new_adapter(split))
    batch = collate(split.utterances, session.layout, session.factor)
    with torch.no_grad():
        sums = model.nll_sums(batch)
        positions = (batch.attention_mask.cumsum(1) - 1).clamp(min=0)
        logits = model.llm(
            inputs_embeds=model.embed(batch), attention_mask=batch.attention_mask, position_ids=positions
        ).logits
    logp = torch.log_softmax(logits.double(), dim=-1)
    for row in range(len(split.utterances)):
        hand = 0.0
        for position in range(1, batch.labels.shape[1]):
            label = int(batch.labels[row, position])
            if label != -100:
                hand -= float(logp[row, position - 1, label])
        assert float(sums[row]) == pytest.approx(hand, rel=1e-4)
        # One utterance alone scores as it does in the padded batch.
        with torch.no_grad():
            alone = model.nll_sums(collate([split.utterances[row]], session.layout, session.factor))
        assert float(alone[0]) == pytest.approx(float(sums[row]), rel=1e-4)
    total, tokens = float(sums.double().sum()), int(batch.tokens.sum())
    chars = sum(len(u.text) for u in split.utterances)
    assert perplexity(total, tokens) == pytest.approx(math.exp(total / tokens))
    assert bits_per_char(total, chars) == pytest.approx(total / math.log(2) / chars)
    # Not a mean of per-utterance perplexities.
    per_utterance = [math.exp(float(s) / len(u.answer_ids)) for s, u in zip(sums, split.utterances, strict=True)]
    assert perplexity(total, tokens) != pytest.approx(float(np.mean(per_utterance)), rel=1e-6)


def test_only_the_adapter_receives_gradients(session):
    split = session.load("train", limit=4)
    model = session.model(session.new_adapter(split))
    batch = collate(split.utterances, session.layout, session.factor)
    model.nll_sums(batch).sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in model.llm.parameters())
    grads = [p.grad for p in model.adapter.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.adapter.parameters()}


def test_lora_ablation_trains_adapter_and_lora_layers_only(toy_tokens):
    config = tiny_config(**{"lora.enabled": True, "lora.target_modules": ["q_proj", "v_proj"]})
    session = open_session(config, str(toy_tokens), TOY_ID)
    split = session.load("train", limit=2)
    model = session.model(session.new_adapter(split), lora=True)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("adapter.") or "lora_" in n for n in names)
    assert any("lora_" in n for n in names)
    state = ckpt.trainable_state(model)
    assert any(k.startswith("lora.") for k in state) and not any("embed_tokens" in k for k in state)


@pytest.fixture(scope="module")
def trained_run(toy_tokens, tmp_path_factory):
    from kodek.lm.evaluation import evaluate
    from kodek.lm.train import train

    config = tiny_config(**{"training.max_steps": 60, "training.patience": 4})
    session = open_session(config, str(toy_tokens), TOY_ID)
    run = tmp_path_factory.mktemp("runs") / "toy"
    report = train(session, run, progress=False)
    results = tmp_path_factory.mktemp("results")
    data = evaluate(session, run, results, progress=False)
    return session, run, report, results, data


def test_training_makes_the_toy_transcripts_far_more_likely_than_the_init_adapter(trained_run):
    _, run, report, results, data = trained_run
    ppl, bpc = data["metrics"]["ppl"], data["metrics"]["bpc"]
    assert ppl["trained"] < 0.5 * ppl["init"], ppl
    assert bpc["trained"] < bpc["init"]
    assert report.best_validation_nll < report.history[0]["validation_nll"]
    assert (run / ckpt.INIT_FILE).is_file() and (run / ckpt.BEST_FILE).is_file()
    assert json.loads((run / ckpt.RUN_FILE).read_text())["status"] == "finished"
    # Per-utterance NLL sums are in the table beside the results; the corpus PPL is their ratio.
    table = pa.parquet.read_table(results / TOY_ID / "speechllm-tiny-utterances.parquet")
    nll, tokens = np.array(table["nll_trained"]), np.array(table["tokens"])
    assert ppl["trained"] == pytest.approx(math.exp(nll.sum() / tokens.sum()))


def test_results_validate_and_the_leaderboard_renders_them(trained_run):
    from kodek.leaderboard import tables
    from kodek.results.loading import load_results

    _, _, _, results, data = trained_run
    loaded = load_results(results)
    assert loaded.rejected == [] and [r["task"] for r in loaded.results] == ["speechllm"]
    assert data["llm"]["id"] == "tiny-random" and data["llm"]["revision"]
    assert data["random_weights"] is True  # the tiny LLM: a pipeline check, never a score
    assert set(data["by_subset"]) == {"toy-0", "toy-1"}
    # Greedy CER/WER pool all edits over all reference units, as jiwer does over the whole corpus.
    import jiwer

    from kodek.metrics.text import normalise

    table = pa.parquet.read_table(results / TOY_ID / "speechllm-tiny-utterances.parquet").to_pydict()
    for condition in ("prior", "init", "trained"):
        refs = [normalise(t) for t in table["ref_orig"]]
        hyps = [normalise(h) for h in table[f"hyp_{condition}"]]
        assert data["metrics"]["cer"][condition] == pytest.approx(jiwer.cer(refs, hyps))
        assert data["metrics"]["wer"][condition] == pytest.approx(jiwer.wer(refs, hyps))
    board = tables.speechllm_board(loaded.results, "tiny-random")
    # The study's cell is 'initial / fine-tuned'; the value ranked is the fine-tuned one.
    assert board.values.loc[TOY_ID, "PPL ↓ initial / fine-tuned"] == pytest.approx(data["metrics"]["ppl"]["trained"])
    assert board.values.loc[TOY_ID, "BPC prior (no audio)"] == pytest.approx(data["metrics"]["bpc"]["prior"])


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(toy_tokens, tmp_path):
    from kodek.lm.train import train

    config = tiny_config(**{"training.max_steps": 12, "training.eval_every": 4})
    session = open_session(config, str(toy_tokens), TOY_ID)

    class Killed(Exception):
        pass

    def kill_at(step):
        if step == 6:
            raise Killed

    with pytest.raises(Killed):
        train(session, tmp_path / "killed", progress=False, on_step=kill_at, save_every=2)
    assert json.loads((tmp_path / "killed" / ckpt.RUN_FILE).read_text())["status"] == "running"
    resumed = train(session, tmp_path / "killed", progress=False)
    assert resumed.resumed_from == 6 and resumed.steps == 12
    whole = train(session, tmp_path / "whole", progress=False)
    assert [h["validation_nll"] for h in resumed.history] == pytest.approx(
        [h["validation_nll"] for h in whole.history], rel=1e-5
    )
    a, _ = ckpt.load_weights(tmp_path / "killed" / ckpt.BEST_FILE)
    b, _ = ckpt.load_weights(tmp_path / "whole" / ckpt.BEST_FILE)
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    # A finished run is not trained again; another config in the same folder is refused.
    assert train(session, tmp_path / "whole", progress=False).status == "already finished"
    other = open_session(tiny_config(**{"training.lr": 0.02}), str(toy_tokens), TOY_ID)
    with pytest.raises(Exception, match="another config"):
        train(other, tmp_path / "whole", progress=False)


def test_eval_refuses_an_unfinished_run_and_weights_of_another_codec(trained_run, tmp_path):
    from kodek.lm.evaluation import EvalError, evaluate

    session, run, *_ = trained_run
    (tmp_path / "run").mkdir()
    ckpt.write_run(tmp_path / "run", {"status": "running"})
    with pytest.raises(EvalError, match="has not finished"):
        evaluate(session, tmp_path / "run", tmp_path / "out", progress=False)
    _state, meta = ckpt.load_weights(run / ckpt.BEST_FILE)
    with pytest.raises(ckpt.CheckpointError, match="trained for codec toy-4x8"):
        ckpt.check_weights_meta(meta, codec_id="other", llm_id="tiny-random", llm_revision=None, where=run)


def test_config_files_unknown_keys_and_overrides():
    config = load_config("tiny-test", {"training.max_steps": 7})
    assert config.name == "tiny-test" and config.llm.id == "tiny-random" and config.training.max_steps == 7
    default = load_config("bielik-1.5b")
    assert default.llm.id == "speakleash/Bielik-1.5B-v3.0-Instruct" and default.adapter.window_ms == 80
    with pytest.raises(ConfigError, match=r"unknown key.*learning_rate"):
        load_config(None, {"training.learning_rate": 1e-3})
    with pytest.raises(ConfigError, match="no config 'nope'"):
        load_config("nope")


def test_speech_only_lm_bits_per_second_and_its_baselines(toy_tokens, tmp_path):
    from kodek.lm.speech_lm import load_chunks, train_and_score, unigram_bits
    from kodek.tokenize.reader import open_tokens

    tokens = open_tokens(toy_tokens, TOY_ID)
    config = tiny_config(
        **{"speech_lm.dim": 32, "speech_lm.layers": 1, "speech_lm.heads": 2, "speech_lm.max_steps": 40,
           "speech_lm.eval_every": 10, "speech_lm.lr": 0.01, "speech_lm.context_s": 0.4}
    )  # fmt: skip
    data = train_and_score(tokens, tmp_path, config, progress=False)
    bps = data["metrics"]["bits_per_second"]
    test = load_chunks(tokens, "test", 5)
    frames = sum(c.shape[1] for c in test.codes)
    assert frames == sum(u["num_frames"] for u in test.utterances)  # chunks (of <= 5 frames) drop nothing
    assert bps["uniform"] == pytest.approx(2 * 3 * frames / test.seconds)  # 2 codebooks of 8 codes: 6 bits
    # The unigram baseline against a direct count.
    train = load_chunks(tokens, "train", 5)
    bits = 0.0
    for k in range(2):
        counts = np.ones(8) + np.bincount(np.concatenate([c[k] for c in train.codes]), minlength=8)
        bits -= np.log2(counts / counts.sum())[np.concatenate([c[k] for c in test.codes])].sum()
    assert unigram_bits(train, test, (8, 8)) == pytest.approx(bits)
    assert bps["unigram"] == pytest.approx(bits / test.seconds)
    # Toy codes are nearly constant within an utterance: the trained LM beats the unigram model.
    assert bps["trained"] < bps["unigram"] < bps["uniform"]
    assert (tmp_path / TOY_ID / "speech_lm.json").is_file()


def test_lm_commands_on_the_bundled_sample_tokens_and_the_leaderboard_page(tmp_path, monkeypatch):
    """kodek tokenize (3 splits), lm train, lm eval, lm speech and bench lm with the tiny LLM, offline."""
    from streamlit.testing.v1 import AppTest

    from kodek.cli import main
    from leaderboard_fixtures import html_texts, shown_tables

    codec = "codec2-1600"
    tokens, runs, results = tmp_path / "tokens", tmp_path / "runs", tmp_path / "results"
    for split in ("train", "validation", "test"):
        assert main(["tokenize", "--codec", codec, "--data", "sample", "--split", split, "--out", str(tokens)]) == 0
    common = ["--codec", codec, "--tokens", str(tokens), "--config", "tiny-test", "--quiet"]
    assert main(["lm", "train", *common, "--runs", str(runs), "--set", "training.max_steps=6"]) == 0
    assert (runs / codec / "tiny-test" / ckpt.BEST_FILE).is_file()
    assert (
        main(["lm", "eval", *common, "--runs", str(runs), "--set", "training.max_steps=6", "--out", str(results)]) == 0
    )
    assert main(["lm", "speech", *common, "--out", str(results), "--set", "speech_lm.max_steps=4"]) == 0
    data = json.loads((results / codec / "speechllm-tiny-test.json").read_text())
    assert data["dataset"]["name"] == "sample" and data["dataset"]["utterances"] == 6
    assert data["adapter"]["stack_factor"] == 2  # 25 Hz x 80 ms
    assert all(data["metrics"][m][c] > 0 for m in ("ppl", "bpc") for c in ("prior", "init", "trained"))
    speech = json.loads((results / codec / "speech_lm.json").read_text())
    assert speech["metrics"]["bits_per_second"]["uniform"] == pytest.approx(1600, rel=0.02)  # the bitrate

    # Another config in the same run folder is refused with a message, not a traceback.
    assert main(["lm", "train", *common, "--runs", str(runs), "--set", "training.lr=0.5"]) == 2

    # The page: the tiny LLM's run (random weights) is a pipeline check, never on the SpeechLLM board; the
    # speech-only LM (trained here on real codec2 codes) is a measurement, on the synthetic sample ...
    monkeypatch.setenv("KODEK_RESULTS", str(results))
    app = AppTest.from_file(str(LEADERBOARD_APP), default_timeout=60)
    app.query_params["view"] = "SpeechLLM"
    app.run()
    assert not app.exception
    assert any("No SpeechLLM results yet" in i.value for i in app.info)
    assert any("synthetic data" in t for t in html_texts(app))
    assert list(shown_tables(app)[0]["Codec"]) == [codec]
    # ... and the same files from a real LLM would render on both boards.
    real = tmp_path / "as-if-real"
    for name in ("speechllm-tiny-test.json", "speech_lm.json"):
        content = json.loads((results / codec / name).read_text())
        content["random_weights"] = False
        (real / codec).mkdir(parents=True, exist_ok=True)
        (real / codec / name).write_text(json.dumps(content))
    monkeypatch.setenv("KODEK_RESULTS", str(real))
    app = AppTest.from_file(str(LEADERBOARD_APP), default_timeout=60)
    app.query_params["view"] = "SpeechLLM"
    app.run()
    assert not app.exception
    llm_table, speech_table = shown_tables(app)[:2]
    assert list(llm_table["Codec"]) == [codec]
    ppl = data["metrics"]["ppl"]
    shown = llm_table["PPL ↓ initial / fine-tuned"].iloc[0]
    initial, fine_tuned = (float(part.strip(" ★").replace(",", "")) for part in shown.split(" / "))
    assert (initial, fine_tuned) == pytest.approx((ppl["init"], ppl["trained"]), rel=5e-3), shown
    bps = speech["metrics"]["bits_per_second"]
    assert float(str(speech_table["bits/s ↓ unigram"].iloc[0]).strip(" ★").replace(",", "")) == pytest.approx(
        bps["unigram"], rel=5e-3
    )


def test_bench_lm_reports_throughput_the_adapter_overhead_memory_and_a_projection(toy_tokens, capsys):
    from kodek.cli import main

    args = ["bench", "lm", "--codec", TOY_ID, "--tokens", str(toy_tokens), "--config", "tiny-test", "--json"]
    assert main([*args, "--repeat", "1", "--train-hours", "100"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{\n") :])  # libraries may print a line of their own first
    assert report["adapter_step_s"] > 0 and report["llm_forward_backward_s"] > 0
    assert report["adapter_overhead"] == pytest.approx(
        report["adapter_step_s"] / report["llm_forward_backward_s"], rel=0.01
    )
    # tokens/s and utterances/s of both, on the same batch: their ratio is the overhead.
    assert report["llm_tokens_per_s"] / report["adapter_tokens_per_s"] == pytest.approx(
        report["adapter_overhead"], rel=0.01
    )
    assert report["adapter_utterances_per_s"] == pytest.approx(
        report["batch_utterances"] / report["adapter_step_s"], rel=0.01
    )
    assert report["peak_memory_mb"] > 0 and report["peak_memory_of"] == "process RSS"
    assert report["batch_audio_s"] > 0 and report["adapter_audio_s_per_s"] > 0 and report["stack_factor"] == 1
    # The projection: the train split's LLM positions (prompt + audio windows + answer), counted independently,
    # scaled to 100 hours, over the measured positions per second.
    config = load_config("tiny-test")
    session = open_session(config, str(toy_tokens), TOY_ID)
    split = session.load("train")
    prompt = len(session.layout.prefix_ids) + len(session.layout.suffix_ids)
    positions = sum(prompt + u.frames + len(u.answer_ids) for u in split.utterances)  # 12.5 Hz: 1 frame/window
    assert report["train_split_tokens"] == positions
    hours = sum(u.duration_s for u in split.utterances) / 3600
    expected = positions * (100 / hours) / report["adapter_tokens_per_s"]
    assert report["projected_epoch_s"] == pytest.approx(expected, rel=0.01)
    assert report["projected_max_epochs_s"] == pytest.approx(expected * config.training.max_epochs, rel=0.01)
