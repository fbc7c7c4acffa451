"""``kodek lm speech``: a speech-only LM on the codes, in bits per second of audio.

Token perplexity does not compare across codecs (a 2-codebook 75 Hz stream and a
32-codebook one predict different things), but the information an LM needs to
encode a second of speech does: bits per second = sum of NLL (bits) over the test
split's codes / its audio seconds. Three conditions:

- ``uniform``: every code equally likely, log2(codebook size) per code: the codec's bitrate;
- ``unigram``: per-codebook code frequencies of the train split (add-one smoothed);
- ``trained``: a small causal transformer over frames (per-codebook embeddings summed
  per frame in, one softmax per codebook out: the K codes of frame t are predicted
  from frames < t), early-stopped on validation bits.

Fairness across codecs: utterances longer than ``context_s`` seconds of audio are cut
into chunks of that span, each starting from scratch (nothing dropped; every codec
sees the same span of audio per chunk); the transformer's width and depth are the
same for every codec (its ``core`` parameters), only the per-codebook input tables
and output heads follow the codec's vocabulary (recorded apart); every test
utterance without codes is a counted failure, and the test utterance set's hash is
part of the comparability key.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kodek.errors import KodekError
from kodek.lm.comparability import with_key

log = logging.getLogger(__name__)

TASK = "speech_lm"
CONDITIONS = ("uniform", "unigram", "trained")


class SpeechLMError(KodekError, RuntimeError):
    """A token dataset the speech-only LM cannot train on."""


@dataclass
class Chunks:
    """One split's codes as chunks of at most ``context`` frames."""

    codes: list[np.ndarray]  # [K, F] int64 per chunk
    owner: np.ndarray  # utterance index per chunk
    seconds: float  # audio duration of the split
    utterances: list[dict[str, Any]]  # audioname, dataset, duration_s, frames
    failures: list[dict[str, str]]  # utterances of the source split without codes, with the reason

    @property
    def codes_count(self) -> int:
        return int(sum(c.size for c in self.codes))


def load_chunks(tokens, split: str, context: int, limit: int | None = None) -> Chunks:
    """``split``'s codes in chunks of at most ``context`` frames; utterances without frames are failures."""
    from kodek.lm.data import source_failures

    table, codes = tokens.codes(split)
    rows = table.select(["audioname", "dataset", "duration_s", "num_frames"]).to_pylist()
    if limit is not None:
        rows, codes = rows[:limit], codes[:limit]
    failures = source_failures(tokens, split) if limit is None else []
    kept, pieces, owner = [], [], []
    for row, item in zip(rows, codes, strict=True):
        if item.shape[1] == 0:
            failures.append({"audioname": row["audioname"], "reason": "no codec frames"})
            continue
        for start in range(0, item.shape[1], context):
            pieces.append(item[:, start : start + context])
            owner.append(len(kept))
        kept.append(row)
    seconds = float(sum(r["duration_s"] for r in kept))
    return Chunks(pieces, np.array(owner, dtype=np.int64), seconds, kept, failures)


def chunk_frames(spec, cfg) -> int:
    """Frames per chunk: ``context_s`` of audio at the codec's frame rate; refused past ``max_context_frames``
    (a shorter context for one codec would not compare)."""
    from kodek.lm.config import context_frames

    frames = context_frames(spec.frame_rate, cfg.context_s)
    if frames > cfg.max_context_frames:
        raise SpeechLMError(
            f"{spec.id}: {cfg.context_s:g} s of context is {frames} frames at {spec.frame_rate:g} Hz, over "
            f"speech_lm.max_context_frames={cfg.max_context_frames}; raise it (memory) or lower context_s for "
            "every codec"
        )
    return frames


