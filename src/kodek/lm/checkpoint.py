"""Adapter-only checkpoints and the resumable training state of a run directory.

```
<run>/run.json            config, codec spec, tokens, LLM id and commit, status, summary
<run>/init.safetensors    the seeded adapter before training: the `init` condition
<run>/best.safetensors    the weights with the lowest validation NLL: the `trained` condition
<run>/last.pt             resumable state: weights, optimizer, scheduler, RNG, step, data position
<run>/history.jsonl       one line per validation run
```

A ``.safetensors`` checkpoint holds only what trains (the adapter, and LoRA layers
in the LoRA ablation), with the codec id, the LLM id and commit and the config in
its metadata, so that it is never used with another codec or LLM by mistake.
Every file is written atomically: a run killed at any moment leaves a consistent
directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from kodek.errors import KodekError
from kodek.files import read_json, replacing, write_json

RUN_FILE = "run.json"
INIT_FILE = "init.safetensors"
BEST_FILE = "best.safetensors"
LAST_FILE = "last.pt"
HISTORY_FILE = "history.jsonl"


class CheckpointError(KodekError, ValueError):
    """A run directory or checkpoint that does not belong to this codec, LLM or config."""


def trainable_state(model) -> dict[str, torch.Tensor]:
    """``adapter.*`` and (LoRA) ``lora.*`` tensors: everything that trains, nothing frozen."""
    state = {f"adapter.{k}": v.detach().cpu().contiguous() for k, v in model.adapter.state_dict().items()}
    for name, param in model.llm.named_parameters():
        if param.requires_grad:
            state[f"lora.{name}"] = param.detach().cpu().contiguous()
    return state


def load_trainable(model, state: dict[str, torch.Tensor]) -> None:
    adapter = {k.removeprefix("adapter."): v for k, v in state.items() if k.startswith("adapter.")}
    model.adapter.load_state_dict(adapter, strict=True)
    lora = {k.removeprefix("lora."): v for k, v in state.items() if k.startswith("lora.")}
    expected = {n for n, p in model.llm.named_parameters() if p.requires_grad}
    if set(lora) != expected:
        raise CheckpointError(
            f"checkpoint LoRA tensors do not match the model ({len(lora)} in the file, {len(expected)} expected)"
        )
    if lora:
        params = dict(model.llm.named_parameters())
        with torch.no_grad():
            for name, value in lora.items():
                params[name].copy_(value)


def save_weights(path: Path, model, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    with replacing(path) as tmp:  # safetensors creates its files 0600: replacing gives them the umask's mode
        save_file(trainable_state(model), str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        meta = {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
    return load_file(str(path)), meta


def check_weights_meta(meta: dict[str, Any], *, codec_id: str, llm_id: str, llm_revision: str | None, where: Path):
    found = (meta.get("codec_id"), meta.get("llm_id"), meta.get("llm_revision"))
    if found != (codec_id, llm_id, llm_revision):
        raise CheckpointError(
            f"{where}: trained for codec {found[0]} on {found[1]}@{found[2]}, not {codec_id} on {llm_id}@{llm_revision}"
        )


def save_state(path: Path, state: dict[str, Any]) -> None:
    with replacing(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def read_run(run: Path) -> dict[str, Any]:
    data = read_json(run / RUN_FILE)
    if not data:
        raise CheckpointError(f"{run}: not a SpeechLLM run directory (no {RUN_FILE}; train one with kodek lm train)")
    return data


def write_run(run: Path, data: dict[str, Any]) -> None:
    write_json(run / RUN_FILE, data)
