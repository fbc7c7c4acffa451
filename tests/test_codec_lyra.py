"""SoundStream with Google's weights (Lyra v2 TFLite models), run on the bundled Polish sample.

The model files come from ``../shared/weights/lyra-v2`` beside the project (a copy of google/lyra's
``lyra/model_coeffs`` at the pinned commit); the tests that need them skip when it is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kodek.audio import load_audio, pad_batch
from kodek.codecs import availability, get_spec, registry
from kodek.codecs.base import CodecError, WeightsUnavailableError, check_codes

LOCAL = Path(__file__).resolve().parents[2] / "shared" / "weights" / "lyra-v2"
IDS = {3.2: "lyra-v2-16khz-3.2kbps", 6.0: "lyra-v2-16khz-6kbps", 9.2: "lyra-v2-16khz-9.2kbps"}
needs_weights = pytest.mark.skipif(not LOCAL.is_dir(), reason=f"Lyra v2 model files not found at {LOCAL}")

pytest.importorskip("ai_edge_litert", reason="the `lyra` extra (ai-edge-litert) is not installed")


def copy_weights(folder: Path) -> Path:
    """A writable copy of the model files (the local copy itself may be read-only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("soundstream_encoder.tflite", "quantizer.tflite", "lyragan.tflite"):
        shutil.copyfile(LOCAL / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def lyra():
    from kodek.codecs import lyra

    return lyra


@pytest.fixture(scope="module")
def codecs(lyra):
    if not LOCAL.is_dir():
        pytest.skip(f"Lyra v2 model files not found at {LOCAL}")
    models = lyra.load_models(LOCAL)
    return {kbps: lyra.LyraCodec(get_spec(codec_id), models) for kbps, codec_id in IDS.items()}


@pytest.fixture(scope="module")
def sample_waves(sample_test):
    import datasets

    column = sample_test.dataset.cast_column("audio", datasets.Audio(decode=False))["audio"]
    return [load_audio(item["bytes"], 16_000)[0] for item in column]


@pytest.fixture(scope="module")
def encoded(codecs, sample_waves):
    """The sample encoded as one padded batch at every bitrate: kbps -> (codes, frame counts)."""
    batch = pad_batch(sample_waves, 320)
    return {kbps: codec.encode(*batch) for kbps, codec in codecs.items()}


def test_spec_facts():
    for kbps, codec_id in IDS.items():
        spec = get_spec(codec_id)
        stages = {3.2: 16, 6.0: 30, 9.2: 46}[kbps]
        assert (spec.sample_rate, spec.frame_rate, spec.num_codebooks) == (16_000, 50.0, stages)
        assert spec.codebook_sizes == (16,) * stages  # 4 bits per stage
        assert spec.bitrate_bps == pytest.approx(kbps * 1000)
        assert spec.category == "Neural Codec" and spec.family == "soundstream"
        assert spec.checkpoint.repo == "google/lyra"
        assert spec.checkpoint.revision == "47698dadf0010abff6a848e02642f55f806d4842"  # tag 1.3.2
    # Google's SoundStream is its own row; ESPnet's re-implementation stays registered beside it.
    assert "soundstream-espnet-16khz-4kbps" in registry().entries


@needs_weights
def test_spec_facts_match_the_models(lyra, codecs):
    codec = codecs[9.2]
    encoder = lyra._interpreter(codec.models["soundstream_encoder.tflite"]).get_signature_runner()
    assert encoder.get_input_details()["input_audio"]["shape"].tolist() == [1, 320]  # hop 320 at 16 kHz
    quantize = lyra._interpreter(codec.models["quantizer.tflite"]).get_signature_runner("encode")
    out = quantize(input_frames=np.ones((1, 1, 64), np.float32), num_quantizers=np.array(16, np.int32))
    indices, bits = sorted(out.values(), key=np.size, reverse=True)
    assert indices.shape == (46, 1, 1) and int(bits) == 4
    assert (indices.reshape(-1)[16:] == -1).all()  # stages past num_quantizers are unused
    assert codec.num_parameters() > 1_000_000


@needs_weights
def test_round_trip_on_the_sample(codecs, encoded, sample_waves):
    from pesq import pesq
    from pystoi import stoi

    lengths = np.array([len(w) for w in sample_waves])
    scores = {}
    for kbps, codec in codecs.items():
        codes, frames = encoded[kbps]
        check_codes(codes, codec.spec)
        assert frames.tolist() == np.ceil(lengths / 320).astype(int).tolist()
        assert len(np.unique(codes)) == 16  # every entry of the 16-entry codebooks in use
        out, out_lengths = codec.decode(codes, frames)
        assert out_lengths.tolist() == (frames * 320).tolist()
        pairs = [(w, o[: len(w)]) for w, o in zip(sample_waves, out, strict=True)]
        scores[kbps] = (
            np.mean([pesq(16_000, w, o, "wb") for w, o in pairs]),
            np.mean([stoi(w, o, 16_000) for w, o in pairs]),
        )
        # No delay beyond the frame: the reconstruction lines up with the input at lag 0.
        for w, o in pairs:
            xc = np.correlate(o[:32_000], w[:32_000], "full")
            assert abs(int(np.argmax(xc)) - (min(len(w), 32_000) - 1)) <= 1
    # Sane bands on the Polish sample (measured PESQ-wb / STOI 1.69 / 0.862, 2.06 / 0.903, 2.27 / 0.919; unused
    # stages passed as 0 instead of -1 give 1.36 / 0.826 and 1.79 / 0.885), and more bits help.
    for kbps, (pesq_min, stoi_min) in {3.2: (1.55, 0.845), 6.0: (1.9, 0.89), 9.2: (2.1, 0.905)}.items():
        assert pesq_min < scores[kbps][0] < 3.5 and stoi_min < scores[kbps][1] < 0.99, (kbps, scores[kbps])
    assert scores[3.2][0] < scores[6.0][0] < scores[9.2][0] and scores[3.2][1] < scores[6.0][1] < scores[9.2][1]


@needs_weights
def test_fewer_stages_are_a_prefix_of_more(encoded):
    """Greedy residual quantisation: the first 16 codes at 9.2 kbps are the 3.2 kbps codes."""
    low, high = encoded[3.2][0], encoded[9.2][0]
    np.testing.assert_array_equal(high[:, :16], low)
    np.testing.assert_array_equal(encoded[6.0][0], high[:, :30])


@needs_weights
def test_batched_equals_one_by_one(codecs, encoded, sample_waves):
    codec = codecs[6.0]
    codes, frames = encoded[6.0]
    batch_out, _ = codec.decode(codes, frames)
    for index in (1, 4):  # a middle and a longer-than-shortest item, each alone
        alone, f = codec.encode(*pad_batch(sample_waves[index : index + 1], 320))
        np.testing.assert_array_equal(alone[0], codes[index, :, : f[0]])
        out, n = codec.decode(alone, f)
        np.testing.assert_array_equal(out[0], batch_out[index, : n[0]])


def test_a_corrupted_file_is_refused_in_one_line(lyra, tmp_path):
    if not LOCAL.is_dir():
        pytest.skip(f"Lyra v2 model files not found at {LOCAL}")
    copy_weights(tmp_path)
    data = bytearray((tmp_path / "lyragan.tflite").read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "lyragan.tflite").write_bytes(bytes(data))
    with pytest.raises(CodecError, match="sha256") as error:
        lyra.build(get_spec(IDS[3.2]), weights=tmp_path)
    assert "\n" not in str(error.value) and "lyragan.tflite" in str(error.value)
    (tmp_path / "quantizer.tflite").unlink()
    with pytest.raises(WeightsUnavailableError, match="missing"):
        lyra.build(get_spec(IDS[3.2]), weights=tmp_path)


@needs_weights
def test_first_use_downloads_into_the_cache_and_verifies(lyra, tmp_path, monkeypatch):
    """The download path, with the pinned commit's URLs pointed at a local copy (file://)."""
    mirror = copy_weights(tmp_path / "mirror")
    monkeypatch.setenv("KODEK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(lyra, "URL", mirror.as_uri() + "/{name}")
    entry = registry().get(IDS[6.0])
    assert availability(entry).status == "needs-weights"
    models = lyra.load_models()
    assert {name: len(data) for name, data in models.items()} == {
        "soundstream_encoder.tflite": 1_779_200,
        "quantizer.tflite": 329_012,
        "lyragan.tflite": 1_475_160,
    }
    assert availability(entry).status == "available"
    # A download that does not match the pinned sha256 never lands in the cache.
    (mirror / "quantizer.tflite").write_bytes(b"not the model")
    (lyra.cache_dir() / "quantizer.tflite").unlink()
    with pytest.raises(CodecError, match="sha256"):
        lyra.load_models()
    assert not (lyra.cache_dir() / "quantizer.tflite").exists()
    assert list(lyra.cache_dir().glob(".*tmp*")) == []


def test_offline_download_fails_in_one_line(lyra, tmp_path, monkeypatch):
    monkeypatch.setenv("KODEK_CACHE", str(tmp_path))
    monkeypatch.setattr(lyra, "URL", (tmp_path / "nowhere").as_uri() + "/{name}")
    with pytest.raises(WeightsUnavailableError, match="cannot download") as error:
        lyra.build(get_spec(IDS[9.2]))
    assert "\n" not in str(error.value) and "github.com" in error.value.short


def test_no_random_weight_build(lyra):
    with pytest.raises(CodecError, match="no random-weight build"):
        lyra.build(get_spec(IDS[3.2]), random_weights=True)


@needs_weights
def test_token_dataset_records_the_pinned_commit(codecs, sample_test, tmp_path):
    import datasets

    from kodek import files
    from kodek.tokenize.pipeline import tokenize

    codec = codecs[3.2]
    source = type(sample_test)(**{**vars(sample_test), "dataset": sample_test.dataset.select([1])})
    stats = tokenize(codec, source, tmp_path, progress=False)
    assert stats.rows_written == 1 and not stats.failures
    row = datasets.load_dataset(str(tmp_path), codec.spec.id, split="test")[0]
    assert np.array(row["codes"]).shape == (16, row["num_frames"]) == (16, int(np.ceil(row["duration_s"] * 50)))
    meta = files.read_json(tmp_path / "data" / codec.spec.id / "codec.json")
    assert meta["checkpoint_revision"] == "47698dadf0010abff6a848e02642f55f806d4842"
    assert meta["random_weights"] is False


@needs_weights
def test_a_local_copy_is_checked_and_put_into_the_cache(lyra, tmp_path, monkeypatch):
    """What `make demo` does with the local copy: decoding (which builds the codec by id) then finds the files."""
    monkeypatch.setenv("KODEK_CACHE", str(tmp_path / "cache"))
    cache = lyra.install_weights(LOCAL)
    assert cache == lyra.cache_dir() and sorted(p.name for p in cache.iterdir()) == sorted(lyra.SHA256)
    assert availability(registry().get(IDS[3.2])).status == "available"
    corrupted = copy_weights(tmp_path / "corrupted")
    (corrupted / "soundstream_encoder.tflite").write_bytes(b"\0" * 1000)
    (cache / "soundstream_encoder.tflite").unlink()
    with pytest.raises(CodecError, match="sha256"):
        lyra.install_weights(corrupted)
    assert not (cache / "soundstream_encoder.tflite").exists()
