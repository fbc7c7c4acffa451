"""FunCodec (Du et al., 2023): the EnCodec-style 16 kHz model with 32 RVQ codebooks of 1024 at 25 Hz.

The ``funcodec`` package pins a dependency that does not build on Python 3.11, so the family runs in its
own environment (:data:`kodek.envs.FUNCODEC`), in a worker process. The model is built as FunCodec's
inference does: ``Speech2Token`` (``funcodec.bin.codec_inference``) from a ``config.yaml``, called with
``run_mod="encode"`` / ``"decode"`` and a bit rate that selects the codebooks (250 bit/s each). Real
weights are ``config.yaml`` + ``model.pth`` from ``alibaba-damo/audio_codec-encodec-zh_en-general-16k-
nq32ds640-pytorch``, read at ``main`` and the resolved commit recorded; random weights take kodek's copy
of the architecture (``configs/funcodec-16k-ds640.yaml``, numbers from FunCodec's recipe).

Each utterance is encoded alone (the model divides it by its RMS, so padding would change the codes) into
``ceil(n / 640)`` frames, and decodes to ``frames x 640`` samples. The codes do not carry that RMS: as in
FunCodec's own decoding stage, the decoder's output is not rescaled to the input's level, only brought
under a peak of 0.99 the way FunCodec writes its WAVs.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs.base import CodecError
from kodek.codecs.isolated import IsolatedCodec, WorkerCodec, snapshot
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import FUNCODEC

CONFIG = Path(__file__).parent / "configs" / "funcodec-16k-ds640.yaml"
REPO = "alibaba-damo/audio_codec-encodec-zh_en-general-16k-nq32ds640-pytorch"
HOP = 640
PEAK = 0.99  # FunCodec's save_audio(rescale=True) limit
GENERATOR = ("encoder.", "quantizer.", "decoder.")


def _spec(codebooks: int) -> CodecSpec:
    return CodecSpec(
        id=f"funcodec-16khz-ds640-{codebooks}cb",
        family="funcodec",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=16_000 / HOP,
        num_codebooks=codebooks,
        codebook_size=1024,
        checkpoint=Checkpoint(REPO, "main", loader="funcodec", note="resolved at run time, commit recorded"),
        license="mit",
        description=f"FunCodec EnCodec-style 16 kHz, 25 Hz (downsampling 640), {codebooks} of 32 RVQ codebooks "
        f"({codebooks * 0.25:g} kbps); runs in the funcodec environment.",
        options={"num_codebooks": codebooks},
    )


class FunCodecCodec(WorkerCodec):
    hop_length = HOP

    def __init__(self, spec: CodecSpec, speech2token: Any, **kwargs: Any) -> None:
        super().__init__(spec, speech2token.model, **kwargs)
        self.speech2token = speech2token
        quantizer = speech2token.model.quantizer
        # FunCodec chooses the number of codebooks from a bit rate: log2(size) bits x frame rate each
        per_codebook = math.log2(quantizer.codebook_size) * quantizer.sampling_rate / quantizer.encoder_hop_length
        self.bit_width = int(spec.num_codebooks * per_codebook)

    def to(self, device: str, dtype: Any = None) -> FunCodecCodec:
        super().to(device, dtype)
        self.speech2token.device = device  # Speech2Token moves its inputs there
        return self

    def num_parameters(self) -> int:
        """The encoder, quantiser and decoder (FunCodec's published count adds its training discriminator)."""
        return sum(p.numel() for p in self.model.generator.parameters())

    def describe(self) -> dict[str, Any]:
        discriminator = self.model.discriminator
        extra = sum(p.numel() for p in discriminator.parameters()) if discriminator is not None else 0
        from importlib.metadata import version

        facts = {"funcodec": version("funcodec"), "bit_width": self.bit_width, "discriminator_parameters": extra}
        return {**super().describe(), **facts}

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        indices = self.speech2token(self.tensor(wave)[None], bit_width=self.bit_width, run_mod="encode")[0]
        return indices[0][:, 0].long().cpu().numpy()  # one segment: [K, B=1, F] -> [K, F]

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        tokens = self.tensor(np.ascontiguousarray(codes.T)[None], torch.long)  # [B=1, F, K]
        wave = self.speech2token(tokens, bit_width=self.bit_width, run_mod="decode")[2].reshape(-1)
        wave = wave.float().cpu().numpy()
        peak = float(np.abs(wave).max(initial=0.0))
        return wave * min(PEAK / peak, 1.0) if peak > 0 else wave


def _speech2token(config: dict[str, Any]) -> Any:
    """FunCodec's ``Speech2Token`` from a config, without weights. The multi-scale mel losses are left out:
    they are used only in training, and FunCodec builds them on CUDA, which fails on a CPU-only machine."""
    import yaml
    from funcodec.bin.codec_inference import Speech2Token

    config = {**config, "model_conf": {**config["model_conf"], "multi_spectral_window_powers_of_two": []}}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return Speech2Token(config_file=path, model_file=None, device="cpu")


def _check_model(spec: CodecSpec, model: Any) -> None:
    """The model built from a config must be the spec's: rate, hop, codebook size, enough codebooks."""
    quantizer = model.quantizer
    found = (quantizer.sampling_rate, quantizer.encoder_hop_length, quantizer.codebook_size)
    expected = (spec.sample_rate, round(spec.sample_rate / spec.frame_rate), spec.codebook_size)
    if found != expected or quantizer.rq.n_q < spec.num_codebooks:
        raise CodecError(
            f"{spec.id}: the config builds a model of rate, hop, codebook size {found} with {quantizer.rq.n_q} "
            f"codebooks, not the spec's {expected} with {spec.num_codebooks}"
        )


def _seed_codebooks(model: Any, seed: int) -> None:
    """Random weights: FunCodec's codebooks start empty and k-means-initialise on the first batch they see,
    which would make codes depend on what is encoded first. Seed them once from a calibration signal."""
    import torch

    from kodek.codecs.init import calibration_audio, seed_residual_codebooks

    rvq = model.quantizer.rq.model

    class Stage(torch.nn.Module):  # one stage's views of the stacked codebook buffers
        def __init__(self, index: int) -> None:
            super().__init__()
            for name in ("embed", "embed_avg", "inited"):
                self.register_buffer(name, getattr(rvq, name)[index])

    wave = torch.from_numpy(calibration_audio(16_000, 8.0, seed=seed))[None, None]
    with torch.no_grad():
        vectors = model._encode(wave)[0][0][0]  # one segment, (embedding [B, F, D], scale) -> [F, D]
        seed_residual_codebooks(vectors, [Stage(i) for i in range(len(rvq.layers))], seed=seed)


def _load_generator(spec: CodecSpec, model: Any, path: Path) -> None:
    """Load ``model.pth``; FunCodec silently skips missing or mis-shaped keys, kodek refuses them."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [key for key in model.load_state_dict(state, strict=False).missing_keys if key.startswith(GENERATOR)]
    if missing:
        raise CodecError(f"{spec.id}: {path.name} lacks {len(missing)} weights of the model, e.g. {missing[0]}")
    if not bool(model.quantizer.rq.model.inited.all()):  # else the codebooks would k-means on the first input
        raise CodecError(f"{spec.id}: {path.name} holds codebooks that were never initialised")


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> FunCodecCodec:
    """Inside the environment: FunCodec's model from kodek's config (seeded) or from the checkpoint."""
    import torch
    import yaml

    torch.manual_seed(seed)
    facts: dict[str, Any] = {}
    if random_weights:
        config = yaml.safe_load(CONFIG.read_text())
    else:
        folder, commit = snapshot(spec)
        config, facts = yaml.safe_load((folder / "config.yaml").read_text()), {"checkpoint_commit": commit}
    speech2token = _speech2token(config)
    _check_model(spec, speech2token.model)
    if random_weights:
        _seed_codebooks(speech2token.model, seed)
    else:
        _load_generator(spec, speech2token.model, folder / "model.pth")
    speech2token.model.eval()
    return FunCodecCodec(spec, speech2token, random_weights=random_weights, seed=seed, **facts)


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    return IsolatedCodec(spec, FUNCODEC, "kodek.codecs.funcodec:build_local", random_weights=random_weights, seed=seed)


ENTRIES = [CodecEntry(_spec(k), "kodek.codecs.funcodec:build", env=FUNCODEC.name) for k in (16, 32)]
