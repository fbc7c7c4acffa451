"""SpeechLLM runs as a GPU allocation makes them (tiny LLM, CPU): checkpointing, schedule, configs, eval, files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from kodek.lm import checkpoint as ckpt
from kodek.lm.config import ConfigError, TrainingConfig, batch_plan, load_config
from kodek.lm.session import open_session
from test_lm import TOY_ID, tiny_config, write_toy_tokens

ROOT = Path(__file__).resolve().parents[1]
# 24 train utterances in micro-batches of 4 = 6 steps an epoch; max_epochs stops the run long before max_steps.
RUN = {"training.max_epochs": 1, "training.max_steps": 1000, "training.eval_every": 3, "training.warmup_steps": 1}


@pytest.fixture(scope="module")
def toy_tokens(tmp_path_factory):
    return write_toy_tokens(tmp_path_factory.mktemp("toy-tokens"))


@pytest.fixture(scope="module")
def finished(toy_tokens, tmp_path_factory):
    """A trained and evaluated run, written under the usual umask 022."""
    from kodek.lm.evaluation import evaluate
    from kodek.lm.train import train

    previous = os.umask(0o022)
    try:
        session = open_session(tiny_config(**RUN), str(toy_tokens), TOY_ID)
        run, results = tmp_path_factory.mktemp("run") / "toy", tmp_path_factory.mktemp("results")
        train(session, run, progress=False)
        data = evaluate(session, run, results, progress=False)
    finally:
        os.umask(previous)
    return session, run, results, data


def test_the_lr_schedule_is_planned_for_the_steps_max_epochs_allows(finished):
    _, run, _, _ = finished
    summary = json.loads((run / ckpt.RUN_FILE).read_text())["summary"]
    assert summary["steps"] == 6 and summary["total_steps_planned"] == 6
    last = [json.loads(line) for line in (run / ckpt.HISTORY_FILE).read_text().splitlines()][-1]
    assert last["step"] == 6 and last["lr"] == pytest.approx(0.1 * 0.01)  # the cosine reached its floor


def test_the_global_batch_must_divide_over_processes_and_micro_batches():
    assert batch_plan(TrainingConfig(global_batch=32, batch_size=8), 2) == 2
    with pytest.raises(ConfigError, match="cannot be split over 3 process"):
        batch_plan(TrainingConfig(global_batch=32, batch_size=8), 3)
    with pytest.raises(ConfigError, match=r"not a multiple of training\.batch_size"):
        load_config(None, {"training.global_batch": 6, "training.batch_size": 4})


def test_gradient_checkpointing_recomputes_the_llm_layers_in_training(toy_tokens, tmp_path):
    """transformers only checkpoints a module in training mode: count the recomputed layer calls of real steps."""
    from kodek.lm.train import train

    counts = {}
    for checkpointing in (False, True):
        config = tiny_config(**{"llm.gradient_checkpointing": checkpointing, "training.max_steps": 2})
        session = open_session(config, str(toy_tokens), TOY_ID)
        layers = session.llm.model.model.layers
        calls: list[int] = []

        def count(*_, calls=calls) -> None:
            if torch.is_grad_enabled():
                calls.append(1)

        for layer in layers:  # a layer's inner modules run again when the backward pass recomputes it
            layer.self_attn.register_forward_pre_hook(count)
        train(session, tmp_path / str(checkpointing), progress=False)
        counts[checkpointing] = len(calls)
    assert counts[False] == 2 * len(layers)  # 2 steps of one micro-batch
    assert counts[True] == 2 * counts[False]


def test_checkpointed_training_keeps_the_llms_own_dropout_off(toy_tokens):
    from kodek.lm.train import training_mode

    session = open_session(tiny_config(**{"llm.gradient_checkpointing": True}), str(toy_tokens), TOY_ID)
    split = session.load("train", limit=4)
    model = session.model(session.new_adapter(split))
    for layer in model.base.model.layers:
        layer.self_attn.attention_dropout = 0.5  # would change every forward if it were active
    batch = session.batch(split, [0, 1, 2, 3])
    training_mode(model, True)
    assert all(layer.training for layer in model.base.model.layers)
    trained = model.nll_sums(batch)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(trained.detach(), model.nll_sums(batch), rtol=0, atol=0)


def test_the_prior_condition_is_the_llm_on_the_prompt_alone(finished):
    """nll_prior against the LLM's own forward on the chat template rendered without audio (no adapter)."""
    session, _, results, _ = finished
    tokenizer, llm = session.llm.tokenizer, session.llm.model
    table = pq.read_table(results / TOY_ID / "speechllm-tiny-utterances.parquet").to_pydict()
    user = [{"role": "user", "content": session.config.prompt.instruction + "\n"}]
    for text, nll in zip(table["ref_orig"], table["nll_prior"], strict=True):
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": text}], tokenize=False)
        start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        end = ids.index(tokenizer.convert_tokens_to_ids("<|im_end|>"), start) + 1  # the answer and its end
        with torch.no_grad():
            logp = torch.log_softmax(llm(torch.tensor([ids[:end]])).logits[0].double(), dim=-1)
        expected = -sum(float(logp[i - 1, ids[i]]) for i in range(start, end))
        assert nll == pytest.approx(expected, rel=1e-4)


