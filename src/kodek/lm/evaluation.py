"""``kodek lm eval``: transcript perplexity on the test split in the prior / init / trained conditions.

- ``prior``: the prompt without audio: what the LLM expects of a transcript on its own;
- ``init``: the seeded adapter before training (``init.safetensors`` of the run);
- ``trained``: the adapter with the lowest validation NLL (``best.safetensors``).

The run is evaluated with the config it was trained with: another prompt, adapter,
LLM or training setting is refused with the differences named (only ``eval.*``
may differ), and the run's files are never rewritten.

Per utterance the summed float32 NLL of the transcript tokens (and the end-of-turn
token) is kept; PPL and bits per character are corpus-level ratios of sums. Greedy
decoding gives CER/WER per condition as a sanity check (does the trained adapter
make the LLM transcribe at all?). Results: ``<out>/<codec>/speechllm-<config>.json``
and the per-utterance table beside it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kodek.errors import KodekError
from kodek.lm import checkpoint as ckpt
from kodek.lm.comparability import (
    SCORING_VERSION,
    config_differences,
    config_fingerprint,
    dataset_facts,
    with_key,
)
from kodek.lm.metrics import NORMALISATION, bits_per_char, perplexity, utterance_error_rates
from kodek.metrics.text import ErrorRate, pooled_rate

log = logging.getLogger(__name__)

TASK = "speechllm"
CONDITIONS = ("prior", "init", "trained")
LABELS = {
    "ppl": ("Transcript perplexity", False),
    "bpc": ("Bits per character", False),
    "cer": ("CER of greedy transcripts", False),
    "wer": ("WER of greedy transcripts", False),
}


class EvalError(KodekError, RuntimeError):
    """A run that cannot be evaluated (unfinished, or trained for another codec or LLM)."""


def results_name(config_name: str) -> str:
    """One results file per LLM configuration: ``speechllm-<config>``."""
    return f"{TASK}-{config_name}"


def evaluate(session, run_dir: Path, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Score the three conditions of ``run_dir`` on the eval split and write the results under ``out``."""
    import pyarrow as pa

    from kodek import files, results
    from kodek.provenance import record

    config, run_dir, out = session.config, Path(run_dir), Path(out)
    run = ckpt.read_run(run_dir)
    if run.get("status") != "finished":
        raise EvalError(f"{run_dir}: training has not finished (status {run.get('status')!r}); rerun kodek lm train")
    check_training_config(run, session, run_dir)
    split = session.load(config.eval.split, config.eval.limit)
    if not split.utterances:
        raise EvalError(f"{session.tokens.location}: no {config.eval.split} utterance has a transcript to score")
    model = session.model(session.new_adapter(split), lora=config.lora.enabled)
    model.eval()

    scored: dict[str, np.ndarray] = {}
    hypotheses: dict[str, list[str]] = {}
    for condition in CONDITIONS:
        if condition != "prior":
            path = run_dir / (ckpt.INIT_FILE if condition == "init" else ckpt.BEST_FILE)
            state, meta = ckpt.load_weights(path)
            ckpt.check_weights_meta(
                meta,
                codec_id=session.tokens.codec_id,
                llm_id=session.llm.id,
                llm_revision=session.llm.revision,
                where=path,
            )
            differences = config_differences(meta.get("config") or {}, run["config"], ("eval",))
            if differences:
                raise EvalError(f"{path}: not the weights of this run's config ({'; '.join(differences[:5])})")
            ckpt.load_trainable(model, state)
        scored[condition] = _nll_sums(model, split, session, audio=condition != "prior", progress=progress)
        if condition in config.eval.greedy_conditions:
            hypotheses[condition] = _greedy(model, split, session, audio=condition != "prior", progress=progress)

    tokens = np.array([len(u.answer_ids) for u in split.utterances])
    chars = np.array([u.chars for u in split.utterances])
    rows: dict[str, Any] = {
        "audioname": [u.audioname for u in split.utterances],
        "dataset": [u.subset for u in split.utterances],
        "split": [split.name] * len(split.utterances),
        "duration_s": [u.duration_s for u in split.utterances],
        "ref_orig": [u.text for u in split.utterances],
        "tokens": tokens.tolist(),
        "chars": chars.tolist(),
    }
    rates = {  # per condition decoded: one (CER, WER) pair per utterance
        c: [utterance_error_rates(u.text, h) for u, h in zip(split.utterances, hyps, strict=True)]
        for c, hyps in hypotheses.items()
    }
    for condition in CONDITIONS:
        rows[f"nll_{condition}"] = scored[condition].tolist()
        if condition in hypotheses:
            rows[f"hyp_{condition}"] = hypotheses[condition]
            rows[f"cer_{condition}"] = [None if cer is None else cer.rate for cer, _ in rates[condition]]
    files.write_table(pa.table(rows), out / session.tokens.codec_id / f"{results_name(config.name)}-utterances.parquet")

    subsets = sorted({u.subset for u in split.utterances})
    by_subset = {}
    for subset in subsets:
        keep = np.array([u.subset == subset for u in split.utterances])
        by_subset[subset] = _metrics(scored, tokens, chars, keep, {})
    every = np.ones(len(split.utterances), dtype=bool)
    reasons = Counter(f["reason"] for f in split.failures)
    info = results.token_dataset_info(session.tokens, split.name, len(split.utterances), split.hours * 3600, subsets)
    params = run.get("adapter_params") or {}
    data: dict[str, Any] = {
        **results.header(TASK, session.tokens, info),
        **with_key(comparability(session, run, split, subsets)),
        "random_weights": session.random_weights,  # random-weight tokens, or a random LLM
        "llm": {"id": session.llm.id, "revision": session.llm.revision},
        "metrics": _metrics(scored, tokens, chars, every, rates),
        "by_subset": by_subset,
        "failures": {
            "count": len(split.failures),
            "by_reason": dict(reasons),
            "items": split.failures[: results.MAX_LISTED_FAILURES],
        },
        "adapter": {
            "config": run["config"],  # the run's own: evaluation never changes it
            "eval": dataclasses.asdict(config.eval),
            "stack_factor": session.factor,
            "window_ms": config.adapter.window_ms,
            "slots": config.adapter.slots,
            "llm_positions_per_s": round(session.tokens.spec.frame_rate / session.factor, 4),
            # projector: the same for every codec; embedding: the codes' lookup tables (scale with the vocabulary)
            "params": params.get("total") if isinstance(params, dict) else params,
            "projector_params": params.get("projector") if isinstance(params, dict) else None,
            "embedding_params": params.get("embedding") if isinstance(params, dict) else None,
            "trainable_params": run.get("trainable_params"),
            "training": run.get("summary"),
            "run": str(run_dir),
        },
        **record(),
    }
    path = results.write_results(out, data, results_name(config.name))
    log.info("wrote %s", path)
    return data


