"""SoundStream with Google's own weights: the Lyra v2 release (TFLite, Apache-2.0).

Google released SoundStream as Lyra v2's codec: an encoder, a residual vector
quantiser and a decoder ("lyragan"), three TFLite models in the GitHub repository
google/lyra (``lyra/model_coeffs/``, pinned to tag 1.3.2). They run on the CPU with
``ai-edge-litert`` (numpy only, no torch). Facts of the models, measured:

- 16 kHz input scaled as PCM / 32768, hop 320 (20 ms, 50 frames/s); no delay beyond
  the frame: the output is aligned with the input at lag 0.
- Up to 46 residual stages of 4 bits (16-entry codebooks); Lyra's bitrates 3.2 / 6 /
  9.2 kbps use the first 16 / 30 / 46. The quantiser is greedy, so fewer stages are a
  prefix of more. Unused stages are passed to the decoder as -1 (not 0).
- Encoder and decoder are stateful streaming graphs (resource variables): frames are
  fed in order, and only a fresh interpreter resets the state, so every utterance gets
  its own (a batch is then exactly one-by-one encoding).

Weights are read from a folder the caller names, or from kodek's cache, where they are
downloaded on first use from the pinned commit; every file is checked against its
sha256 before use. There is no random-weight build: the graphs carry their weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from functools import cached_property
from pathlib import Path

import numpy as np

from kodek import files
from kodek.codecs.base import CodecBase, CodecError, WeightsUnavailableError
from kodek.codecs.registry import Availability, CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

REPO = "google/lyra"
COMMIT = "47698dadf0010abff6a848e02642f55f806d4842"  # tag 1.3.2
URL = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/lyra/model_coeffs/{{name}}"
SHA256 = {
    "soundstream_encoder.tflite": "237da0b16226fb0a68d49551c81bebf614e42142af72764448359f68581e88f1",
    "quantizer.tflite": "841ee05989687d32d1f616a8ad1419fc7eda37599d3c05c7cf5a0d60ccf8ac5c",
    "lyragan.tflite": "50e7839cda4f30599a3a34cfaddcd9c98449b049eee884e1a74295780448ad06",
}
CHECKPOINT = Checkpoint(
    REPO,
    COMMIT,
    loader="github",
    note="GitHub google/lyra tag 1.3.2, lyra/model_coeffs/*.tflite (not a Hugging Face repo)",
)
SAMPLE_RATE = 16_000
HOP = 320
MAX_STAGES = 46
STAGE_BITS = 4
KBPS = {3.2: 16, 6.0: 30, 9.2: 46}  # Lyra's bitrates -> residual stages used


def _spec(kbps: float) -> CodecSpec:
    stages = KBPS[kbps]
    return CodecSpec(
        id=f"lyra-v2-16khz-{kbps:g}kbps",
        family="soundstream",
        kind="acoustic",
        sample_rate=SAMPLE_RATE,
        frame_rate=SAMPLE_RATE / HOP,
        num_codebooks=stages,
        codebook_size=2**STAGE_BITS,
        checkpoint=CHECKPOINT,
        license="apache-2.0",
        install_extra="lyra",
        description=(
            f"SoundStream, Google's weights (Lyra v2 1.3.2, TFLite) 16 kHz at {kbps:g} kbps: "
            f"{stages} of 46 residual stages x 4 bit, 50 frames/s, no delay beyond the 20 ms frame."
        ),
        options={"num_quantizers": stages},
    )


def cache_dir() -> Path:
    """Where downloaded weights are kept: ``$KODEK_CACHE``, else ``$XDG_CACHE_HOME/kodek``, else ``~/.cache/kodek``."""
    if os.environ.get("KODEK_CACHE"):
        base = Path(os.environ["KODEK_CACHE"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kodek"
    return base / "lyra-v2" / COMMIT


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified(path: Path) -> bytes:
    """The bytes of one model file, after checking them against the pinned sha256."""
    if not path.is_file():
        raise WeightsUnavailableError(f"Lyra v2 weights: {path} is missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[path.name]:
        raise CodecError(
            f"Lyra v2 weights: {path} has sha256 {digest[:16]}..., not the pinned {SHA256[path.name][:16]}... "
            f"of {REPO}@{COMMIT[:12]} (corrupted or another release): delete it and run again"
        )
    return data


def _download(name: str, target: Path) -> None:
    """Fetch one file of the pinned commit into ``target``; it appears only once its sha256 matches."""
    try:
        with files.replacing(target) as partial:
            with urllib.request.urlopen(URL.format(name=name), timeout=60) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
            if _sha256(partial) != SHA256[name]:
                raise CodecError(f"Lyra v2 weights: {URL.format(name=name)} did not match the pinned sha256")
    except OSError as error:
        raise WeightsUnavailableError(
            f"Lyra v2 weights: cannot download {name} from github.com/{REPO} ({type(error).__name__}: {error}); "
            f"run where GitHub is reachable, or copy lyra/model_coeffs/ of {COMMIT[:12]} into {target.parent}",
            short=f"weights github.com/{REPO}@{COMMIT[:12]} could not be downloaded (offline?)",
        ) from error


def install_weights(folder: Path, cache: Path | None = None) -> Path:
    """Copy the model files from a local ``folder`` into the cache after checking their sha256; returns the cache."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        target = cache / name
        if target.is_file() and _sha256(target) == SHA256[name]:
            continue
        files.write_bytes(target, verified(Path(folder) / name))
    return cache


