"""SoundStream at 16 kHz: ESPnet's open checkpoint ``espnet/amuse_soundstream16k``.

Google released no SoundStream weights. kodek uses ESPnet's re-implementation
trained by the ESPnet team on AMUSE (multilingual speech, music and general
audio; recipe ``egs2/amuse/codec1``, config ``train_soundstream4_fs16000.yaml``):
a SEANet encoder/decoder (strides 8-5-4-2, so 50 frames/s at 16 kHz) with a
32-stage residual VQ of 1024 entries (0.5 kbps per stage) trained with
bandwidths 2/4/8/16 kbps. Every output says "ESPnet SoundStream": it is not
Google's model.

The ``espnet`` package is installed without its dependencies (it pins many
unrelated ones); the SoundStream generator needs only einops, humanfriendly,
librosa, torch-complex and typeguard (the ``soundstream`` extra). The encoder is
non-causal, so utterances are encoded one at a time (``batch_invariant = False``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np

from kodek.codecs.base import TorchCodec, WeightsUnavailableError
from kodek.codecs.init import calibration_audio, load_pretrained, seed_residual_codebooks, shared
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

CHECKPOINT = Checkpoint(
    "espnet/amuse_soundstream16k",
    "main",
    loader="espnet",
    note="ESPnet's SoundStream (not Google's); Hub commit 9f6296d when registered, full sha not resolvable offline",
)
# codec_conf.generator_params of egs2/amuse/codec1/conf/train_soundstream4_fs16000.yaml
GENERATOR = {
    "hidden_dim": 512,
    "encdec_channels": 1,
    "encdec_n_filters": 32,
    "encdec_n_residual_layers": 3,
    "encdec_ratios": [8, 5, 4, 2],
    "encdec_activation": "ELU",
    "encdec_activation_params": {"alpha": 1.0},
    "encdec_norm": "weight_norm",
    "encdec_kernel_size": 7,
    "encdec_residual_kernel_size": 7,
    "encdec_last_kernel_size": 7,
    "encdec_dilation_base": 2,
    "encdec_causal": False,
    "encdec_pad_mode": "reflect",
    "encdec_true_skip": False,
    "encdec_compress": 2,
    "encdec_lstm": 2,
    "decoder_trim_right_ratio": 1.0,
    "decoder_final_activation": None,
    "decoder_final_activation_params": None,
    "quantizer_n_q": 32,
    "quantizer_bins": 1024,
    "quantizer_decay": 0.99,
    "quantizer_kmeans_init": True,
    "quantizer_kmeans_iters": 50,
    "quantizer_threshold_ema_dead_code": 2,
    "quantizer_target_bandwidth": [2, 4, 8, 16, 32],
}
PREFIX = "codec.generator."  # of the generator's weights in ESPnet's GAN codec checkpoint


def _spec(kbps: int) -> CodecSpec:
    stages = kbps * 2  # 0.5 kbps per stage: 50 frames/s x 10 bit
    return CodecSpec(
        id=f"soundstream-espnet-16khz-{kbps}kbps",
        family="soundstream",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=50.0,
        num_codebooks=stages,
        codebook_size=1024,
        checkpoint=CHECKPOINT,
        license="cc-by-4.0",
        install_extra="soundstream",
        description=f"SoundStream (ESPnet re-implementation, AMUSE data) 16 kHz at {kbps} kbps ({stages} RVQ stages).",
        options={"bandwidth": kbps},
    )


class SoundStreamCodec(TorchCodec):
    hop_length = 320
    batch_invariant = False  # non-causal convolutions see past the end of a padded item

    def __init__(self, spec: CodecSpec, generator, *, random_weights: bool) -> None:
        super().__init__(spec, random_weights=random_weights)
        self.model = generator.eval()
        self.bandwidth = float(spec.options["bandwidth"])

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            codes = self.model.encode(self.tensor(waves)[:, None, :], target_bw=self.bandwidth)  # [K, B, F]
        return codes.permute(1, 0, 2).cpu().numpy().astype(np.int64), self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            waves = self.model.decode(self.tensor(codes, torch.long).permute(1, 0, 2))[:, 0]
        return waves.float().cpu().numpy(), self.sample_lengths(frame_lengths)


def _generator(params: dict, sample_rate: int):
    from espnet2.gan_codec.soundstream.soundstream import SoundStreamGenerator

    return SoundStreamGenerator(sample_rate=sample_rate, **params)


def _random_generator(seed: int):
    import torch

    torch.manual_seed(seed)
    generator = _generator(GENERATOR, 16_000).eval()
    layers = generator.quantizer.vq.layers
    wave = torch.from_numpy(calibration_audio(16_000, 2.0, seed=seed))[None, None]
    with torch.no_grad():
        vectors = generator.encoder(wave)[0].T  # [F, hidden_dim]

        def assign(stage: int, embed) -> None:
            codebook = layers[stage]._codebook
            codebook.embed.copy_(embed)
            codebook.embed_avg.copy_(embed)
            codebook.inited.fill_(1.0)  # never k-means-initialise inside a forward

        seed_residual_codebooks(vectors, [GENERATOR["quantizer_bins"]] * len(layers), assign, seed=seed)
    return generator


def _pretrained_generator(spec: CodecSpec):
    """Build the generator from the checkpoint's own config.yaml and load its weights."""
    import torch
    import yaml
    from huggingface_hub import HfApi, hf_hub_download

    ckpt = spec.checkpoint
    files = HfApi().list_repo_files(ckpt.repo, revision=ckpt.revision)
    config = next((f for f in files if PurePosixPath(f).name == "config.yaml" and f.startswith("exp")), None)
    weights = next((f for f in files if f.endswith(".pth") and f.startswith("exp")), None)
    if config is None or weights is None:
        raise WeightsUnavailableError(f"{spec.id}: no exp*/config.yaml + *.pth in {ckpt.repo}@{ckpt.revision}")
    with open(hf_hub_download(ckpt.repo, config, revision=ckpt.revision), encoding="utf-8") as handle:
        codec_conf = yaml.safe_load(handle)["codec_conf"]
    generator = _generator(codec_conf["generator_params"], codec_conf["sampling_rate"])
    state = torch.load(hf_hub_download(ckpt.repo, weights, revision=ckpt.revision), map_location="cpu")
    generator.load_state_dict({k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)})
    return generator


def build(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> SoundStreamCodec:
    if random_weights:
        return SoundStreamCodec(
            spec, shared(("soundstream", seed), lambda: _random_generator(seed)), random_weights=True
        )
    ckpt = spec.checkpoint
    generator = load_pretrained(lambda: _pretrained_generator(spec), spec.id, ckpt.repo, ckpt.revision)
    return SoundStreamCodec(spec, generator, random_weights=False)


ENTRIES = [
    CodecEntry(_spec(kbps), "kodek.codecs.soundstream:build", ("torch", "espnet2", "einops", "librosa", "typeguard"))
    for kbps in (2, 4, 8, 16)
]