def build_code_lm(codebook_sizes: tuple[int, ...], *, dim: int, layers: int, heads: int, context: int, seed: int):
    """A Llama-architecture decoder over frames, with per-codebook input tables and output heads."""
    import torch
    from torch import nn
    from transformers import LlamaConfig, LlamaModel

    class CodeLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tables = nn.ModuleList(nn.Embedding(size, dim) for size in codebook_sizes)
            self.start = nn.Parameter(torch.zeros(dim))
            config = LlamaConfig(
                vocab_size=1,  # inputs_embeds only
                hidden_size=dim,
                intermediate_size=4 * dim,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                num_key_value_heads=heads,
                max_position_embeddings=context + 1,
                bos_token_id=None,
                eos_token_id=None,
                pad_token_id=None,
            )
            self.decoder = LlamaModel(config)
            self.heads = nn.ModuleList(nn.Linear(dim, size) for size in codebook_sizes)

        def forward(self, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            """``[B, K, F]`` -> summed NLL (nats) per item; frame t is predicted from frames < t."""
            batch, _, frames = codes.shape
            embedded = sum(table(codes[:, k]) for k, table in enumerate(self.tables))
            inputs = torch.cat([self.start.expand(batch, 1, dim), embedded[:, :-1]], dim=1)
            mask = (torch.arange(frames, device=codes.device)[None, :] < lengths[:, None]).long()
            hidden = self.decoder(inputs_embeds=inputs, attention_mask=mask).last_hidden_state
            nll = torch.zeros(batch, device=codes.device)
            for k, head in enumerate(self.heads):
                logits = head(hidden).float()
                token = nn.functional.cross_entropy(logits.transpose(1, 2), codes[:, k], reduction="none")
                nll = nll + (token * mask).sum(dim=1)
            return nll

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CodeLM()


def unigram_bits(train: Chunks, test: Chunks, sizes: tuple[int, ...]) -> float:
    """Bits of the test codes under per-codebook add-one-smoothed frequencies of the train codes."""
    bits = 0.0
    for k, size in enumerate(sizes):
        counts = np.ones(size, dtype=np.float64)
        for chunk in train.codes:
            counts += np.bincount(chunk[k], minlength=size)[:size]
        logp = np.log2(counts / counts.sum())
        bits -= float(sum(logp[chunk[k]].sum() for chunk in test.codes))
    return bits


def train_and_score(
    tokens,
    out: Path,
    config,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train the speech-only LM on train (select on validation), score test; write ``<out>/<codec>/speech_lm.json``."""
    import torch

    from kodek import results
    from kodek.provenance import record

    cfg = config.speech_lm
    spec = tokens.spec
    sizes = spec.codebook_sizes
    started = time.perf_counter()
    context = chunk_frames(spec, cfg)
    splits = {name: load_chunks(tokens, name, context, cfg.limit) for name in ("train", "validation", "test")}
    for name, chunks in splits.items():
        if not chunks.codes:
            raise SpeechLMError(f"{tokens.location}: {spec.id} has no {name} codes (tokenize train, validation, test)")
    model = build_code_lm(sizes, dim=cfg.dim, layers=cfg.layers, heads=cfg.heads, context=context, seed=cfg.seed).to(
        device
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    rng = np.random.default_rng(cfg.seed)
    best, best_state, bad, step, history = math.inf, None, 0, 0, []
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.max_steps, desc=f"{spec.id} speech LM", unit="step", disable=not progress)
    while step < cfg.max_steps and bad < cfg.patience:
        order = rng.permutation(len(splits["train"].codes))
        for start in range(0, len(order), cfg.batch_size):
            model.train()
            codes, lengths = _pad([splits["train"].codes[i] for i in order[start : start + cfg.batch_size]])
            nll = model(codes.to(device), lengths.to(device))
            loss = nll.sum() / (lengths.sum() * len(sizes))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                bits = _bits(model, splits["validation"], cfg.batch_size, device).sum()
                history.append({"step": step, "validation_bits_per_s": bits / splits["validation"].seconds})
                if bits < best - 1e-6:
                    best, bad = bits, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
            if step >= cfg.max_steps or bad >= cfg.patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    test = splits["test"]
    per_chunk = _bits(model, test, cfg.batch_size, device)
    per_utterance = np.bincount(test.owner, weights=per_chunk, minlength=len(test.utterances))
    trained = float(per_chunk.sum())
    unigram = unigram_bits(splits["train"], test, sizes)
    uniform = float(sum(math.log2(size) for size in sizes)) * sum(chunk.shape[1] for chunk in test.codes)
    values = {"uniform": uniform, "unigram": unigram, "trained": trained}
    metrics = {
        "bits_per_second": {
            "label": "Bits per second of audio",
            "higher_is_better": False,
            **{c: v / test.seconds for c, v in values.items()},
        },
        "code_ppl": {
            "label": "Perplexity per code",
            "higher_is_better": False,
            **{c: 2 ** (v / test.codes_count) for c, v in values.items()},
        },
    }
    by_subset = {}
    subsets = np.array([u["dataset"] for u in test.utterances])
    seconds = np.array([u["duration_s"] for u in test.utterances])
    for subset in sorted(set(subsets)):
        keep = subsets == subset
        bits = float(per_utterance[keep].sum() / seconds[keep].sum())
        by_subset[subset] = {"bits_per_second": {"label": "Bits per second of audio", "trained": bits}}
    subset_names = sorted(set(subsets.tolist()))
    info = results.token_dataset_info(tokens, "test", len(test.utterances), test.seconds, subset_names)
    data = {
        **results.header(TASK, tokens, info),
        **with_key(comparability(tokens, splits, cfg, subset_names)),
        "metrics": metrics,
        "by_subset": by_subset,
        "failures": {
            "count": len(test.failures),
            "by_reason": dict(Counter(f["reason"] for f in test.failures)),
            "items": test.failures[: results.MAX_LISTED_FAILURES],
        },
        "speech_lm": {
            "config": dict(vars(cfg)),
            "context_frames": context,
            **parameter_counts(model),
            "steps": step,
            "history": history,
            "train_codes": splits["train"].codes_count,
            "wall_s": round(time.perf_counter() - started, 1),
        },
        **record(),
    }
    _write_utterances(out, spec.id, test, per_utterance)
    results.write_results(out, data)
    return data


def _write_utterances(out: Path, codec_id: str, test: Chunks, bits: np.ndarray) -> None:
    """The scored test utterances (the set every codec is compared on) and their trained-LM bits."""
    import pyarrow as pa

    from kodek import files, results

    rows = {
        "audioname": [u["audioname"] for u in test.utterances],
        "dataset": [u["dataset"] for u in test.utterances],
        "duration_s": [float(u["duration_s"]) for u in test.utterances],
        "frames": [int(u["num_frames"]) for u in test.utterances],
        "bits_trained": bits.tolist(),
    }
    files.write_table(pa.table(rows), results.utterances_path(out, codec_id, TASK))


def parameter_counts(model) -> dict[str, int]:
    """``core_params``: the transformer (the same for every codec); ``vocabulary_params``: the per-codebook
    input tables and output heads, which follow the codec's codebooks and their sizes."""
    vocabulary = sum(p.numel() for part in (model.tables, model.heads) for p in part.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"params": total, "core_params": total - vocabulary, "vocabulary_params": vocabulary}


def comparability(tokens, splits: dict[str, Chunks], cfg, subsets: list[str]) -> dict[str, Any]:
    """What two speech-only LM results must share to be ranked together (the codec aside)."""
    from kodek.lm.comparability import SCORING_VERSION, config_fingerprint, dataset_facts, utterance_set_hash

    test = splits["test"]
    return {
        "task": TASK,
        **dataset_facts(tokens, "test", [u["audioname"] for u in test.utterances], subsets),
        "train_utterance_set": utterance_set_hash(u["audioname"] for u in splits["train"].utterances),
        "validation_utterance_set": utterance_set_hash(u["audioname"] for u in splits["validation"].utterances),
        "partial": cfg.limit is not None,
        "context_s": cfg.context_s,
        "config": config_fingerprint({"speech_lm": dict(vars(cfg))}),
        "scoring_version": SCORING_VERSION,
    }


def _pad(items: list[np.ndarray]):
    import torch

    from kodek.lm.model import pad_inputs

    return pad_inputs(items), torch.tensor([item.shape[1] for item in items])


def _bits(model, chunks: Chunks, batch_size: int, device: str) -> np.ndarray:
    """Bits per chunk (float64 sums of float32 NLL)."""
    import torch

    model.eval()
    out = np.zeros(len(chunks.codes))
    with torch.no_grad():
        for start in range(0, len(chunks.codes), batch_size):
            codes, lengths = _pad(chunks.codes[start : start + batch_size])
            nll = model(codes.to(device), lengths.to(device)).double().cpu().numpy()
            out[start : start + len(nll)] = nll / math.log(2)
    return out
