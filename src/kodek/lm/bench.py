"""``kodek bench lm``: adapter training throughput vs the frozen LLM's own forward+backward.

Both time one optimizer step's worth of work on the same batch (a middle-length
batch of the train split): the full adapter step (embed codes, stack, project,
splice, LLM forward, backward into the adapter, optimizer step) and the LLM alone
(the same sequence's token embeddings in, the same float32 loss, backward to its
input embeddings). Their ratio is what the adapter pipeline costs on top of the
LLM, which is the floor of any adapter training.
"""

from __future__ import annotations

import time
from typing import Any


def bench_lm(config, tokens: str, codec_id: str, *, device: str = "cpu", repeat: int = 3) -> dict[str, Any]:
    import torch

    from kodek.lm.data import batches
    from kodek.lm.model import collate
    from kodek.lm.session import open_session

    session = open_session(config, tokens, codec_id, device=device)
    split = session.load(config.training.train_split, config.training.limit)
    groups = batches(split.utterances, config.training.batch_size)
    group = groups[len(groups) // 2]
    chosen = [split.utterances[i] for i in group]
    batch = collate(chosen, session.layout, session.factor).to(device)
    model = session.model(session.new_adapter(split))
    model.train()
    model.llm.eval()
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
    return {
        "codec": codec_id,
        "llm": session.llm.id,
        "llm_params": session.llm.params,
        "adapter_params": sum(p.numel() for p in model.adapter.parameters()),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "batch_utterances": len(chosen),
        "batch_audio_s": round(audio_s, 2),
        "batch_positions": positions,
        "audio_positions": int(batch.audio_mask.sum()),
        "stack_factor": session.factor,
        "adapter_step_s": round(adapter_s, 6),
        "llm_forward_backward_s": round(llm_s, 6),
        "adapter_audio_s_per_s": round(audio_s / adapter_s, 2),
        "adapter_positions_per_s": round(positions / adapter_s, 1),
        "llm_positions_per_s": round(positions / llm_s, 1),
        "adapter_overhead": round(adapter_s / llm_s, 3),
        "random_weights": session.random_weights,
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