def check_training_config(run: dict[str, Any], session, run_dir: Path) -> None:
    """Refuse to evaluate with settings other than the run's (``eval.*`` aside), naming the differences."""
    differences = config_differences(run.get("config") or {}, session.config.to_dict(), ("eval",))
    if run.get("tokenizer") not in (None, session.tokenizer_fingerprint):
        differences.append("the LLM's tokenizer")
    if differences:
        shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
        raise EvalError(
            f"{run_dir} was trained with another config ({shown}): evaluate with the training config "
            "(only eval.* may differ)"
        )


def comparability(session, run: dict[str, Any], split, subsets: list[str]) -> dict[str, Any]:
    """What two SpeechLLM results must share to be ranked together (the codec aside)."""
    config = session.config
    data = run.get("data") or {}
    facts = dataset_facts(session.tokens, split.name, [u.audioname for u in split.utterances], subsets)
    return {
        "task": TASK,
        **facts,
        "train_utterance_set": str((data.get(config.training.train_split) or {}).get("utterance_set")),
        "validation_utterance_set": str((data.get(config.training.validation_split) or {}).get("utterance_set")),
        "partial": config.eval.limit is not None or run["config"]["training"].get("limit") is not None,
        "max_seconds": config.training.max_seconds,
        "llm_id": session.llm.id,
        "llm_revision": session.llm.revision,
        "tokenizer": session.tokenizer_fingerprint,
        "prompt_system": config.prompt.system,
        "prompt_instruction": config.prompt.instruction,
        "config": config_fingerprint(run["config"]),
        "eval_max_new_tokens": config.eval.max_new_tokens,
        "normalisation": NORMALISATION,
        "scoring_version": SCORING_VERSION,
    }


def _metrics(scored, tokens, chars, keep, rates) -> dict[str, Any]:
    """Corpus PPL and BPC per condition over the utterances in ``keep``, and pooled CER/WER where decoded."""
    metrics: dict[str, Any] = {}
    for name in ("ppl", "bpc"):
        label, higher = LABELS[name]
        values = {}
        for condition in CONDITIONS:
            total = float(scored[condition][keep].astype(np.float64).sum())
            if name == "ppl":
                values[condition] = perplexity(total, int(tokens[keep].sum()))
            else:
                values[condition] = bits_per_char(total, int(chars[keep].sum()))
        metrics[name] = {"label": label, "higher_is_better": higher, **values}
    if rates:
        for index, name in enumerate(("cer", "wer")):
            label, higher = LABELS[name]
            values = {c: _pooled([r[index] for r in rates[c]]) if c in rates else None for c in CONDITIONS}
            metrics[name] = {"label": label, "higher_is_better": higher, "normalisation": NORMALISATION, **values}
    return metrics


def _pooled(rates: list[ErrorRate | None]) -> float | None:
    """Corpus CER or WER over the decoded utterances (None: an empty reference, left out)."""
    present = [r for r in rates if r is not None]
    return pooled_rate([r.errors for r in present], [r.length for r in present])


def _nll_sums(model, split, session, *, audio: bool, progress: bool) -> np.ndarray:
    """Summed float32 NLL per utterance, in the split's order."""
    import torch

    from kodek.lm.data import batches

    out = np.zeros(len(split.utterances), dtype=np.float64)
    groups = batches(split.utterances, session.config.eval.batch_size)
    with torch.no_grad():
        for group in _bar(groups, "NLL " + ("audio" if audio else "prior"), progress):
            batch = session.batch(split, group, audio=audio)
            out[group] = model.nll_sums(batch.to(session.device)).double().cpu().numpy()
    return out


def _greedy(model, split, session, *, audio: bool, progress: bool) -> list[str]:
    from kodek.lm.data import batches

    texts: list[str] = [""] * len(split.utterances)
    groups = batches(split.utterances, session.config.eval.batch_size)
    for group in _bar(groups, "greedy " + ("audio" if audio else "prior"), progress):
        batch = session.batch(split, group, audio=audio, answers=False, pad_left=True)
        decoded = model.generate(batch.to(session.device), session.llm.tokenizer, session.config.eval.max_new_tokens)
        for index, text in zip(group, decoded, strict=True):
            texts[index] = text
    return texts


def _bar(items: list, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="batch", disable=not enabled, leave=False)