def load_models(folder: Path | None = None) -> dict[str, bytes]:
    """The three verified model files: from ``folder`` when given, else from the cache (downloading what is missing)."""
    if folder is None:
        folder = cache_dir()
        for name in SHA256:
            if not (folder / name).is_file():
                _download(name, folder / name)
    return {name: verified(Path(folder) / name) for name in SHA256}


def weights_availability() -> Availability:
    """``available`` when the cache holds the model files (sizes only; hashes are checked on use)."""
    folder = cache_dir()
    if all((folder / name).is_file() for name in SHA256):
        return Availability("available")
    return Availability(
        "needs-weights",
        f"weights github.com/{REPO}@{COMMIT[:12]} not in {folder} "
        "(downloaded on first use and checked by sha256, 3.5 MB; no random-weight build)",
    )


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=model)


class LyraCodec(CodecBase):
    hop_length = HOP
    batch_invariant = True  # every utterance runs through fresh streaming interpreters of its own

    def __init__(self, spec: CodecSpec, models: dict[str, bytes]) -> None:
        super().__init__(spec, random_weights=False)
        self.models = models
        self.stages = int(spec.options["num_quantizers"])
        quantizer = _interpreter(models["quantizer.tflite"])  # stateless (no variables): one is enough
        self._quantize = quantizer.get_signature_runner("encode")
        self._dequantize = quantizer.get_signature_runner("decode")

    def to(self, device: str) -> LyraCodec:
        return self  # TFLite on the CPU whatever the device asked for

    @cached_property
    def _num_parameters(self) -> int:
        """Elements of the constant float32/int8 tensors of the three graphs (weights and codebooks)."""
        total = 0
        for model in self.models.values():
            interpreter = _interpreter(model)
            ops = interpreter._get_ops_details()
            produced = {index for op in ops for index in op["outputs"]}
            consumed = {index for op in ops for index in op["inputs"]}
            for tensor in interpreter.get_tensor_details():
                index = tensor["index"]
                if index in consumed and index not in produced and tensor["dtype"] in (np.float32, np.int8):
                    total += int(np.prod(tensor["shape"]))
        return total

    def num_parameters(self) -> int:
        return self._num_parameters

    def _encode_one(self, wave: np.ndarray) -> np.ndarray:
        frames = np.pad(wave.astype(np.float32), (0, -len(wave) % HOP)).reshape(-1, HOP)
        encoder = _interpreter(self.models["soundstream_encoder.tflite"]).get_signature_runner()
        stages = np.array(self.stages, dtype=np.int32)
        codes = np.zeros((self.stages, len(frames)), dtype=np.int64)
        for index, frame in enumerate(frames):
            features = encoder(input_audio=frame[None])["output_0"]
            indices = self._quantize(input_frames=features, num_quantizers=stages)["output_0"]
            codes[:, index] = indices.reshape(-1)[: self.stages]
        return codes

    def _decode_one(self, codes: np.ndarray) -> np.ndarray:
        decoder = _interpreter(self.models["lyragan.tflite"]).get_signature_runner()
        indices = np.full((MAX_STAGES, 1, 1), -1, dtype=np.int32)  # -1: stage not used
        out = np.zeros((codes.shape[1], HOP), dtype=np.float32)
        for index in range(codes.shape[1]):
            indices[: self.stages, 0, 0] = codes[:, index]
            features = self._dequantize(encoding_indices=indices)["output_0"]
            out[index] = decoder(input_audio=features)["output_0"][0]
        return out.reshape(-1)

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = self.frame_lengths(lengths)
        codes = np.zeros((len(waves), self.stages, int(frames.max(initial=0))), dtype=np.int64)
        for row, wave, n, f in zip(codes, waves, lengths, frames, strict=True):
            row[:, :f] = self._encode_one(wave[:n])
        return codes, frames

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = self.sample_lengths(frame_lengths)
        waves = np.zeros((len(codes), int(lengths.max(initial=0))), dtype=np.float32)
        for row, item, f, n in zip(waves, codes, frame_lengths, lengths, strict=True):
            row[:n] = self._decode_one(item[:, :f])
        return waves, lengths


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0, weights: Path | None = None) -> LyraCodec:
    """Lyra v2 at ``spec``'s bitrate, with the model files of ``weights`` (a folder) or of kodek's cache."""
    if random_weights:
        raise CodecError(
            f"{spec.id}: no random-weight build (Google's TFLite graphs carry their weights): "
            "run it without --random-weights; the 3.5 MB of weights are downloaded on first use"
        )
    return LyraCodec(spec, load_models(weights))


ENTRIES = [CodecEntry(_spec(kbps), "kodek.codecs.lyra:build", ("ai_edge_litert",)) for kbps in KBPS]
