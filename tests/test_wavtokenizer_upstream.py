"""WavTokenizer 75 tokens/s: the authors' Lightning checkpoint layout converts into transformers' model.

The authors' checkpoint cannot be downloaded here, so a state dict in their naming is built independently of
kodek's converter: the encoder, the (unused) SEANet decoder and the quantizer are Meta's ``encodec`` modules,
which WavTokenizer's ``encoder/`` package copies (same module tree, same names), built with the arguments of
WavTokenizer's ``EncodecFeatures`` for 75 tokens/s; the Vocos backbone and ISTFT head are re-declared below from
the authors' ``decoder/models.py``, ``decoder/modules.py`` and ``decoder/heads.py`` (names and shapes only);
one discriminator and one loss tensor stand for the training-only parts of the Lightning module.
"""

from __future__ import annotations

import numpy as np
import pytest

from kodek.codecs.base import WeightsUnavailableError
from kodek.codecs.init import calibration_audio, seed_residual_codebooks
from test_conformance import authors_encodec

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = pytest.mark.slow  # a 72M-parameter model built and run for seconds

HOP, N_FFT, DIM, INTERMEDIATE, LAYERS, EMBEDDINGS, LATENT = 320, 1280, 768, 2304, 12, 4, 512
TRAINING_ONLY = {
    "multiperioddisc.discriminators.0.convs.0.weight_v": (32, 1, 5, 1),
    "melspec_loss.mel_spec.mel_scale.fb": (513, 100),
}


def authors_encodec_part():
    """``EncodecFeatures(dowmsamples=[8, 5, 4, 2], vq_bins=4096, num_quantizers=1)``'s EnCodec model."""
    model = authors_encodec()
    seanet = dict(
        causal=False, n_residual_layers=1, norm="weight_norm", pad_mode="reflect", lstm=2, dimension=LATENT,
        channels=1, n_filters=32, ratios=[8, 5, 4, 2], activation="ELU", kernel_size=7, residual_kernel_size=3,
        last_kernel_size=7, dilation_base=2, true_skip=False, compress=2,
    )  # fmt: skip
    quantizer = model.qt.ResidualVectorQuantizer(
        dimension=LATENT, n_q=1, bins=4096, kmeans_iters=200, decay=0.99, kmeans_init=True
    )
    return model.EncodecModel(
        model.m.SEANetEncoder(**seanet), model.m.SEANetDecoder(**seanet), quantizer, [6.6] * 4, 24_000, 1
    ).eval()


def _module(**children) -> nn.Module:
    module = nn.Module()
    for name, child in children.items():
        setattr(module, name, child)
    return module


def _ada_norm() -> nn.Module:  # decoder/modules.py AdaLayerNorm
    return _module(scale=nn.Embedding(EMBEDDINGS, DIM), shift=nn.Embedding(EMBEDDINGS, DIM))


def _resnet() -> nn.Module:  # decoder/models.py ResnetBlock (in = out channels, no time embedding)
    conv = lambda: nn.Conv1d(DIM, DIM, 3, padding=1)  # noqa: E731
    return _module(norm1=nn.GroupNorm(32, DIM), conv1=conv(), norm2=nn.GroupNorm(32, DIM), conv2=conv())


def _attention() -> nn.Module:  # decoder/models.py AttnBlock
    conv = lambda: nn.Conv1d(DIM, DIM, 1)  # noqa: E731
    return _module(norm=nn.GroupNorm(32, DIM), q=conv(), k=conv(), v=conv(), proj_out=conv())


def _convnext() -> nn.Module:  # decoder/modules.py ConvNeXtBlock with AdaLayerNorm
    block = _module(
        dwconv=nn.Conv1d(DIM, DIM, 7, padding=3, groups=DIM),
        norm=_ada_norm(),
        pwconv1=nn.Linear(DIM, INTERMEDIATE),
        pwconv2=nn.Linear(INTERMEDIATE, DIM),
    )
    block.gamma = nn.Parameter(torch.full((DIM,), 1 / LAYERS))
    return block


