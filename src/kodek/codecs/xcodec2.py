"""X-Codec2 and NeuCodec through transformers, in the ``torch-audio`` environment.

Both feed a w2v-BERT 2.0 semantic branch with Kaldi filter banks that their transformers feature
extractors compute with ``torchaudio.compliance.kaldi.fbank``, so they run where torchaudio works
(:data:`kodek.envs.TORCH_AUDIO`), in a worker process. One FSQ codebook of 65536 entries at 50 Hz.
X-Codec2's feature extractor pads ``n`` samples (+1) to a whole hop of 320 and gives ``n // 320 + 1``
frames. NeuCodec's semantic branch sees no extra padding, so the model keeps ``n // 320`` frames and drops
a last partial hop: kodek zero-pads each utterance to a whole hop first (as for every codec), which gives
``ceil(n / 320)`` frames. NeuCodec encodes 16 kHz and decodes at 24 kHz; kodek resamples its output to
16 kHz (soxr) so that reconstructions come at the spec's rate, as for every codec.

The Hub checkpoints (``HKUSTAudio/xcodec2-hf``, ``neuphonic/neucodec``, the ids transformers' own
docs use) are read at ``main``: no public source confirms a commit, so the commit it resolves to
is recorded in ``codec.json`` (``checkpoint_commit``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kodek.codecs.isolated import IsolatedCodec, WorkerCodec, random_transformers_model, snapshot
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import TORCH_AUDIO

XCODEC2 = CodecSpec(
    id="xcodec2",
    family="xcodec2",
    kind="semantic",
    sample_rate=16_000,
    frame_rate=50.0,
    num_codebooks=1,
    codebook_size=65_536,  # FSQ, 8 dimensions x 4 levels
    checkpoint=Checkpoint("HKUSTAudio/xcodec2-hf", "main", note="resolved at run time, commit recorded"),
    license="cc-by-nc-4.0",
    description="X-Codec2: one FSQ codebook of 65536 at 50 Hz (0.8 kbps), w2v-BERT 2.0 semantic branch; "
    "runs in the torch-audio environment.",
)
NEUCODEC = CodecSpec(
    id="neucodec",
    family="neucodec",
    kind="semantic",
    sample_rate=16_000,
    frame_rate=50.0,
    num_codebooks=1,
    codebook_size=65_536,
    checkpoint=Checkpoint("neuphonic/neucodec", "main", note="resolved at run time, commit recorded"),
    license="apache-2.0",
    description="NeuCodec: one FSQ codebook of 65536 at 50 Hz (0.8 kbps), 16 kHz in, 24 kHz out (resampled to "
    "16 kHz); runs in the torch-audio environment.",
)


class FsqCodec(WorkerCodec):
    """One utterance at a time through the feature extractor (the model's own padding)."""

    hop_length = 320

    def __init__(self, spec: CodecSpec, model: Any, extractor: Any, *, output_rate: int, **kwargs: Any) -> None:
        super().__init__(spec, model, **kwargs)
        self.extractor = extractor
        self.output_rate = output_rate

    def num_frames(self, num_samples: int) -> int:
        if self.spec.family == "neucodec":
            return -(-num_samples // self.hop_length)
        return num_samples // self.hop_length + 1

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        if self.spec.family == "neucodec":  # a whole hop, so that the last partial hop is kept
            wave = np.pad(wave, (0, -len(wave) % self.hop_length))
        inputs = self.extractor(audio=wave, sampling_rate=self.spec.sample_rate, return_tensors="pt")
        codes = self.model.encode(
            self.tensor(inputs["input_values"].numpy()), self.tensor(inputs["input_features"].numpy())
        ).audio_codes
        return codes[0].long().cpu().numpy()  # [1, F]

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        wave = self.model.decode(self.tensor(codes[None], torch.long)).audio_values.reshape(-1)
        wave = wave.float().cpu().numpy()
        if self.output_rate != self.spec.sample_rate:
            import soxr

            wave = soxr.resample(wave, self.output_rate, self.spec.sample_rate).astype(np.float32)
        return wave


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> FsqCodec:
    """Inside the environment: the transformers model, seeded random or from the Hub."""
    import torch
    import transformers

    names = {"xcodec2": "Xcodec2", "neucodec": "NeuCodec"}[spec.family]
    model_class = getattr(transformers, f"{names}Model")
    extractor_class = getattr(transformers, f"{names}FeatureExtractor")
    facts: dict[str, Any] = {}
    if random_weights:
        torch.manual_seed(seed)
        config = getattr(transformers, f"{names}Config")()
        model, extractor = random_transformers_model(model_class, config), extractor_class()
    else:
        folder, commit = snapshot(spec)
        model, extractor = model_class.from_pretrained(folder), extractor_class.from_pretrained(folder)
        config, facts = model.config, {"checkpoint_commit": commit}
    output_rate = getattr(config, "output_sampling_rate", spec.sample_rate)
    return FsqCodec(spec, model, extractor, output_rate=output_rate, random_weights=random_weights, seed=seed, **facts)


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    return IsolatedCodec(
        spec, TORCH_AUDIO, "kodek.codecs.xcodec2:build_local", random_weights=random_weights, seed=seed
    )


ENTRIES = [CodecEntry(spec, "kodek.codecs.xcodec2:build", env=TORCH_AUDIO.name) for spec in (XCODEC2, NEUCODEC)]
