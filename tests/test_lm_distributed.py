"""SpeechLLM training in several processes (torchrun on CPU, gloo, the tiny LLM): resume and the global batch."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from kodek.lm import checkpoint as ckpt
from test_lm import TOY_ID, tiny_config, write_toy_tokens

from conftest import started_ahead

WORKER = Path(__file__).with_name("lm_distributed_worker.py")
SRC = Path(__file__).resolve().parents[1] / "src"


def torchrun(processes: int, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    done = subprocess.run([*command, str(WORKER), *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / ckpt.HISTORY_FILE).read_text().splitlines()]


RESUME = ["adapter.dropout=0.3", "training.max_steps=8", "training.eval_every=4", "training.batch_size=2"]
GLOBAL_BATCH = {"training.max_steps": 6, "training.eval_every": 3, "training.batch_size": 2}


@started_ahead
@contextlib.contextmanager
def two_process_runs() -> Iterator[Path]:
    """Both tests' two-process runs, in one torchrun (its processes start torch and the LLM once), on toy tokens
    written beside them."""
    with tempfile.TemporaryDirectory(prefix="two-processes-") as name:
        out = Path(name)
        tokens = write_toy_tokens(out / "toy-tokens")
        train = ["train", str(tokens), str(out / "two"), *(f"{k}={v}" for k, v in GLOBAL_BATCH.items())]
        torchrun(2, "resume", str(tokens), str(out / "resume"), *RESUME, "--", *train)
        yield out


@pytest.fixture(scope="module")
def toy_tokens(two_process_runs):
    return two_process_runs / "toy-tokens"


def test_a_killed_two_process_run_with_dropout_resumes_to_the_uninterrupted_weights(two_process_runs):
    """Each process's dropout streams are saved and restored: resumed == uninterrupted, also with dropout."""
    runs = two_process_runs / "resume"
    state = ckpt.load_state(runs / "killed" / ckpt.LAST_FILE)
    assert state["processes"] == 2 and len(state["rng"]) == 2
    assert history(runs / "killed") == history(runs / "whole")
    whole, _ = ckpt.load_weights(runs / "whole" / ckpt.BEST_FILE)
    resumed, _ = ckpt.load_weights(runs / "killed" / ckpt.BEST_FILE)
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=0)


def test_the_global_batch_is_the_configs_whatever_the_number_of_processes(two_process_runs, toy_tokens, tmp_path):
    """1 process x 2 micro-batches of 2 and 2 processes x 1 micro-batch of 2 take the same steps, same NLL."""
    from kodek.lm.session import open_session
    from kodek.lm.train import train

    one = train(open_session(tiny_config(**GLOBAL_BATCH), str(toy_tokens), TOY_ID), tmp_path / "one", progress=False)
    two = history(two_process_runs / "two" / "run")
    assert [h["step"] for h in two] == [h["step"] for h in one.history] == [0, 3, 6]
    assert [h["validation_nll"] for h in two] == pytest.approx([h["validation_nll"] for h in one.history], rel=1e-5)
    summary = json.loads((two_process_runs / "two" / "run" / ckpt.RUN_FILE).read_text())["summary"]
    assert (summary["global_batch"], summary["processes"], summary["accumulation"]) == (4, 2, 1)