def authors_vocos_part() -> nn.Module:
    """``backbone`` (VocosBackbone with its pos_net) and ``head`` (ISTFTHead) of the authors' model."""
    backbone = _module(
        embed=nn.Conv1d(LATENT, DIM, 7, padding=3),
        norm=_ada_norm(),
        convnext=nn.ModuleList(_convnext() for _ in range(LAYERS)),
        final_layer_norm=nn.LayerNorm(DIM),
        pos_net=nn.Sequential(_resnet(), _resnet(), _attention(), _resnet(), _resnet(), nn.GroupNorm(32, DIM)),
    )
    istft = nn.Module()
    istft.register_buffer("window", torch.hann_window(N_FFT))
    return _module(backbone=backbone, head=_module(out=nn.Linear(DIM, N_FFT + 2), istft=istft))


@pytest.fixture(scope="module")
def authors():
    torch.manual_seed(3)
    encodec = authors_encodec_part()
    vocos = authors_vocos_part()
    with torch.no_grad():
        for tensor in vocos.state_dict().values():  # not the default ones/zeros: a swap must show
            tensor.normal_(0, 0.02)
        wave = torch.from_numpy(calibration_audio(24_000, 4.0, seed=3))[None, None]
        seed_residual_codebooks(encodec.encoder(wave)[0].T, [encodec.quantizer.vq.layers[0]._codebook], seed=3)
    state = {f"feature_extractor.encodec.{name}": t for name, t in encodec.state_dict().items()}
    state |= vocos.state_dict()
    state |= {name: torch.randn(shape) for name, shape in TRAINING_ONLY.items()}
    return encodec, state


@pytest.fixture(scope="module")
def converted(authors):
    from transformers import WavTokenizerModel

    from kodek.codecs.wavtokenizer import WavTokenizer75Codec, load_upstream_state

    model = WavTokenizerModel(WavTokenizer75Codec.config())
    return load_upstream_state(model, authors[1], "test checkpoint").eval()


def test_every_inference_tensor_of_the_checkpoint_arrives(authors, converted):
    _, state = authors
    ours = converted.state_dict()
    unused = [n for n in state if n.startswith("feature_extractor.encodec.decoder.") or n in TRAINING_ONLY]
    # Everything but the SEANet decoder, the training-only modules and the ISTFT window is loaded: one tensor
    # of transformers' model for each.
    assert len(ours) == len(state) - len(unused) - 1
    # The Vocos backbone keeps its names; the head's projection is renamed.
    for name, tensor in state.items():
        if name.startswith("backbone."):
            torch.testing.assert_close(ours[name], tensor, rtol=0, atol=0)
    torch.testing.assert_close(ours["head.linear.weight"], state["head.out.weight"], rtol=0, atol=0)
    torch.testing.assert_close(ours["head.linear.bias"], state["head.out.bias"], rtol=0, atol=0)


def test_converted_encoder_and_codes_equal_the_authors_modules(authors, converted):
    encodec, _ = authors
    wave = torch.from_numpy(calibration_audio(24_000, 1.3, seed=5))[None, None]
    with torch.no_grad():
        expected = encodec.encoder(wave)
        expected_codes = encodec.quantizer.vq.encode(expected, n_q=1)[0]  # [B, F]
        ours = converted.encoder_model.encoder(wave)
        codes = converted.encode(wave).audio_codes[:, 0]
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
        assert codes.shape[-1] == int(np.ceil(wave.shape[-1] / HOP)) and len(codes.unique()) > 10
        torch.testing.assert_close(codes, expected_codes, rtol=0, atol=0)
        torch.testing.assert_close(
            converted.encoder_model.quantizer.decode(codes),
            encodec.quantizer.decode(codes[None]),
            rtol=0,
            atol=0,
        )
        audio = converted.decode(codes[:, None]).audio_values
    assert audio.shape[-1] == codes.shape[-1] * HOP and torch.isfinite(audio).all()


def test_a_checkpoint_of_another_layout_is_refused_by_name(authors):
    from transformers import WavTokenizerModel

    from kodek.codecs.wavtokenizer import WavTokenizer75Codec, load_upstream_state

    state = dict(authors[1])
    state.pop("backbone.convnext.11.gamma")
    state["feature_extractor.encodec.encoder.model.0.conv.conv.weight_v"] = torch.zeros(32, 1, 9)
    with pytest.raises(WeightsUnavailableError, match=r"convnext\.11\.gamma") as error:
        load_upstream_state(WavTokenizerModel(WavTokenizer75Codec.config()), state, "x.ckpt")
    assert "encoder.layers.0.conv.parametrizations.weight.original1" in str(error.value)