def test_eval_refuses_another_config_names_it_and_never_rewrites_the_run(finished, tmp_path):
    from kodek.lm.evaluation import EvalError, evaluate

    session, run, _, data = finished
    before = (run / ckpt.RUN_FILE).read_bytes()
    for key, value, named in (
        ("training.lr", 9.0, "training.lr: 0.01 -> 9.0"),
        ("prompt.instruction", "Przetłumacz nagranie.", "prompt.instruction"),
    ):
        other = dataclasses.replace(session, config=tiny_config(**RUN, **{key: value}))
        with pytest.raises(EvalError, match=f"another config.*{named}"):
            evaluate(other, run, tmp_path, progress=False)
    assert (run / ckpt.RUN_FILE).read_bytes() == before
    assert not (tmp_path / TOY_ID).exists()
    assert data["adapter"]["config"] == json.loads(before)["config"]
    # eval.* may differ: how the test split is scored is not part of what was trained.
    other = dataclasses.replace(session, config=tiny_config(**RUN, **{"eval.max_new_tokens": 3}))
    from kodek.lm.evaluation import check_training_config

    check_training_config(json.loads(before), other, run)


def test_shipped_configs_are_found_outside_a_source_checkout(tmp_path):
    """An installed kodek has no top-level lm/ folder beside it: the configs are package data."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "src" / "kodek", site / "kodek", ignore=shutil.ignore_patterns("__pycache__", "*.parquet"))
    code = (
        "from kodek.lm.config import load_config as load; c = load('bielik-1.5b'); "
        "print(c.name, c.llm.id, load('tiny-test').name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True
    )
    assert done.stdout.decode().split() == ["bielik-1.5b", "speakleash/Bielik-1.5B-v3.0-Instruct", "tiny-test"], (
        done.stderr.decode()[-2000:]
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_checkpoints_and_tables_honour_the_umask(finished):
    _, run, results, _ = finished
    for path in (run / ckpt.INIT_FILE, run / ckpt.BEST_FILE, run / ckpt.LAST_FILE):
        assert _mode(path) == 0o644, path
    assert _mode(results / TOY_ID / "speechllm-tiny-utterances.parquet") == 0o644


def test_run_files_and_results_json_honour_the_umask(finished):
    _, run, results, _ = finished
    for path in (run / ckpt.RUN_FILE, run / ckpt.HISTORY_FILE, results / TOY_ID / "speechllm-tiny.json"):
        assert _mode(path) == 0o644, path


@pytest.mark.parametrize(
    ("env", "processes"), [({"SLURM_GPUS_ON_NODE": "3"}, 3), ({"CUDA_VISIBLE_DEVICES": "0,1"}, 2), ({}, 1)]
)
def test_the_slurm_template_trains_on_the_jobs_gpus_on_a_port_of_its_own(tmp_path, env, processes):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for tool in ("accelerate", "python"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        (bin_dir / tool).chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM") and k != "CUDA_VISIBLE_DEVICES"}
    environment = {**clean, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "123456"}
    script = ROOT / "lm" / "slurm-train.sh"
    subprocess.run(["bash", str(script), "toy", "tokens", "tiny-test", str(tmp_path)], env=environment, check=True)
    calls = log.read_text().splitlines()
    if processes > 1:
        assert f"--num_processes {processes} --main_process_port {20000 + 123456 % 20000}" in calls[0]
    else:
        assert calls[0].startswith("python -m kodek lm train")
    assert [c.split()[4] for c in calls[1:]] == ["eval", "speech"]


def test_results_carry_the_comparability_key_of_the_contract(finished):
    _, _, results, data = finished
    comparability = data["comparability"]
    text = json.dumps(comparability, sort_keys=True, separators=(",", ":"))
    assert data["comparability_key"] == hashlib.sha256(text.encode()).hexdigest()[:16]
    names = pq.read_table(results / TOY_ID / "speechllm-tiny-utterances.parquet")["audioname"].to_pylist()
    assert comparability["utterance_set"] == hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()
    assert comparability["utterances"] == len(names) == 8 and comparability["partial"] is False
    assert comparability["llm_id"] == "tiny-random" and comparability["prompt_instruction"]
    assert all(isinstance(v, (str, int, float, bool, type(None), list)) for v in comparability.values())
    assert TOY_ID not in text  # the codec is what rows with the same key differ by
