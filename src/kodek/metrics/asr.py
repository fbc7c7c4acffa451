"""Transcription for the ASR metrics: a pinned multilingual ASR, once per audio, cached on disk.

Two backends behind one interface (``transcribe(waves) -> texts``, 16 kHz input):

- Whisper (``WhisperForConditionalGeneration``; default ``openai/whisper-large-v3`` at a
  pinned revision), language ``pl``, task ``transcribe``, greedy decoding; audio longer
  than Whisper's 30 s window goes through ``generate``'s sequential long-form mode;
- CTC models (``*ForCTC``, e.g. a Polish wav2vec 2.0 / XLS-R fine-tune), greedy argmax
  decoding through the model's processor.

The backend is chosen from the checkpoint's config, so ``--asr-model`` takes any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from kodek.metrics.models import (
    MODEL_RATE,
    ModelRef,
    ModelUnavailable,
    auto_device,
    length_groups,
    missing,
    model_source,
    resolved,
    unavailable,
)

DEFAULT_ASR_MODEL = "openai/whisper-large-v3"
# Commit pinned by several public projects (exact-string search of public GitHub code: Whisper benchmark configs,
# model catalogues, conversion receipts); the commit actually loaded is recorded with the results.
DEFAULT_ASR_REVISION = "06f233fe06e710322aca913c1bc4249a0d71fce1"
LANGUAGE = "pl"
WHISPER_WINDOW_S = 30.0
MIN_SECONDS = 0.1


class AsrBackend(Protocol):
    ref: ModelRef

    def describe(self) -> dict[str, Any]: ...

    def cache_key(self) -> str:
        """Everything that changes the transcripts: model, revision, decoding options."""
        ...

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[Any]:
        """One transcript per 16 kHz wave, or :func:`missing` with the reason."""
        ...


def _too_short(waves: Sequence[np.ndarray]) -> list[Any]:
    return [
        missing(f"too short to transcribe ({len(w) / MODEL_RATE:.3f} s)") if len(w) < MIN_SECONDS * MODEL_RATE else None
        for w in waves
    ]


class WhisperAsr:
    def __init__(
        self,
        model,
        processor,
        ref: ModelRef,
        device: str = "cpu",
        language: str = LANGUAGE,
        max_batch: int = 8,
        max_new_tokens: int = 440,
    ) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.ref = ref
        self.device = device
        self.language = language
        self.max_batch = max_batch
        # Whisper's decoder holds max_length (448) positions; 4 go to the prompt tokens.
        self.max_new_tokens = min(max_new_tokens, int(getattr(model.generation_config, "max_length", 448) or 448) - 4)

    def describe(self) -> dict[str, Any]:
        return {
            **self.ref.describe(),
            "backend": "whisper",
            "language": self.language,
            "task": "transcribe",
            "decoding": "greedy",
        }

    def cache_key(self) -> str:
        return f"asr|whisper|{self.ref.name}|{self.ref.revision}|{self.language}|transcribe|greedy"

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[Any]:
        import torch

        out = _too_short(waves)
        todo = [i for i, o in enumerate(out) if o is None]
        # Whisper pads every input to its 30 s window, so padding a batch changes nothing.
        for group in length_groups([waves[i] for i in todo], self.max_batch, pad=True):
            indices = [todo[g] for g in group]
            batch = [np.asarray(waves[i], dtype=np.float32) for i in indices]
            long_form = max(len(w) for w in batch) > WHISPER_WINDOW_S * MODEL_RATE
            options: dict[str, Any] = (
                {"truncation": False, "padding": "longest", "return_attention_mask": True} if long_form else {}
            )
            inputs = self.processor(batch, sampling_rate=MODEL_RATE, return_tensors="pt", **options)
            features = inputs.input_features.to(self.device, self.model.dtype)
            kwargs: dict[str, Any] = {"language": self.language, "task": "transcribe"}
            if long_form:
                kwargs["attention_mask"] = inputs.attention_mask.to(self.device)
            else:
                kwargs["max_new_tokens"] = self.max_new_tokens
            with torch.inference_mode():
                ids = self.model.generate(features, **kwargs)
            ids = ids.sequences if hasattr(ids, "sequences") else ids
            for i, text in zip(indices, self.processor.batch_decode(ids, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
        return out


class CtcAsr:
    def __init__(self, model, processor, ref: ModelRef, device: str = "cpu", max_batch: int = 8) -> None:
        self.model = model.to(device).eval()
        self.processor = processor
        self.ref = ref
        self.device = device
        self.max_batch = max_batch
        extractor = getattr(processor, "feature_extractor", processor)
        self.pad = getattr(model.config, "feat_extract_norm", "group") == "layer" and bool(
            getattr(extractor, "return_attention_mask", False)
        )

    def describe(self) -> dict[str, Any]:
        return {**self.ref.describe(), "backend": "ctc", "decoding": "greedy"}

    def cache_key(self) -> str:
        return f"asr|ctc|{self.ref.name}|{self.ref.revision}|greedy"

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[Any]:
        import torch

        out = _too_short(waves)
        todo = [i for i, o in enumerate(out) if o is None]
        for group in length_groups([waves[i] for i in todo], self.max_batch, pad=self.pad):
            indices = [todo[g] for g in group]
            inputs = self.processor(
                [np.asarray(waves[i], dtype=np.float32) for i in indices],
                sampling_rate=MODEL_RATE,
                padding=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
            ids = logits.argmax(dim=-1).cpu()
            for i, text in zip(indices, self.processor.batch_decode(ids), strict=True):
                out[i] = text.strip()
        return out


def load_asr(
    name: str | None = None, device: str | None = None, language: str = LANGUAGE, *, local_files_only: bool = False
) -> AsrBackend:
    """A Whisper or CTC checkpoint: a Hub id (``id@revision``; the default is pinned) or a local folder.

    ``local_files_only``: only what the Hub cache holds (fails at once where the Hub is unreachable).
    """
    name = name or DEFAULT_ASR_MODEL
    ref = ModelRef.parse(name, DEFAULT_ASR_REVISION if name == DEFAULT_ASR_MODEL else None)
    device = auto_device(device)
    try:
        source, where = model_source(ref, local_files_only)  # before importing transformers (seconds)
        import torch
        from transformers import AutoConfig, AutoModelForCTC, AutoProcessor

        config = AutoConfig.from_pretrained(source, **where)
        processor = AutoProcessor.from_pretrained(source, **where)
        if config.model_type == "whisper":
            from transformers import WhisperForConditionalGeneration

            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            model = WhisperForConditionalGeneration.from_pretrained(source, dtype=dtype, **where)
            return WhisperAsr(model, processor, resolved(ref, model), device, language)
        if any(a.endswith("ForCTC") for a in config.architectures or []):
            model = AutoModelForCTC.from_pretrained(source, **where)
            return CtcAsr(model, processor, resolved(ref, model), device)
    except (OSError, ValueError, ImportError) as error:
        raise unavailable(ref, error) from error
    raise ModelUnavailable(f"not available: {ref.name} is neither a Whisper nor a CTC speech recognition model")
