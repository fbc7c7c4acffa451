"""The frozen causal LM and its tokenizer: a Hub checkpoint (Bielik) or the tiny random stand-in.

A Hub model is fetched as a snapshot at the configured revision; the snapshot's
commit is what kodek records (so "main" in a config still yields a pinned run).
``tiny-random`` is a Llama-architecture model of a few layers built from a config
with seeded random weights, with a byte-level BPE tokenizer trained on the bundled
Polish sample's text and a ChatML chat template: everything offline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kodek.errors import KodekError
from kodek.lm.config import TINY_LLM, LLMConfig, TinyLLMConfig

TINY_REVISION = "kodek-tiny-1"  # the recipe below; bump when it changes
CHATML_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


class LLMError(KodekError, RuntimeError):
    """The LLM cannot be loaded (no network, gated, unknown revision)."""


@dataclass
class LoadedLLM:
    model: Any  # transformers PreTrainedModel (causal LM), frozen
    tokenizer: Any
    id: str
    revision: str | None  # the commit actually loaded (tiny: the recipe version)
    requested_revision: str | None
    random_weights: bool

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "requested_revision": self.requested_revision,
            "params": self.params,
            "random_weights": self.random_weights,
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
        }


def resolve_dtype(name: str, device: str):
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def load_llm(config: LLMConfig, *, device: str = "cpu", token: str | bool | None = None) -> LoadedLLM:
    """The frozen LLM (no parameter requires grad) and its tokenizer, in eval mode on ``device``."""
    dtype = resolve_dtype(config.dtype, device)
    if config.id == TINY_LLM:
        model, tokenizer = build_tiny_llm(config.tiny)
        loaded = LoadedLLM(model.to(dtype), tokenizer, TINY_LLM, TINY_REVISION, TINY_REVISION, True)
    else:
        loaded = _load_pretrained(config, dtype, token)
    model = loaded.model.to(device)
    model.requires_grad_(False)
    model.eval()
    if config.gradient_checkpointing:  # takes effect in training only: see kodek.lm.train.training_mode
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x's name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if loaded.tokenizer.chat_template is None:
        raise LLMError(f"{loaded.id} has no chat template: kodek prompts an instruction-tuned chat model")
    return loaded


def _load_pretrained(config: LLMConfig, dtype, token) -> LoadedLLM:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(config.id)
    if path.is_dir():  # a local model folder: its revision is whatever the folder says it is
        folder, commit = path, config.revision
    else:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(
                snapshot_download(config.id, revision=config.revision, token=token, allow_patterns=SNAPSHOT_FILES)
            )
        except Exception as error:  # network, gating, unknown revision: one clear message
            raise LLMError(
                f"cannot fetch {config.id}@{config.revision} ({type(error).__name__}: {error}). Run where the "
                "Hugging Face Hub is reachable (log in for gated models), or use llm.id: tiny-random offline"
            ) from error
        commit = folder.name  # snapshots/<commit>
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    return LoadedLLM(model, tokenizer, config.id, commit, config.revision, False)


def tiny_corpus() -> list[str]:
    """The text the tiny tokenizer is trained on: the bundled sample's transcripts and kodek's prompt."""
    from kodek.data.sample import load_sample
    from kodek.lm.config import DEFAULT_INSTRUCTION

    texts = [t for t in load_sample()["ref_orig"] if t]
    return [*texts, DEFAULT_INSTRUCTION, "system user assistant"]


def build_tiny_tokenizer(vocab_size: int = 400):
    """Byte-level BPE (any text encodes, no unknown token) with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(tiny_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_llm(config: TinyLLMConfig):
    """A Llama-architecture causal LM with seeded random weights and the tiny tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer(config.vocab_size)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=config.tie_word_embeddings,
        initializer_range=config.initializer_range,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(llama)
    return model.eval(), tokenizer


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's vocabulary: a checkpoint is only used with the tokenizer it was trained with."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(repr(vocab).encode()).hexdigest()[:16]
