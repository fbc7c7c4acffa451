"""Processes of multi-process SpeechLLM trainings (run by tests/test_lm_distributed.py through torchrun).

    torchrun --nproc_per_node=2 tests/lm_distributed_worker.py MODE TOKENS OUT [KEY=VALUE ...] [-- MODE ...]

MODE ``train``: one run into OUT/run. MODE ``resume``: an uninterrupted run into OUT/whole, then a run into
OUT/killed stopped after step 3 (every process's random streams then disturbed) and resumed. Jobs separated by
``--`` run one after the other in the same processes (starting torch and the LLM takes seconds).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch
import yaml

from kodek.lm.session import open_session
from kodek.lm.train import train
from test_lm import TOY_ID, tiny_config


class Killed(Exception):
    pass


def main() -> None:
    args = sys.argv[1:]
    while args:
        job, args = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
        run_job(*job)


def run_job(mode: str, tokens: str, out: str, *pairs: str) -> None:
    overrides = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in pairs)}
    session = open_session(tiny_config(**overrides), tokens, TOY_ID)
    folder = Path(out)
    if mode == "train":
        train(session, folder / "run", progress=False)
        return
    train(session, folder / "whole", progress=False)

    def kill_at(step: int) -> None:
        if step == 3:
            raise Killed

    with contextlib.suppress(Killed):
        train(session, folder / "killed", progress=False, on_step=kill_at, save_every=1)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    torch.rand(100 * (rank + 1))  # a fresh process would start from other random streams
    train(session, folder / "killed", progress=False)


if __name__ == "__main__":
    main()
