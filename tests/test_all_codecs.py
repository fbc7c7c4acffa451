"""Every registered codec that kodek can run (random weights; one model per checkpoint for the whole session):
its codes match its spec, the bundled sample tokenizes, and batched encoding is what ``batch_invariant`` says."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import availability, registry
from kodek.codecs.base import TorchCodec, check_codes
from kodek.codecs.init import calibration_audio
from kodek.tokenize.pipeline import tokenize

ENTRIES = {
    entry.spec.id: entry
    for entry in registry().entries.values()
    if entry.spec.kind != "ssl-kmeans"  # need fitted centroids: tests/test_codec_ssl.py builds their tokens
    # Lyra v2's TFLite graphs carry their weights (no random build): tests/test_codec_lyra.py runs the real ones.
    and not (entry.spec.checkpoint and entry.spec.checkpoint.loader == "github")
    # Codecs of isolated environments: tests/test_codec_isolated.py runs the same checks in one worker each.
    and not entry.env
    and availability(entry).status in ("available", "needs-weights")
}
RUNNABLE = sorted(ENTRIES)


def _model(codec_id: str) -> tuple:
    """Which model an id is a view of (ids of one checkpoint share it, as ``build`` does)."""
    entry = ENTRIES[codec_id]
    owner = getattr(entry.factory, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, TorchCodec):
        return (owner.__qualname__, *owner.model_key(entry.spec))
    return (codec_id,)


def _one_per_model() -> list[str]:
    """One id per model: the one with the most codebooks (deep residual stages are the first to flip)."""
    best: dict[tuple, str] = {}
    for codec_id in RUNNABLE:
        key = _model(codec_id)
        if key not in best or ENTRIES[codec_id].spec.num_codebooks > ENTRIES[best[key]].spec.num_codebooks:
            best[key] = codec_id
    return sorted(best.values())


def _params(ids: list[str]) -> list:
    """Neural ids are marked slow (they build or run a model for seconds)."""
    return [pytest.param(i, marks=pytest.mark.slow) if _model(i)[0] != i else i for i in ids]


PER_MODEL = _one_per_model()
DECODED_S = 0.5


def test_every_seed_family_is_runnable_or_says_why():
    families = {e.spec.family for e in registry().entries.values()}
    assert {
        "encodec",
        "dac",
        "mimi",
        "xcodec",
        "snac",
        "soundstream",
        "speechtokenizer",
        "wavtokenizer",
        "opus",
        "codec2",
        "mulaw",
        "identity",
        "hubert",
        "wav2vec2",
        "wavlm",
        "w2v-bert",
    } <= families
    for entry in registry().entries.values():
        state = availability(entry)
        assert state.status != "needs-extra", f"{entry.spec.id}: {state.reason}"  # make test installs every extra
        if state.status == "unsupported":
            assert len(state.reason) > 40, entry.spec.id


@pytest.mark.parametrize("codec_id", _params(RUNNABLE))
def test_codes_match_the_spec(codec_id, random_codec):
    """Every id (codebook-prefix and bitrate views included) gives codes of its declared shape and range."""
    codec = random_codec(codec_id)
    rate = codec.spec.sample_rate
    wave = calibration_audio(rate, 0.37, seed=4)
    codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
    check_codes(codes, codec.spec)
    expected = np.ceil(len(wave) / rate * codec.spec.frame_rate)
    assert expected <= frames[0] <= expected + 1 and codes.shape[2] == frames[0]  # Opus flushes one look-ahead packet


@pytest.mark.parametrize("codec_id", _params(PER_MODEL))
def test_tokens_of_the_sample(codec_id, sample_test, tmp_path, random_codec):
    codec = random_codec(codec_id)
    shortest = int(np.argmin(sample_test.dataset["audio_duration_seconds"]))
    source = type(sample_test)(**{**vars(sample_test), "dataset": sample_test.dataset.select([shortest])})
    stats = tokenize(codec, source, tmp_path, progress=False)
    assert stats.rows_written == 1 and not stats.failures
    row = datasets.load_dataset(str(tmp_path), codec_id, split="test")[0]
    codes = np.array(row["codes"])
    assert codes.shape == (codec.spec.num_codebooks, row["num_frames"])
    expected = row["duration_s"] * codec.spec.frame_rate
    assert np.ceil(expected) <= row["num_frames"] <= np.ceil(expected) + 1
    if codec.spec.has_decoder:  # the stored codes decode (their first half second: decoders are the slow half)
        frames = min(row["num_frames"], int(np.ceil(DECODED_S * codec.spec.frame_rate)))
        out, lengths = codec.decode(codes[None, :, :frames], np.array([frames]))
        assert np.isfinite(out).all() and lengths[0] >= 0.9 * frames / codec.spec.frame_rate * codec.spec.sample_rate


def _batched_and_single(codec) -> tuple[int, int]:
    """(codes that differ, codes compared) between one padded batch and one-by-one encoding."""
    rate = codec.spec.sample_rate
    waves = [calibration_audio(rate, s, seed=k) for k, s in enumerate([0.6, 1.3, 0.4, 1.9, 1.0, 0.3])]
    batched, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    differ = total = 0
    for k, wave in enumerate(waves):
        single, f = codec.encode(*pad_batch([wave], codec.pad_multiple))
        assert f[0] == frames[k]
        differ += int((single[0, :, : f[0]] != batched[k, :, : frames[k]]).sum())
        total += single[0, :, : f[0]].size
    return differ, total


@pytest.mark.parametrize("codec_id", _params(PER_MODEL))
def test_batch_invariant_is_measured(codec_id, random_codec):
    """A codec that says ``batch_invariant`` (and is then batched by the pipeline) encodes a padded batch
    exactly as one utterance at a time, in the precision it runs in. A torch codec that says padding
    cannot change its codes (causal) does so in float64, where round-off cannot explain a difference;
    in float32 it claims nothing and is encoded one by one."""
    codec = random_codec(codec_id)
    if codec.batch_invariant:
        differ, total = _batched_and_single(codec)
        assert differ == 0 and total > 0
    if isinstance(codec, TorchCodec):
        import torch

        assert not codec.batch_invariant  # float32
        if codec.padding_exact:
            codec.to("cpu", torch.float64)
            try:
                assert codec.batch_invariant and _batched_and_single(codec)[0] == 0
            finally:
                codec.to("cpu", torch.float32)


@pytest.mark.gpu
@pytest.mark.parametrize("codec_id", [i for i in PER_MODEL if _model(i)[0] != i])
def test_batch_invariant_is_measured_on_the_gpu(codec_id):
    """The same claims on CUDA, where batched kernels differ from the CPU's: float32 is never claimed exact;
    float64 is, for causal models, and holds."""
    from kodek.codecs import build_codec

    codec = build_codec(codec_id, random_weights=True, device="cuda", float64=True)
    assert codec.device == "cuda"
    if codec.padding_exact:
        assert codec.batch_invariant and _batched_and_single(codec)[0] == 0
    rate = codec.spec.sample_rate
    codes, _ = codec.encode(*pad_batch([calibration_audio(rate, 0.5)], codec.pad_multiple))
    check_codes(codes, codec.spec)
