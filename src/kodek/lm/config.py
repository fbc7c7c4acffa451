"""SpeechLLM run configuration: what a config file (``kodek/lm/configs/<name>.yaml``) holds, with defaults.

Plain dataclasses (no torch): a config file overrides any subset of the fields,
unknown keys are refused (a typo must not silently fall back to a default), and
the resolved config is stored with every checkpoint and result.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kodek.errors import KodekError

DEFAULT_LLM = "speakleash/Bielik-1.5B-v3.0-Instruct"
# No commit of this repository could be confirmed offline: "main" is resolved to its commit when the
# snapshot is downloaded, and that commit is what checkpoints and results record (``llm.revision``).
DEFAULT_LLM_REVISION = "main"
TINY_LLM = "tiny-random"  # a few-layer random causal LM built from a config (tests, offline demo, benchmarks)

# Polish: "Write down exactly the words spoken in the recording."
DEFAULT_INSTRUCTION = "Zapisz dokładnie słowa wypowiedziane w nagraniu."
AUDIO_PLACEHOLDER = "<|kodek_audio|>"  # replaced by the projected audio; never tokenized


class ConfigError(KodekError, ValueError):
    """A config file or value kodek cannot use."""


@dataclass
class TinyLLMConfig:
    """Size of the ``tiny-random`` LLM (a Llama-architecture model with random weights)."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vocab_size: int = 400  # target size of the byte-level BPE trained on the bundled sample's text
    # Weights drawn wider than transformers' 0.02, and the output head tied to the input embeddings: with
    # 0.02 the random LM's next-token distribution is near-uniform whatever its input, so no adapter could
    # move it, and the offline pipeline could not show that training an adapter works.
    initializer_range: float = 0.2
    tie_word_embeddings: bool = True
    seed: int = 0


@dataclass
class LLMConfig:
    id: str = DEFAULT_LLM
    revision: str | None = DEFAULT_LLM_REVISION
    dtype: str = "auto"  # auto: bfloat16 where the device supports it, else float32
    gradient_checkpointing: bool = False  # trades compute for memory on large LLMs
    attn_implementation: str | None = None  # e.g. "sdpa", "flash_attention_2"
    tiny: TinyLLMConfig = field(default_factory=TinyLLMConfig)


@dataclass
class PromptConfig:
    system: str | None = None
    instruction: str = DEFAULT_INSTRUCTION


@dataclass
class AdapterConfig:
    # codes: one embedding table per codebook, summed per frame.
    # centroids / ssl-features (SSL k-means codecs only, an ablation): continuous vectors per frame through
    # LayerNorm + Linear; the k-means centroid of each code, or the SSL model's layer features of the audio.
    input: str = "codes"
    window_ms: float = 80.0  # frames grouped to this window, so every codec reaches the LLM at one rate
    # Each window's frames are resampled to this many slots (adaptive average pooling over time) before the
    # projector, so the projector's width is slots x embed_dim for every codec, whatever its frame rate.
    slots: int = 8
    embed_dim: int = 256
    projector_hidden: int = 2048
    dropout: float = 0.1
    seed: int = 0  # the `init` adapter is the one this seed builds


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class TrainingConfig:
    train_split: str = "train"
    validation_split: str = "validation"
    seed: int = 0
    # Utterances per optimizer step, whatever the allocation: per-process micro-batch x accumulation x
    # processes must equal it (refused otherwise), so results do not depend on the number of GPUs.
    global_batch: int = 32
    batch_size: int = 8  # utterances per micro-batch on one process
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_steps: int | None = None  # optimizer steps; None: max_epochs of the train split
    max_epochs: int = 10
    eval_every: int | None = 500  # optimizer steps between validation runs; None: once per epoch
    patience: int = 5  # validation runs without improvement before stopping
    min_delta: float = 0.0  # improvement of validation NLL per token that counts
    max_grad_norm: float = 1.0
    # Utterances with more seconds of audio are skipped (listed and counted) in every split: a limit in
    # seconds, not codec frames, keeps the same utterances for every codec.
    max_seconds: float | None = None
    limit: int | None = None  # only the first N utterances of each split (smoke tests)


@dataclass
class EvalConfig:
    split: str = "test"
    batch_size: int = 8
    max_new_tokens: int = 128  # greedy decoding for the CER/WER sanity check
    greedy_conditions: list[str] = field(default_factory=lambda: ["prior", "init", "trained"])
    limit: int | None = None


