"""Upstream conformance: kodek's codes and reconstructions equal what the authors' own inference code produces.

Each test loads kodek's seeded random weights into a model built by the authors' package (for EnCodec, the
transformers port's weights converted into Meta's ``encodec`` model) and calls the authors' API the way their
README does, on a bundled sample utterance at the codec's rate, with kodek's settings (bandwidth, codebooks).
kodek zero-pads each utterance to a whole hop, so that a padded batch encodes exactly as one utterance at a
time; the authors' encoders reflect-pad a last partial hop inside their strided convolutions instead. On the same
(hop-padded) samples the results are equal; on the utterance as it is, only the last frames can differ.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
import types

import numpy as np
import pytest

from kodek.audio import load_audio, pad_batch

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def utterance(sample_test):
    """The first 1.2 s of a sample utterance plus 37 samples (not a whole hop of any of these codecs): rate -> wave."""
    import datasets

    item = sample_test.dataset.cast_column("audio", datasets.Audio(decode=False))[1]["audio"]
    return {rate: load_audio(item["bytes"], rate)[0][: int(1.2 * rate) + 37] for rate in (16_000, 24_000)}


def _bare_package(name: str) -> None:
    """Register package ``name`` without running its ``__init__`` (which imports torchaudio or a trainer)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"the authors' package {name} is not installed (pip install --no-deps {name})")
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    sys.modules[name] = package


def authors_encodec():
    """Meta's ``encodec.model``. Only its ``utils`` imports torchaudio (for file I/O the model never calls): a
    stand-in module is present while ``encodec.utils`` is imported, and removed at once, so nothing else sees it."""
    _bare_package("encodec")
    if "encodec.utils" not in sys.modules:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
        try:
            import encodec.utils
        finally:
            del sys.modules["torchaudio"]
    import encodec.model

    return encodec.model


def encodec_name(authors: str) -> str:
    """The transformers EncodecModel name of a tensor of Meta's EncodecModel."""
    name = authors.replace("quantizer.vq.layers.", "quantizer.layers.").replace("._codebook.", ".codebook.")
    name = re.sub(r"^(encoder|decoder)\.model\.", r"\1.layers.", name)
    name = name.replace("conv.conv.", "conv.").replace("convtr.convtr.", "conv.").replace("lstm.lstm.", "lstm.")
    return name.replace("weight_g", "parametrizations.weight.original0").replace(
        "weight_v", "parametrizations.weight.original1"
    )


@pytest.fixture(scope="module")
def meta_encodec(random_codec):
    """Meta's 24 kHz EnCodec as ``encodec_model_24khz()`` builds it (causal, weight norm, no normalisation, one
    segment), holding the weights of kodek's random transformers model."""
    theirs = random_codec("encodec-24khz-6kbps").model.state_dict()
    authors = authors_encodec().EncodecModel._get_model(
        [1.5, 3.0, 6.0, 12.0, 24.0], 24_000, 1, causal=True, model_norm="weight_norm", audio_normalize=False
    )
    authors.load_state_dict({name: theirs[encodec_name(name)] for name in authors.state_dict()})
    return authors.eval()


@pytest.mark.parametrize("kbps", [1.5, 3.0, 6.0, 12.0, 24.0])
def test_encodec_equals_meta_encodec(kbps, random_codec, meta_encodec, utterance):
    codec = random_codec(f"encodec-24khz-{kbps:g}kbps")
    assert (codec.model.config.normalize, codec.model.config.chunk_length_s) == (False, None)
    authors = meta_encodec
    authors.set_target_bandwidth(kbps)

    wave = utterance[24_000]
    padded, lengths = pad_batch([wave], codec.pad_multiple)
    codes, frames = codec.encode(padded, lengths)
    with torch.no_grad():
        [(expected, scale)] = authors.encode(torch.from_numpy(padded)[:, None])
        [(as_is, _)] = authors.encode(torch.from_numpy(wave)[None, None])
        expected_wave = authors.decode([(expected, scale)])[0, 0].numpy()
    assert scale is None and expected.shape == as_is.shape == (1, codec.spec.num_codebooks, frames[0])
    np.testing.assert_array_equal(codes, expected.numpy())
    # Given the utterance as it is, EnCodec reflect-pads the last partial hop inside its strided convolutions
    # where kodek zero-pads it (so that a padded batch encodes as one-by-one): being causal, only the last
    # frame can differ.
    np.testing.assert_array_equal(codes[..., :-1], as_is[..., :-1].numpy())
    out, out_lengths = codec.decode(codes, frames)
    assert out_lengths[0] == len(expected_wave)
    np.testing.assert_array_equal(out[0], expected_wave)


