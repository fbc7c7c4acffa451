"""``kodek lm train``: train the adapter (only) on a token dataset's train split, select on validation.

Seeded throughout: the data order of an epoch is a function of (seed, epoch), the
adapter's initial weights of the adapter seed, each process's dropout of (seed, rank).
An optimizer step takes ``training.global_batch`` utterances whatever the allocation:
each of the N processes accumulates ``global_batch / (batch_size x N)`` micro-batches
(refused when it does not divide), each micro-batch loss being its summed token NLL
divided by the tokens of the whole step (times N, as DDP averages over processes), so
a step's gradient is that of the mean token NLL over the step, for any N. Validation
NLL per token is computed every ``eval_every`` steps; training stops after ``patience``
validation runs without improvement, or at ``max_steps`` / ``max_epochs``, whichever
comes first (the learning-rate schedule is planned for that number of steps).

Resumable: the state (weights, optimizer, scheduler, every process's RNG states, step,
position in the epoch, best so far) is saved atomically after every validation run and
every ``save_every`` steps; rerunning the same command continues from it, and reaches
the same weights an uninterrupted run would (on the same hardware and process count).

Multi-GPU: run under ``accelerate launch`` (or ``torchrun``); each process takes
every N-th micro-batch of a step, gradients are averaged by DDP, validation sums
are reduced across processes, and only the main process writes files.

Gradient checkpointing (``llm.gradient_checkpointing``): the frozen LLM's decoder
layers recompute their activations in the backward pass. transformers only
checkpoints modules in training mode, so during training those layers (and nothing
inside them: no dropout of the LLM's own) are flagged as training.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodek.errors import KodekError
from kodek.lm import checkpoint as ckpt
from kodek.lm.config import batch_plan

log = logging.getLogger(__name__)


class TrainError(KodekError, RuntimeError):
    """A training run that cannot start or continue."""


@dataclass
class TrainReport:
    run_dir: Path
    status: str  # finished | already finished
    steps: int = 0
    epochs: float = 0.0
    best_step: int | None = None
    best_validation_nll: float | None = None
    stopped: str = ""
    resumed_from: int | None = None
    wall_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        if self.status == "already finished":
            return f"{self.run_dir}: already finished ({self.stopped}); nothing to do"
        resumed = f", resumed from step {self.resumed_from}" if self.resumed_from is not None else ""
        best = "n/a" if self.best_validation_nll is None else f"{self.best_validation_nll:.4f}"
        return (
            f"{self.run_dir}: {self.steps} steps ({self.epochs:.2f} epochs{resumed}) in {self.wall_s:.1f} s; "
            f"stopped: {self.stopped}; best validation NLL/token {best} at step {self.best_step}"
        )


def _fingerprint(session, train, validation) -> str:
    """What a resumed run must share with the run it continues (the global batch is part of the config; the
    number of processes is not: it does not change what a step computes)."""
    facts = {
        "config": session.config.to_dict(),
        "global_batch": session.config.training.global_batch,
        "codec": session.tokens.spec.to_dict(),
        "llm": [session.llm.id, session.llm.revision],
        "tokenizer": session.tokenizer_fingerprint,
        "train": [u.audioname for u in train.utterances],
        "validation": [u.audioname for u in validation.utterances],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def weights_meta(session, run_dir: Path, **extra: Any) -> dict[str, Any]:
    from kodek import __version__

    return {
        "codec_id": session.tokens.codec_id,
        "llm_id": session.llm.id,
        "llm_revision": session.llm.revision,
        "tokenizer": session.tokenizer_fingerprint,
        "config": session.config.to_dict(),
        "stack_factor": session.factor,
        "kodek_version": __version__,
        **extra,
    }


def train(
    session,
    run_dir: Path,
    *,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    save_every: int | None = None,
) -> TrainReport:
    """Train (or resume training) the adapter of ``session`` into ``run_dir``.

    ``on_step(step)`` is called after every optimizer step (tests interrupt a run through it).
    """
    import torch
    from accelerate import Accelerator

    started = time.perf_counter()
    config = session.config
    tcfg = config.training
    accelerator = Accelerator(cpu=session.device == "cpu")
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index

    train_split = session.load(tcfg.train_split, tcfg.limit)
    validation = session.load(tcfg.validation_split, tcfg.limit)
    if not train_split.utterances or not validation.utterances:
        raise TrainError(
            f"{session.tokens.location}: {session.tokens.codec_id} needs utterances with transcripts in both "
            f"{tcfg.train_split} ({len(train_split.utterances)}) and {tcfg.validation_split} "
            f"({len(validation.utterances)})"
        )
    fingerprint = _fingerprint(session, train_split, validation)
    run = ckpt.read_json(run_dir / ckpt.RUN_FILE)
    if run and run.get("fingerprint") != fingerprint:
        raise TrainError(
            f"{run_dir} holds a run with another config, codec, LLM or data: "
            "use another --run (or --runs), or delete it"
        )
    if run.get("status") == "finished":
        summary = run.get("summary", {})
        return TrainReport(run_dir, "already finished", stopped=summary.get("stopped", ""))

    accumulation = batch_plan(tcfg, world)
    per_step = tcfg.global_batch // tcfg.batch_size  # micro-batches per optimizer step, all processes
    batch_groups = _epoch_groups(train_split, tcfg)
    steps_per_epoch = len(batch_groups(0)) // per_step  # a last, incomplete step is not taken (any allocation)
    if steps_per_epoch == 0:
        raise TrainError(
            f"{tcfg.train_split} has {len(train_split.utterances)} usable utterances, fewer than one global batch "
            f"of {tcfg.global_batch}: lower training.global_batch"
        )
    total_steps = plan_steps(tcfg, steps_per_epoch)
    eval_every = tcfg.eval_every or steps_per_epoch
    save_every = save_every or eval_every
    checkpointing = bool(config.llm.gradient_checkpointing)

    adapter = session.new_adapter(train_split)
    model = session.model(adapter, lora=config.lora.enabled)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not run:
            run = _new_run(session, run_dir, fingerprint, model, train_split, validation)
            ckpt.write_run(run_dir, run)
        if not (run_dir / ckpt.INIT_FILE).is_file():
            ckpt.save_weights(run_dir / ckpt.INIT_FILE, model, weights_meta(session, run_dir, step=0))

    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    scheduler = _schedule(optimizer, tcfg.warmup_steps, total_steps)
    state = ckpt.load_state(run_dir / ckpt.LAST_FILE)
    resumed_from = None
    if state is None:
        _seed_process(tcfg.seed, rank)
        state = {"step": 0, "epoch": 0, "position": 0, "best": None, "best_step": None, "bad": 0, "history": []}
    else:
        from kodek.lm.checkpoint import load_trainable

        load_trainable(model, state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        states = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        if len(states) == world:
            _set_rng(states[rank])  # each process continues its own random streams
        else:
            log.warning(
                "%s was saved by %d process(es), resumed by %d: dropout continues from fresh seeds",
                run_dir,
                len(states),
                world,
            )
            _seed_process(tcfg.seed, rank, state["step"])
        resumed_from = state["step"]
        log.info("resuming %s from step %d", run_dir, resumed_from)

    wrapped = accelerator.prepare_model(model)
    device = accelerator.device

    def save(path_state: bool = True) -> None:
        rng = _gather(accelerator, _get_rng()) if path_state else None
        if main and path_state:
            ckpt.save_state(
                run_dir / ckpt.LAST_FILE,
                {
                    **{k: v for k, v in state.items() if k != "weights"},
                    "weights": ckpt.trainable_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng,
                    "processes": world,
                },
            )
            _write_history(run_dir, state["history"])
        accelerator.wait_for_everyone()

    def validate() -> None:
        nll, tokens = _validation_nll(wrapped, model, validation, session, accelerator, device)
        value = nll / tokens
        improved = state["best"] is None or value < state["best"] - tcfg.min_delta
        record = {
            "step": state["step"],
            "epoch": state["epoch"],
            "validation_nll": value,
            "tokens": tokens,
            "lr": scheduler.get_last_lr()[0],
        }
        state["history"].append(record)
        if improved:
            state["best"], state["best_step"], state["bad"] = value, state["step"], 0
            if main:
                meta = weights_meta(session, run_dir, step=state["step"], validation_nll=value)
                ckpt.save_weights(run_dir / ckpt.BEST_FILE, model, meta)
        else:
            state["bad"] += 1
        log.info("step %d: validation NLL/token %.4f%s", state["step"], value, " (best)" if improved else "")
        save()

    if state["step"] == 0 and not state["history"]:
        validate()  # the init adapter's validation NLL: the baseline training has to beat

    bar = _progress(total_steps, state["step"], f"{session.tokens.codec_id} {config.name}", progress and main)
    stopped = ""
    while not stopped:
        groups = batch_groups(state["epoch"])
        while state["position"] < len(groups) and not stopped:
            step_groups = groups[state["position"] : state["position"] + per_step]
            tokens = sum(len(train_split.utterances[i].answer_ids) for group in step_groups for i in group)
            mine = step_groups[rank::world]
            assert len(mine) == accumulation
            _optimizer_step(
                wrapped, model, mine, tokens, train_split, session, accelerator, optimizer, tcfg, checkpointing
            )
            scheduler.step()
            state["position"] += per_step
            state["step"] += 1
            bar.update(1)
            if state["step"] % eval_every == 0:
                validate()
                if state["bad"] >= tcfg.patience:
                    stopped = f"early stopping: no validation improvement in {tcfg.patience} evaluations"
            elif state["step"] % save_every == 0:
                save()
            if not stopped and state["step"] >= total_steps:
                stopped = f"reached {total_steps} steps"
            if on_step is not None:
                on_step(state["step"])
        if not stopped:
            state["epoch"], state["position"] = state["epoch"] + 1, 0
            if state["epoch"] >= tcfg.max_epochs:
                stopped = f"reached {tcfg.max_epochs} epochs"
    bar.close()
    if state["history"][-1]["step"] != state["step"]:
        validate()  # the final weights are judged too
    report = TrainReport(
        run_dir,
        "finished",
        steps=state["step"],
        epochs=state["epoch"] + state["position"] / max(1, len(batch_groups(state["epoch"]))),
        best_step=state["best_step"],
        best_validation_nll=state["best"],
        stopped=stopped,
        resumed_from=resumed_from,
        wall_s=time.perf_counter() - started,
        history=list(state["history"]),
    )
    if main:
        run = ckpt.read_run(run_dir)
        run["status"] = "finished"
        run["summary"] = {
            "steps": report.steps,
            "epochs": round(report.epochs, 3),
            "best_step": report.best_step,
            "best_validation_nll": report.best_validation_nll,
            "init_validation_nll": state["history"][0]["validation_nll"],
            "stopped": stopped,
            "steps_per_epoch": steps_per_epoch,
            "total_steps_planned": total_steps,
            "global_batch": tcfg.global_batch,
            "processes": world,
            "accumulation": accumulation,
            "wall_s_last_session": round(report.wall_s, 1),
        }
        ckpt.write_run(run_dir, run)
    accelerator.wait_for_everyone()
    return report


def _new_run(session, run_dir: Path, fingerprint: str, model, train_split, validation) -> dict[str, Any]:
    from kodek.lm.adapter import parameter_counts
    from kodek.lm.comparability import utterance_set_hash
    from kodek.provenance import now, versions

    trainable = sum(p.numel() for p in model.trainable_parameters())
    return {
        "kind": "kodek-speechllm-run",
        "fingerprint": fingerprint,
        "status": "running",
        "codec": session.tokens.spec.to_dict(),
        "codec_random_weights": bool(session.tokens.meta.get("random_weights")),
        "tokens": {"location": session.tokens.location, "source": session.tokens.meta.get("source")},
        "llm": session.describe_llm(),
        "tokenizer": session.tokenizer_fingerprint,
        "config": session.config.to_dict(),
        "stack_factor": session.factor,
        "adapter_params": parameter_counts(model.adapter),  # projector: the same for every codec
        "trainable_params": trainable,
        "data": {
            split.name: {
                "utterances": len(split.utterances),
                "hours": round(split.hours, 4),
                "failures": len(split.failures),
                "utterance_set": utterance_set_hash(u.audioname for u in split.utterances),
            }
            for split in (train_split, validation)
        },
        "failures": train_split.failures + validation.failures,
        "created": now(),
        "software": versions(),
    }


def _epoch_groups(split, tcfg) -> Callable[[int], list[list[int]]]:
    from kodek.lm.data import batches

    def groups(epoch: int) -> list[list[int]]:
        out = batches(split.utterances, tcfg.batch_size, seed=tcfg.seed, epoch=epoch)
        per_step = tcfg.global_batch // tcfg.batch_size
        return out[: len(out) - len(out) % per_step]  # whole steps only, the same for every allocation

    return groups


def plan_steps(tcfg, steps_per_epoch: int) -> int:
    """Optimizer steps the run will take: ``max_steps`` or ``max_epochs`` epochs, whichever comes first."""
    by_epochs = tcfg.max_epochs * steps_per_epoch
    return min(tcfg.max_steps, by_epochs) if tcfg.max_steps else by_epochs


def _schedule(optimizer, warmup: int, total: int):
    """Linear warm-up, then cosine decay to 10% of the peak learning rate."""
    import torch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_mode(model, checkpointing: bool) -> None:
    """The adapter trains (its dropout on); the frozen LLM runs as in inference (no dropout of its own),
    except the LoRA layers' dropout in the LoRA ablation, and, with gradient checkpointing, the flag that
    makes transformers checkpoint its layers (set on those modules alone, not on what they contain)."""
    model.train()
    model.llm.eval()
    for name, module in model.llm.named_modules():
        if "lora_dropout" in name:
            module.train()
        if checkpointing and getattr(module, "gradient_checkpointing", False) is True:
            module.training = True


def _optimizer_step(wrapped, model, mine, tokens, split, session, accelerator, optimizer, tcfg, checkpointing) -> None:
    """One optimizer step over this process's micro-batches ``mine``; ``tokens``: labelled tokens of the whole
    step on all processes (DDP averages the processes' gradients, hence the factor N)."""
    training_mode(model, checkpointing)
    for index, group in enumerate(mine):
        batch = session.batch(split, group).to(accelerator.device)
        sync = index == len(mine) - 1
        with contextlib.nullcontext() if sync else accelerator.no_sync(wrapped):
            loss = wrapped(batch).sum() * accelerator.num_processes / tokens
            accelerator.backward(loss)
    if tcfg.max_grad_norm:
        accelerator.clip_grad_norm_(model.trainable_parameters(), tcfg.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _validation_nll(wrapped, model, split, session, accelerator, device) -> tuple[float, int]:
    """Summed validation NLL and token count over all processes (float64 totals of float32 sums)."""
    import torch

    from kodek.lm.data import batches

    model.eval()
    world, rank = accelerator.num_processes, accelerator.process_index
    groups = batches(split.utterances, session.config.eval.batch_size)[rank::world]
    nll = torch.zeros((), dtype=torch.float64, device=device)
    tokens = torch.zeros((), dtype=torch.float64, device=device)
    with torch.no_grad():
        for group in groups:
            batch = session.batch(split, group).to(device)
            nll += model.nll_sums(batch).double().sum()
            tokens += batch.tokens.sum()
    nll, tokens = accelerator.reduce(nll, "sum"), accelerator.reduce(tokens, "sum")
    return float(nll), int(tokens)


def _seed_process(seed: int, rank: int, step: int = 0) -> None:
    """Each process its own random streams (dropout), drawn from (seed, rank[, step])."""
    import random

    import numpy as np
    import torch

    entropy = [seed, rank] + ([step] if step else [])
    value = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    torch.manual_seed(value)
    random.seed(value)
    np.random.seed(value)


def _gather(accelerator, item: Any) -> list[Any]:
    """``item`` of every process, in rank order (on every process)."""
    if accelerator.num_processes == 1:
        return [item]
    import torch.distributed as dist

    out: list[Any] = [None] * accelerator.num_processes
    dist.all_gather_object(out, item)
    return out


def _get_rng() -> dict[str, Any]:
    import random

    import numpy as np
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    from kodek.files import write_text

    write_text(run_dir / ckpt.HISTORY_FILE, "".join(json.dumps(r) + "\n" for r in history))


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not enabled)
