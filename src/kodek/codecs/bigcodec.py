"""BigCodec (Xin et al., 2024): one VQ codebook of 8192 at 80 Hz, 16 kHz, in the ``torch-audio`` environment.

The model code comes from the ``bigcodec`` package (a packaging of the authors' ``vq/`` modules by a
third party; it imports torchaudio at module level, hence the environment), installed without its
dependencies. Random weights take the package's default architecture (hop 2x2x2x5x5 = 200); real
weights are the authors' checkpoint ``bigcodec.pt`` in ``Alethia/BigCodec`` (encoder under
``CodecEnc``, decoder and quantiser under ``generator``), read at ``main`` and the resolved commit
recorded. As in the authors' inference script, each utterance is zero-padded to a whole hop.
"""

from __future__ import annotations

import numpy as np

from kodek.codecs.isolated import IsolatedCodec, WorkerCodec, snapshot
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec
from kodek.envs import TORCH_AUDIO

SPEC = CodecSpec(
    id="bigcodec-16khz",
    family="bigcodec",
    kind="acoustic",
    sample_rate=16_000,
    frame_rate=80.0,
    num_codebooks=1,
    codebook_size=8_192,
    checkpoint=Checkpoint("Alethia/BigCodec", "main", loader="bigcodec", note="resolved at run time, commit recorded"),
    license="mit",
    description="BigCodec: one VQ codebook of 8192 at 80 Hz (1.04 kbps), 16 kHz; runs in the torch-audio environment.",
)


class BigCodecCodec(WorkerCodec):
    hop_length = 200

    def __init__(self, spec: CodecSpec, encoder, decoder, **kwargs) -> None:
        import torch

        super().__init__(spec, torch.nn.ModuleDict({"encoder": encoder, "decoder": decoder}), **kwargs)

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        padded = np.zeros(self.num_frames(len(wave)) * self.hop_length, dtype=np.float32)
        padded[: len(wave)] = wave
        latents = self.model["encoder"](self.tensor(padded)[None, None])
        _, codes, _ = self.model["decoder"](latents, vq=True)  # [quantizers, B, F]
        return codes[:, 0].long().cpu().numpy()

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        import torch

        decoder = self.model["decoder"]
        latents = decoder.vq2emb(self.tensor(codes[None], torch.long).transpose(1, 2)).transpose(1, 2)
        return decoder(latents, vq=False)[0].reshape(-1).float().cpu().numpy()


def build_local(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> BigCodecCodec:
    import torch
    from bigcodec import CodecDecoder, CodecEncoder

    torch.manual_seed(seed)
    encoder, decoder = CodecEncoder(), CodecDecoder()
    if random_weights:
        return BigCodecCodec(spec, encoder, decoder, random_weights=True, seed=seed)
    folder, commit = snapshot(spec)
    checkpoint = torch.load(folder / "bigcodec.pt", map_location="cpu", weights_only=True)
    encoder.load_state_dict(checkpoint["CodecEnc"])
    decoder.load_state_dict(checkpoint["generator"])
    return BigCodecCodec(spec, encoder, decoder, random_weights=False, checkpoint_commit=commit)


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> IsolatedCodec:
    return IsolatedCodec(
        spec, TORCH_AUDIO, "kodek.codecs.bigcodec:build_local", random_weights=random_weights, seed=seed
    )


ENTRIES = [CodecEntry(SPEC, "kodek.codecs.bigcodec:build", env=TORCH_AUDIO.name)]
