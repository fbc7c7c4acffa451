"""SpeechLLM: the adapter's audio vectors spliced into a frozen causal LM's input embeddings.

One sequence per utterance::

    [chat prefix] [audio windows] [chat suffix] [transcript tokens] [end-of-turn]
    labels: -100 ...................................  transcript ids   end id

Scoring takes the LLM's last hidden states at the positions that predict a label,
applies the output head there only, in float32, and returns the summed negative
log-likelihood per utterance: perplexity is computed from these sums, never from
a mean of batch means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kodek.lm.data import Utterance
from kodek.lm.prompt import PromptLayout


@dataclass
class Batch:
    inputs: torch.Tensor  # codes [B, K, F] or features [B, F, D]
    frames: torch.Tensor  # [B] codec frames per utterance
    text_ids: torch.Tensor  # [B, L]: prompt and answer ids (pad where audio or padding)
    audio_mask: torch.Tensor  # [B, L] bool: where the audio windows go
    attention_mask: torch.Tensor  # [B, L]
    labels: torch.Tensor  # [B, L]: answer ids, -100 elsewhere
    audio_windows: torch.Tensor  # [B] windows spliced per utterance (0: the prior condition)

    def to(self, device) -> Batch:
        return Batch(**{k: v.to(device) for k, v in self.__dict__.items()})

    @property
    def tokens(self) -> torch.Tensor:
        """Labelled tokens per utterance."""
        return (self.labels != -100).sum(dim=1)


def collate(
    utterances: list[Utterance],
    layout: PromptLayout,
    factor: int,
    *,
    audio: bool = True,
    answers: bool = True,
    pad_left: bool = False,
    inputs: list[np.ndarray] | None = None,
) -> Batch:
    """Token ids, masks and labels of a batch (CPU). ``audio=False`` keeps the prompt but splices no audio
    (the prior condition); ``answers=False`` stops at the start of the answer (generation, left padded).
    ``inputs``: the adapter's inputs per utterance (``Split.inputs``); default: their codes."""
    inputs = pad_inputs(inputs if inputs is not None else [u.inputs for u in utterances])
    frames = torch.tensor([u.frames for u in utterances])
    counts = [-(-u.frames // factor) if audio else 0 for u in utterances]
    answer = [u.answer_ids if answers else [] for u in utterances]
    prefix, suffix = layout.prefix_ids, layout.suffix_ids
    lengths = [len(prefix) + a + len(suffix) + len(t) for a, t in zip(counts, answer, strict=True)]
    width = max(lengths)
    text_ids = torch.full((len(utterances), width), layout.pad_id, dtype=torch.long)
    audio_mask = torch.zeros((len(utterances), width), dtype=torch.bool)
    attention = torch.zeros((len(utterances), width), dtype=torch.long)
    labels = torch.full((len(utterances), width), -100, dtype=torch.long)
    for row, (count, ids, length) in enumerate(zip(counts, answer, lengths, strict=True)):
        at = width - length if pad_left else 0
        text_ids[row, at : at + len(prefix)] = torch.tensor(prefix)
        at += len(prefix)
        audio_mask[row, at : at + count] = True
        at += count
        text_ids[row, at : at + len(suffix)] = torch.tensor(suffix)
        at += len(suffix)
        if ids:
            text_ids[row, at : at + len(ids)] = torch.tensor(ids)
            labels[row, at : at + len(ids)] = torch.tensor(ids)
        start = width - length if pad_left else 0
        attention[row, start : start + length] = 1
    return Batch(inputs, frames, text_ids, audio_mask, attention, labels, torch.tensor(counts))


def pad_inputs(items: list[np.ndarray]) -> torch.Tensor:
    """Codes ``[K, F]`` -> ``[B, K, Fmax]`` int64, or features ``[F, D]`` -> ``[B, Fmax, D]``; zeros after each item."""
    if items[0].dtype.kind in "iu":  # codes [K, F]
        out = np.zeros((len(items), items[0].shape[0], max(i.shape[1] for i in items)), dtype=np.int64)
        for row, item in zip(out, items, strict=True):
            row[:, : item.shape[1]] = item
    else:  # features [F, D]
        out = np.zeros((len(items), max(len(i) for i in items), items[0].shape[1]), dtype=np.float32)
        for row, item in zip(out, items, strict=True):
            row[: len(item)] = item
    return torch.from_numpy(out)


class SpeechLLM(nn.Module):
    """The trainable adapter in front of a frozen causal LM (optionally with LoRA layers, through peft)."""

    def __init__(self, adapter: nn.Module, llm: nn.Module, layout: PromptLayout) -> None:
        super().__init__()
        self.adapter = adapter
        self.llm = llm
        self.layout = layout

    @property
    def base(self) -> nn.Module:
        """The transformers model itself, also when peft wraps it."""
        return self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def embed(self, batch: Batch) -> torch.Tensor:
        """Input embeddings with the projected audio at the audio positions."""
        table = self.base.get_input_embeddings()
        embeds = table(batch.text_ids)
        if batch.audio_mask.any():
            audio, counts = self.adapter(batch.inputs, batch.frames)
            keep = torch.arange(audio.shape[1], device=audio.device)[None, :] < counts[:, None]
            embeds = embeds.clone()
            embeds[batch.audio_mask] = audio[keep].to(embeds.dtype)
        return embeds

    def _positions(self, batch: Batch) -> torch.Tensor:
        return (batch.attention_mask.cumsum(dim=1) - 1).clamp(min=0)

    def token_nll(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 NLL of every labelled token, and the batch row it belongs to."""
        return self.token_nll_from_embeds(self.embed(batch), batch)

    def token_nll_from_embeds(self, embeds: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`token_nll`, from given input embeddings (the benchmark feeds the LLM alone this way)."""
        target = batch.labels[:, 1:]
        rows, cols = (target != -100).nonzero(as_tuple=True)  # token at cols+1 predicted from cols
        config = self.base.config
        if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
            logits = self.llm(
                inputs_embeds=embeds, attention_mask=batch.attention_mask, position_ids=self._positions(batch)
            ).logits[rows, cols]
        else:  # the output head only where a label is predicted, in float32
            hidden = self.base.get_decoder()(
                inputs_embeds=embeds, attention_mask=batch.attention_mask, position_ids=self._positions(batch)
            ).last_hidden_state[rows, cols]
            head = self.base.get_output_embeddings()
            logits = nn.functional.linear(
                hidden.float(), head.weight.float(), None if head.bias is None else head.bias.float()
            )
        nll = nn.functional.cross_entropy(logits.float(), target[rows, cols], reduction="none")
        return nll, rows

    def forward(self, batch: Batch) -> torch.Tensor:
        """Summed NLL per utterance (what training differentiates; a DDP wrapper calls this)."""
        return self.nll_sums(batch)

    def nll_sums(self, batch: Batch) -> torch.Tensor:
        """Summed float32 NLL (nats) per utterance."""
        nll, rows = self.token_nll(batch)
        return torch.zeros(batch.labels.shape[0], device=nll.device, dtype=torch.float32).index_add(0, rows, nll)

    @torch.no_grad()
    def generate(self, batch: Batch, tokenizer, max_new_tokens: int) -> list[str]:
        """Greedy continuation of prompt(+audio) batches built with ``answers=False, pad_left=True``."""
        embeds = self.embed(batch)
        out = self.llm.generate(
            inputs_embeds=embeds,
            attention_mask=batch.attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=self.layout.end_id,
            pad_token_id=self.layout.pad_id,
        )
        texts = []
        for ids in out.tolist():
            if self.layout.end_id in ids:
                ids = ids[: ids.index(self.layout.end_id)]
            texts.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
        return texts
