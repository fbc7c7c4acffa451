"""What training, evaluation and benchmarks share: tokens + LLM + prompt + adapter, built the same way."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kodek.lm.config import LMConfig, stack_factor
from kodek.lm.data import Split, attach_answers, feature_dim, load_split, ssl_feature_source
from kodek.lm.llm import LoadedLLM, load_llm
from kodek.lm.prompt import PromptLayout, build_layout
from kodek.tokenize.reader import TokenSet


@dataclass
class Session:
    config: LMConfig
    tokens: TokenSet
    llm: LoadedLLM
    layout: PromptLayout
    factor: int  # codec frames per LLM position
    device: str
    feature_source: Any = None  # ssl-features: (audioname, frames) -> [F, D]

    @property
    def hidden_size(self) -> int:
        return int(self.llm.model.get_input_embeddings().weight.shape[1])

    @property
    def random_weights(self) -> bool:
        """Tokens from a random-weight codec, or a random LLM: a pipeline run, never a score."""
        return bool(self.tokens.meta.get("random_weights")) or self.llm.random_weights

    def load(self, split: str, limit: int | None = None) -> Split:
        loaded = load_split(
            self.tokens,
            split,
            limit=limit,
            max_seconds=self.config.training.max_seconds,
            features=self.config.adapter.input,
            feature_source=self.feature_source,
        )
        attach_answers(loaded, self.layout, self.llm.tokenizer)
        return loaded

    def batch(self, split: Split, group: list[int], **kwargs: Any):
        """The collated batch of ``split``'s utterances ``group`` (CPU); ``kwargs`` are :func:`collate`'s.
        Continuous adapter inputs are computed here, per batch; the prior condition needs none."""
        from kodek.lm.model import collate

        utterances = [split.utterances[i] for i in group]
        inputs = split.inputs(utterances) if kwargs.get("audio", True) else None
        return collate(utterances, self.layout, self.factor, inputs=inputs, **kwargs)

    def embedding_rms(self) -> float:
        """RMS of the LLM's input embeddings: the scale the adapter's output starts at."""
        weight = self.llm.model.get_input_embeddings().weight.detach().float()
        return float(weight.pow(2).mean().sqrt())

    def new_adapter(self, split: Split):
        from kodek.lm.adapter import build_adapter

        spec = self.tokens.spec
        return build_adapter(
            self.config.adapter,
            factor=self.factor,
            llm_hidden=self.hidden_size,
            codebook_sizes=spec.codebook_sizes,
            feature_dim=feature_dim(split),
            out_scale=self.embedding_rms(),
        )

    def model(self, adapter, *, lora: bool = False):
        """The SpeechLLM on the session's device; ``lora`` wraps the LLM with the config's LoRA layers first."""
        from kodek.lm.model import SpeechLLM

        llm = apply_lora(self.llm.model, self.config) if lora else self.llm.model
        return SpeechLLM(adapter, llm, self.layout).to(self.device)

    @cached_property
    def tokenizer_fingerprint(self) -> str:
        """sha256 of the LLM tokenizer's vocabulary (once per session: a real LLM's vocabulary is large)."""
        from kodek.lm.llm import tokenizer_fingerprint

        return tokenizer_fingerprint(self.llm.tokenizer)

    def describe_llm(self) -> dict[str, Any]:
        return self.llm.describe()


def apply_lora(model, config: LMConfig):
    """LoRA layers on the frozen LLM (peft), drawn from the adapter seed; the base weights stay frozen."""
    import torch
    from peft import LoraConfig, get_peft_model

    lora = config.lora
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.adapter.seed + 1)
        return get_peft_model(
            model,
            LoraConfig(
                r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules)
            ),
        )


def open_session(
    config: LMConfig,
    tokens: str,
    codec_id: str,
    *,
    device: str = "cpu",
    token: str | bool | None = None,
    revision: str | None = None,
) -> Session:
    from kodek.tokenize.reader import open_tokens

    token_set = open_tokens(tokens, codec_id, revision=revision, token=token)
    llm = load_llm(config.llm, device=device, token=token)
    layout = build_layout(llm.tokenizer, config.prompt)
    factor = stack_factor(token_set.spec.frame_rate, config.adapter.window_ms)
    source = None
    if config.adapter.input == "ssl-features":
        source = ssl_feature_source(token_set, device=device, token=token)
    return Session(config, token_set, llm, layout, factor, device, source)
