"""``kodek bench lm``: adapter training throughput vs the frozen LLM's own forward+backward.

Both time one optimizer step's worth of work on the same batch (a middle-length
batch of the train split): the full adapter step (embed codes, stack, project,
splice, LLM forward, backward into the adapter, optimizer step) and the LLM alone
(the same sequence's token embeddings in, the same float32 loss, backward to its
input embeddings). Their ratio is what the adapter pipeline costs on top of the
LLM, which is the floor of any adapter training. Both run in training mode (with
gradient checkpointing where the config enables it).

Reported: tokens/s (LLM positions: prompt, audio windows, transcript) and
utterances/s of both, peak memory, and a projection of the wall time of one epoch
(and of ``max_epochs``) over the train split: its LLM positions, counted from the
utterances themselves, divided by the measured positions/s. ``train_hours`` scales
the projection to a split of that many hours with the same composition (e.g. the
full BIGOS-v2 train split when the tokens hold a part of it). A projection, not a
measurement: it assumes the measured batch's throughput holds for every batch.
"""

from __future__ import annotations

import time
from typing import Any


def bench_lm(
    config,
    tokens: str,
    codec_id: str,
    *,
    device: str = "cpu",
    repeat: int = 3,
    train_hours: float | None = None,
) -> dict[str, Any]:
    import torch

    from kodek.lm.config import windows
    from kodek.lm.data import batches
    from kodek.lm.session import open_session
    from kodek.lm.train import training_mode

    session = open_session(config, tokens, codec_id, device=device)
    split = session.load(config.training.train_split, config.training.limit)
    groups = batches(split.utterances, config.training.batch_size)
    group = groups[len(groups) // 2]
    chosen = [split.utterances[i] for i in group]
    batch = session.batch(split, group).to(device)
    model = session.model(session.new_adapter(split))
    training_mode(model, bool(config.llm.gradient_checkpointing))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
    labelled = int(batch.tokens.sum())

    def adapter_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        (model.nll_sums(batch).sum() / labelled).backward()
        optimizer.step()

    table = model.base.get_input_embeddings()

    def llm_alone() -> None:
        embeds = table(batch.text_ids).detach().requires_grad_(True)
        nll, _ = model.token_nll_from_embeds(embeds, batch)
        (nll.sum() / labelled).backward()

    adapter_s = _best(adapter_step, repeat, device)
    llm_s = _best(llm_alone, repeat, device)
    audio_s = sum(u.duration_s for u in chosen)
    positions = int(batch.attention_mask.sum())
    prompt = len(session.layout.prefix_ids) + len(session.layout.suffix_ids)
    split_positions = sum(prompt + windows(u.frames, session.factor) + len(u.answer_ids) for u in split.utterances)
    scale = train_hours / split.hours if train_hours else 1.0
    epoch_s = split_positions * scale / (positions / adapter_s)
    steps_per_epoch = len(split.utterances) * scale / config.training.global_batch
    return {
        "codec": codec_id,
        "llm": session.llm.id,
        "llm_params": session.llm.params,
        "adapter_params": sum(p.numel() for p in model.adapter.parameters()),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "gradient_checkpointing": bool(config.llm.gradient_checkpointing),
        "batch_utterances": len(chosen),
        "batch_audio_s": round(audio_s, 2),
        "batch_positions": positions,
        "audio_positions": int(batch.audio_mask.sum()),
        "stack_factor": session.factor,
        "adapter_step_s": round(adapter_s, 6),
        "llm_forward_backward_s": round(llm_s, 6),
        "adapter_tokens_per_s": round(positions / adapter_s, 1),
        "llm_tokens_per_s": round(positions / llm_s, 1),
        "adapter_utterances_per_s": round(len(chosen) / adapter_s, 3),
        "llm_utterances_per_s": round(len(chosen) / llm_s, 3),
        "adapter_audio_s_per_s": round(audio_s / adapter_s, 2),
        "adapter_overhead": round(adapter_s / llm_s, 3),  # adapter step time / the LLM's own forward+backward
        **_peak_memory(device),
        "projection": "projected, not measured: the measured batch's tokens/s over the split's tokens",
        "train_split_utterances": len(split.utterances),
        "train_split_hours": round(split.hours, 4),
        "train_split_tokens": split_positions,
        "projected_hours": round(split.hours * scale, 4),
        "projected_epoch_s": round(epoch_s, 1),
        "projected_steps_per_epoch": round(steps_per_epoch, 1),
        "projected_max_epochs_s": round(epoch_s * config.training.max_epochs, 1),
        "random_weights": session.random_weights,
    }


def _peak_memory(device: str) -> dict[str, Any]:
    """Peak memory of the run: CUDA memory allocated by torch on a GPU, the process's peak RSS on CPU."""
    if device.startswith("cuda"):
        import torch

        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1), "peak_memory_of": "cuda"}
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return {
        "peak_memory_mb": round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1),
        "peak_memory_of": "process RSS",
    }


def _best(step, repeat: int, device: str) -> float:
    import torch

    step()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(max(1, repeat)):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times)
