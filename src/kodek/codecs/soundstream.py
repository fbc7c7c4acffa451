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
non-causal, so utterances are encoded one at a time (``padding_exact = False``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np

from kodek.codecs.base import TorchCodec, WeightsUnavailableError
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
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
        description=f"SoundStream (ESPnet re-implementation, AMUSE data) 16 kHz at {kbps} kbps ({stages} RVQ stages).",
        options={"bandwidth": kbps},
    )


class SoundStreamCodec(TorchCodec):
    hop_length = 320
    requires = ("torch", "espnet2", "einops", "librosa", "typeguard")
    install_extra = "soundstream"

    def _encode(self, batch, lengths: np.ndarray):
        codes = self.model.encode(batch, target_bw=float(self.spec.options["bandwidth"]))  # [K, B, F]
        return codes.permute(1, 0, 2)

    def _decode(self, codes):
        return self.model.decode(codes.permute(1, 0, 2))

    @classmethod
    def random_model(cls, spec: CodecSpec, seed: int):
        import torch

        torch.manual_seed(seed)
        generator = _generator(GENERATOR, 16_000).eval()
        wave = torch.from_numpy(calibration_audio(16_000, 2.0, seed=seed))[None, None]
        with torch.no_grad():
            vectors = generator.encoder(wave)[0].T  # [F, hidden_dim]
            layers = generator.quantizer.vq.layers
            seed_residual_codebooks(vectors, [layer._codebook for layer in layers], seed=seed)
        return generator

    @classmethod
    def pretrained_model(cls, spec: CodecSpec):
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


def _generator(params: dict, sample_rate: int):
    from espnet2.gan_codec.soundstream.soundstream import SoundStreamGenerator

    return SoundStreamGenerator(sample_rate=sample_rate, **params)


ENTRIES = SoundStreamCodec.entries(_spec(kbps) for kbps in (2, 4, 8, 16))
