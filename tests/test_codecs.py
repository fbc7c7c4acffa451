"""The codec layer: specs, registry, entry points, and the first families."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.codecs import CodecSpec, UnknownCodecError, availability, build_codec, get_spec, registry
from kodek.codecs.base import check_codes
from kodek.codecs.init import calibration_audio
from kodek.codecs.registry import reset_registry


def test_spec_is_frozen_json_round_trip():
    spec = get_spec("encodec-24khz-6kbps")
    again = CodecSpec.from_dict(json.loads(spec.to_json()))
    assert again == spec
    with pytest.raises(AttributeError):
        spec.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("codec_id", "bps", "dtype"),
    [
        ("encodec-24khz-1.5kbps", 1_500, "uint16"),  # 2 x 75 Hz x 10 bit
        ("encodec-24khz-6kbps", 6_000, "uint16"),  # 8 x 75 Hz x 10 bit
        ("encodec-24khz-24kbps", 24_000, "uint16"),
        ("opus-6kbps", 6_000, "uint8"),  # 50 packets/s x 15 bytes x 8 bit
        ("identity-16khz", 256_000, "uint16"),
    ],
)
def test_published_bitrates(codec_id, bps, dtype):
    spec = get_spec(codec_id)
    assert spec.bitrate_bps == bps
    assert spec.code_dtype == dtype


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="invalid codec id"):
        CodecSpec("Bad Id", "x", "acoustic", 16_000, 50.0, 1, 1024, None, "mit")
    with pytest.raises(ValueError, match="codebook sizes"):
        CodecSpec("x", "x", "acoustic", 16_000, 50.0, 2, (1024,), None, "mit")


def test_unknown_codec_names_close_matches():
    with pytest.raises(UnknownCodecError, match=r"unknown codec id 'encodec-24khz-6kbp'.*encodec-24khz-6kbps"):
        build_codec("encodec-24khz-6kbp")


def test_codecs_list_is_instant_and_imports_no_torch():
    code = (
        "import sys; from kodek.cli import main; main(['codecs', 'list', '--json']); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    by_id = {row["id"]: row for row in rows}
    assert by_id["identity-16khz"]["availability"] == "available"
    assert by_id["encodec-24khz-6kbps"]["availability"] == "needs-weights"  # nothing cached in tests
    assert {"sample_rate", "frame_rate", "num_codebooks", "bitrate_bps", "availability_reason"} <= set(rows[0])


def test_weights_in_the_hub_cache_make_a_codec_available(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    entry = registry().get("encodec-24khz-6kbps")
    ckpt = entry.spec.checkpoint
    assert availability(entry).status == "needs-weights"
    (tmp_path / f"models--{ckpt.repo.replace('/', '--')}" / "snapshots" / ckpt.revision).mkdir(parents=True)
    assert availability(entry).status == "available"


def test_real_weights_offline_fail_with_the_command_to_run(hub):
    from kodek.codecs.base import WeightsUnavailableError

    with pytest.raises(WeightsUnavailableError, match=r"Run where the Hugging Face Hub is reachable.*--random-weights"):
        build_codec("encodec-24khz-6kbps")


def test_entry_point_plugin_registers_a_codec(tmp_path, monkeypatch):
    """A third-party package registers through the `kodek.codecs` entry-point group."""
    (tmp_path / "kodek_plugin_demo.py").write_text(
        textwrap.dedent(
            """
            from kodek.codecs import CodecEntry, CodecSpec
            from kodek.codecs.reference import IdentityCodec

            SPEC = CodecSpec("plugin-pcm-8khz", "plugin", "reference", 8000, 8000.0, 1, 65536, None, "mit")

            def build(spec, settings):
                return IdentityCodec(spec, settings)

            def entries():
                return [CodecEntry(SPEC, "kodek_plugin_demo:build")]
            """
        )
    )
    dist = tmp_path / "kodek_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kodek-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[kodek.codecs]\npcm8 = kodek_plugin_demo:entries\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    try:
        entry = registry().get("plugin-pcm-8khz")
        assert entry.source == "kodek-plugin-demo"
        codec = build_codec("plugin-pcm-8khz", random_weights=True, seed=5)
        assert (codec.random_weights, codec.seed) == (True, 5)  # the settings reached the plugin's factory
        codes, _ = codec.encode(*pad_batch([np.zeros(80, np.float32)]))
        assert codes.shape == (1, 1, 80)
    finally:
        reset_registry()


def test_a_broken_plugin_does_not_break_the_registry(tmp_path, monkeypatch):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[kodek.codecs]\nbroken = no_such_module_xyz:entries\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    try:
        reg = registry()
        assert "identity-16khz" in reg.entries
        assert any("broken-plugin" in e for e in reg.load_errors)
    finally:
        reset_registry()


def test_every_family_module_is_registered_through_its_entry_point():
    """A family module without its line in pyproject's `kodek.codecs` entry points would be silently missing."""
    import importlib
    import pkgutil

    import kodek.codecs

    registered = {entry.spec.id for entry in registry().entries.values() if entry.source == "kodek"}
    families = 0
    for info in pkgutil.iter_modules(kodek.codecs.__path__):
        module = importlib.import_module(f"kodek.codecs.{info.name}")
        if hasattr(module, "ENTRIES"):
            families += 1
            missing = {entry.spec.id for entry in module.ENTRIES} - registered
            assert not missing, f"kodek.codecs.{info.name} has no entry point (pyproject.toml): {sorted(missing)}"
    assert families >= 12