@dataclass
class SpeechLMConfig:
    """The speech-only LM over codes (``kodek lm speech``): a small causal transformer trained from scratch."""

    dim: int = 256
    layers: int = 4
    heads: int = 4
    # Longer utterances are cut into chunks of this many seconds of audio (the same span for every codec);
    # a codec whose chunk would exceed max_context_frames is refused rather than given a shorter context.
    context_s: float = 10.0
    max_context_frames: int = 2048
    batch_size: int = 16
    lr: float = 3e-4
    max_steps: int = 3000
    eval_every: int = 200
    patience: int = 3
    seed: int = 0
    limit: int | None = None  # only the first N utterances of each split (smoke tests)


@dataclass
class LMConfig:
    name: str = "bielik-1.5b"
    llm: LLMConfig = field(default_factory=LLMConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    speech_lm: SpeechLMConfig = field(default_factory=SpeechLMConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LMConfig:
        return _build(cls, data, "")


def _build(cls: type, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        default = cls.__dataclass_fields__[name].default_factory  # type: ignore[attr-defined]
        nested = default() if callable(default) else None
        if dataclasses.is_dataclass(nested):
            kwargs[name] = _build(type(nested), value or {}, f"{where}{name}.")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> LMConfig:
    """A YAML config (a path, or the name of a config shipped with kodek) over the defaults."""
    data: dict[str, Any] = {}
    if path is not None:
        found = resolve_config_path(path)
        data = yaml.safe_load(found.read_text(encoding="utf-8")) or {}
        data.setdefault("name", found.name.removesuffix(".yaml").removesuffix(".yml"))
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    config = LMConfig.from_dict(data)
    validate_config(config)
    return config


def resolve_config_path(path: str | Path):
    """A YAML file, or the name of a config shipped with kodek (package data: found in any install)."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    folder = bundled_configs()
    for name in (str(path), f"{path}.yaml"):
        if "/" not in name and (folder / name).is_file():
            return folder / name
    known = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    raise ConfigError(f"no config {path!r} (a YAML file, or one of: {', '.join(known) or 'none found'})")


def bundled_configs():
    """The folder of the configs kodek ships (``kodek/lm/configs``), through importlib.resources."""
    from importlib.resources import files

    return files("kodek.lm") / "configs"


def batch_plan(training: TrainingConfig, processes: int) -> int:
    """Micro-batches each process accumulates per optimizer step, so that batch_size x accumulation x
    processes is the configured global batch; refused when it does not divide."""
    per_round = training.batch_size * processes
    if training.global_batch % per_round:
        raise ConfigError(
            f"training.global_batch={training.global_batch} cannot be split over {processes} process(es) of "
            f"training.batch_size={training.batch_size} (it must be a multiple of {per_round}): "
            "change training.batch_size or the number of processes"
        )
    return training.global_batch // per_round


def validate_config(config: LMConfig) -> None:
    if config.adapter.input not in ("codes", "centroids", "ssl-features"):
        raise ConfigError(f"adapter.input must be codes, centroids or ssl-features, not {config.adapter.input!r}")
    if config.adapter.window_ms <= 0:
        raise ConfigError("adapter.window_ms must be positive")
    training = config.training
    if training.batch_size < 1 or training.global_batch < 1:
        raise ConfigError("training.batch_size and training.global_batch must be at least 1")
    if training.global_batch % training.batch_size:
        raise ConfigError(
            f"training.global_batch={training.global_batch} is not a multiple of training.batch_size="
            f"{training.batch_size}"
        )
    if training.max_seconds is not None and training.max_seconds <= 0:
        raise ConfigError("training.max_seconds must be positive (or null: no limit)")
    if config.adapter.slots < 1:
        raise ConfigError("adapter.slots must be at least 1")
    if config.speech_lm.context_s <= 0:
        raise ConfigError("speech_lm.context_s must be positive")
    unknown = set(config.eval.greedy_conditions) - {"prior", "init", "trained"}
    if unknown:
        raise ConfigError(f"eval.greedy_conditions: unknown condition(s) {sorted(unknown)}")
    if config.llm.dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise ConfigError(f"llm.dtype must be auto, float32, bfloat16 or float16, not {config.llm.dtype!r}")


def context_frames(frame_rate: float, seconds: float) -> int:
    """Codec frames in ``seconds`` of audio (at least 1)."""
    return max(1, math.floor(frame_rate * seconds + 0.5))


def stack_factor(frame_rate: float, window_ms: float) -> int:
    """Codec frames per LLM position: round(frame_rate x window), at least 1 (75 Hz, 80 ms -> 6)."""
    # Half-up rounding: Python's round() rounds halves to even, which would make 62.5 Hz x 80 ms -> 5 vs 6
    # depend on parity rather than on the rate.
    return max(1, math.floor(frame_rate * window_ms / 1000 + 0.5))


def windows(num_frames: int, factor: int) -> int:
    """LLM positions for ``num_frames`` codec frames: the last, partial window is padded, never dropped."""
    return -(-num_frames // factor)