@pytest.fixture(scope="module")
def authors_speechtokenizer(random_codec):
    _bare_package("speechtokenizer")
    from speechtokenizer.model import SpeechTokenizer

    from kodek.codecs.speechtokenizer import CONFIG

    model = SpeechTokenizer(CONFIG)
    model.load_state_dict(random_codec("speechtokenizer").model.state_dict())
    return model.eval()


def test_speechtokenizer_equals_the_authors_model(random_codec, authors_speechtokenizer, utterance):
    """The README's use: ``codes = model.encode(wav)`` (all stages), ``codes[:1]`` is RVQ-1, ``model.decode(codes)``."""
    wave = utterance[16_000]
    padded, lengths = pad_batch([wave], 320)
    with torch.no_grad():
        expected = authors_speechtokenizer.encode(torch.from_numpy(padded)[:, None])  # [n_q, B, F]
        as_is = authors_speechtokenizer.encode(torch.from_numpy(wave)[None, None])
    codes = {}
    for codec_id, stages in (("speechtokenizer", 8), ("speechtokenizer-rvq1", 1)):
        codec = random_codec(codec_id)
        codes[stages], frames = codec.encode(padded, lengths)
        np.testing.assert_array_equal(codes[stages][0], expected[:stages, 0].numpy())
    # Given the utterance as it is, the encoder reflect-pads the last partial hop inside its strided convolutions
    # where kodek zero-pads it; its bidirectional LSTM carries that back over the last frames only.
    half = frames[0] // 2
    np.testing.assert_array_equal(codes[8][0, :, :half], as_is[:, 0, :half].numpy())
    with torch.no_grad():
        expected_wave = authors_speechtokenizer.decode(expected)[0, 0].numpy()
    out, lengths = random_codec("speechtokenizer").decode(codes[8], frames)
    assert lengths[0] == len(expected_wave) == frames[0] * 320
    np.testing.assert_array_equal(out[0], expected_wave)


def test_snac_equals_the_authors_model(random_codec, utterance):
    """``codes = model.encode(audio)``, ``audio_hat = model.decode(codes)`` of the snac README.

    SNAC's decoder adds Gaussian noise at inference (``NoiseBlock``, ``noise: true`` in the released config):
    two decodes of the same codes differ unless torch's generator is seeded alike before each.
    """
    from snac import SNAC

    from kodek.codecs.snac import CONFIG_24KHZ, from_frames

    codec = random_codec("snac-24khz")
    authors = SNAC(**CONFIG_24KHZ)
    authors.load_state_dict(codec.model.state_dict())
    authors.eval()
    wave = utterance[24_000]
    codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
    with torch.no_grad():
        levels = authors.encode(torch.from_numpy(wave)[None, None])
    for ours, theirs in zip(from_frames(codes), levels, strict=True):
        np.testing.assert_array_equal(ours, theirs.numpy())
    torch.manual_seed(7)
    out, lengths = codec.decode(codes, frames)
    with torch.no_grad():
        torch.manual_seed(7)
        expected_wave = authors.decode(levels)[0, 0].numpy()
        unseeded = authors.decode(levels)[0, 0].numpy()
    assert lengths[0] == len(expected_wave)
    np.testing.assert_array_equal(out[0], expected_wave)
    assert not np.array_equal(unseeded, expected_wave)  # the upstream decoder's noise