def test_without_kodeks_entry_points_the_registry_says_to_reinstall(monkeypatch):
    import importlib.metadata

    from kodek.codecs import CodecError

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [])
    reset_registry()
    try:
        with pytest.raises(CodecError, match=r"pip install -e \."):
            registry()
    finally:
        reset_registry()


@pytest.mark.parametrize("argv", [["-v", "codecs", "list"], ["codecs", "list", "-v"]])
def test_verbose_listing_says_why_a_codec_is_not_available(argv, capsys):
    from kodek.cli import main

    assert main(argv) == 0
    assert "not in the local Hub cache" in capsys.readouterr().out
    main(["codecs", "list"])
    assert "not in the local Hub cache" not in capsys.readouterr().out


# --- identity ---------------------------------------------------------------------------


def test_identity_round_trip_is_exact_to_16_bit(tone):
    codec = build_codec("identity-16khz")
    codes, frames = codec.encode(*pad_batch([tone]))
    check_codes(codes, codec.spec)
    waves, lengths = codec.decode(codes, frames)
    assert lengths.tolist() == [len(tone)]
    assert np.abs(waves[0] - tone).max() <= 1 / 32768


# --- Opus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.01, 0.5, 2.0])
def test_opus_codes_are_cbr_packets_at_the_nominal_bitrate(seconds):
    codec = build_codec("opus-6kbps")
    n = int(seconds * 16_000)
    wave = calibration_audio(16_000, seconds)[:n]
    codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
    check_codes(codes, codec.spec)
    assert codes.shape[1] == 15 and frames[0] == codec.num_frames(n)  # 15-byte packets: 6 kbps at 50 packets/s
    assert 0 <= frames[0] - n / 320 <= 2  # whole packets plus the flushed look-ahead
    _, lengths = codec.decode(codes, frames)
    assert lengths[0] >= n


def test_opus_reconstruction_is_aligned_with_the_input():
    codec = build_codec("opus-24kbps")
    wave = calibration_audio(16_000, 2.0)
    codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
    out, _ = codec.decode(codes, frames)
    corr = np.correlate(out[0, :32_400], wave, "full")
    lag = int(np.argmax(corr)) - (len(wave) - 1)
    assert abs(lag) <= 3  # samples at 16 kHz: the decoder's pre-skip is honoured


# --- Codec2 and mu-law ------------------------------------------------------------------------


@pytest.mark.parametrize(("codec_id", "frame_rate"), [("codec2-3200", 50), ("codec2-1600", 25)])
def test_codec2_frames_carry_the_nominal_bitrate(codec_id, frame_rate):
    codec = build_codec(codec_id)
    waves = [calibration_audio(8_000, s, seed=k) for k, s in enumerate([1.0, 0.33, 0.01])]
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    check_codes(codes, codec.spec)
    assert codec.spec.frame_rate == frame_rate and codes.shape[1] == 8  # 64-bit frames
    assert frames.tolist() == [frame_rate, int(np.ceil(0.33 * frame_rate)), 1]
    out, lengths = codec.decode(codes, frames)
    assert lengths.tolist() == [n * codec.hop_length for n in frames] and np.abs(out[0]).max() > 0.05


def test_mulaw_matches_the_g711_reference():
    """Decoding is table-exact; encoders differ in rounding only at segment boundaries (one step)."""
    audioop = pytest.importorskip("audioop")  # the standard library's G.711 (Python < 3.13)
    codec = build_codec("mulaw-8khz")
    wave = calibration_audio(8_000, 0.5)
    codes, frames = codec.encode(*pad_batch([wave]))
    pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
    reference = np.frombuffer(audioop.lin2ulaw(pcm.tobytes(), 2), np.uint8).astype(np.int64)
    differ = codes[0, 0] != reference
    assert differ.mean() < 0.02 and np.abs(codes[0, 0] - reference).max() == 1
    out, _ = codec.decode(codes, frames)
    expected = np.frombuffer(audioop.ulaw2lin(codes[0, 0].astype(np.uint8).tobytes(), 2), np.int16) / 32768
    np.testing.assert_allclose(out[0], expected, atol=1e-7)
    assert codec.spec.bitrate_bps == 64_000


# --- WorkerCodec: what a codec running in an isolated environment shares with torch codecs ------------


def test_a_worker_codec_counts_moves_and_batches_like_a_torch_codec():
    import torch

    from kodek.codecs.isolated import WorkerCodec

    class Signs(WorkerCodec):
        """One code per 4 samples: 1 where the frame's first sample is positive (a Conv1d with one tap)."""

        hop_length = 4

        def encode_one(self, wave):
            frames = self.model(self.tensor(np.pad(wave, (0, -len(wave) % 4)))[None, None])  # [1, 1, F]
            return (frames[0] > 0).long().numpy()

    model = torch.nn.Conv1d(1, 1, kernel_size=4, stride=4)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[[1.0, 0.0, 0.0, 0.0]]]))
        model.bias.zero_()
    spec = get_spec("mulaw-8khz")  # one codebook
    codec = Signs(spec, model, random_weights=True, seed=7, commit="c0ffee")
    assert codec.num_parameters() == 5  # Conv1d: out * in * kernel + out = 1 * 1 * 4 + 1
    assert codec.describe() == {"random_weights": True, "seed": 7, "num_parameters": 5, "commit": "c0ffee"}
    assert codec.pad_multiple == 4 and codec.num_frames(9) == 3
    waves = [np.array([1, 0, 0, 0, -1, 0, 0, 0, 2], np.float32), np.array([-1, 0, 0, 0, 3], np.float32)]
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    assert frames.tolist() == [3, 2]
    assert codes[0, 0].tolist() == [1, 0, 1] and codes[1, 0, :2].tolist() == [0, 1]
    assert codec.to("cpu", torch.float64) is codec and next(model.parameters()).dtype == torch.float64
    assert codec.tensor(np.zeros(2, np.float32)).dtype == torch.float64  # float input takes the model's dtype
    assert codec.tensor(np.zeros(2, np.int64), torch.long).dtype == torch.long


# --- EnCodec (random weights) ---------------------------------------------------------------


@pytest.mark.slow
def test_encodec_random_weights_facts_match_the_spec(encodec_random):
    codec = encodec_random
    config = codec.model.config
    assert codec.random_weights
    assert config.sampling_rate == codec.spec.sample_rate == 24_000
    assert config.frame_rate == codec.spec.frame_rate == 75
    assert config.codebook_size == codec.spec.codebook_size == 1024
    assert codec.model.quantizer.get_num_quantizers_for_bandwidth(6.0) == codec.spec.num_codebooks == 8
    assert codec.num_parameters() == 14_851_810  # the facebook/encodec_24khz architecture


@pytest.mark.slow
def test_encodec_codes_shapes_range_and_bitrate(encodec_random):
    codec = encodec_random
    waves = [calibration_audio(24_000, s, seed=k) for k, s in enumerate([1.0, 0.01, 2.3])]
    codes, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
    check_codes(codes, codec.spec)
    assert frames.tolist() == [75, 1, 173]
    assert len(np.unique(codes)) > 100  # seeded codebooks: not token 0 everywhere
    out, lengths = codec.decode(codes, frames)
    assert lengths.tolist() == [24_000, 320, 55_360]
    assert out.shape[0] == 3 and np.isfinite(out).all()


@pytest.mark.slow
def test_random_weights_are_seeded(encodec_random):
    """The same seed builds the same model (decoding rebuilds it from codec.json's seed); another seed another."""
    import torch

    from kodek.codecs.encodec import EncodecCodec

    spec = encodec_random.spec
    again = EncodecCodec.random_model(spec, 0).state_dict()  # not through the shared model cache
    for name, value in encodec_random.model.state_dict().items():
        assert torch.equal(value, again[name]), name
    other = EncodecCodec.random_model(spec, 1).state_dict()
    assert not torch.equal(other["quantizer.layers.0.codebook.embed"], again["quantizer.layers.0.codebook.embed"])


@pytest.mark.weights
def test_encodec_real_checkpoint_resolves_and_matches_spec():
    codec = build_codec("encodec-24khz-6kbps")
    assert not codec.random_weights
    assert codec.model.config.sampling_rate == 24_000
    assert codec.num_parameters() == 14_851_810
