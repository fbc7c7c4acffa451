"""The LM tables compare codecs, not settings: limits in seconds, fixed-width models, every utterance counted."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kodek import files
from kodek.codecs.spec import CodecSpec
from kodek.lm.config import AdapterConfig, stack_factor
from kodek.lm.data import load_split
from kodek.tokenize import layout
from kodek.tokenize.reader import open_tokens
from test_lm import tiny_config

DURATIONS = [0.5, 0.9, 1.1, 2.0, 0.7, 1.6]  # seconds of audio, the same for every codec


def write_tokens(root, codec_id, *, frame_rate, sizes=(8, 8), kind="acoustic", failures=(), empty=()):
    """Tokens of DURATIONS' utterances in every split: round(duration x frame rate) frames of random codes."""
    spec = CodecSpec(
        id=codec_id,
        family="toy",
        kind=kind,
        sample_rate=16_000,
        frame_rate=frame_rate,
        num_codebooks=len(sizes),
        codebook_size=sizes[0] if len(set(sizes)) == 1 else tuple(sizes),
        checkpoint=None,
        license="CC0",
    )
    meta = {"codec": spec.to_dict(), "random_weights": False, "source": {"name": "toy"}, "failures": list(failures)}
    folder = layout.codec_dir(root, codec_id)
    folder.mkdir(parents=True)
    files.write_json(folder / "codec.json", meta)
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        rows, codes = [], []
        for index, seconds in enumerate(DURATIONS):
            name = f"{split}-{index}"
            frames = 0 if name in empty else round(seconds * frame_rate)
            codes.append(np.stack([rng.integers(0, size, frames) for size in sizes]))
            rows.append(
                {
                    "audioname": name,
                    "dataset": "toy",
                    "split": split,
                    "ref_orig": f"zdanie numer {index}",
                    "duration_s": seconds,
                    "num_frames": frames,
                }
            )
        table = pa.Table.from_pylist(rows).append_column("codes", layout.codes_to_arrow(codes, "uint16"))
        files.write_table(table.cast(layout.schema("uint16")), layout.shard_path(root, codec_id, split, 0, 1))
    return open_tokens(root, codec_id)


def test_the_length_limit_is_in_seconds_so_every_codec_keeps_the_same_utterances(tmp_path):
    kept = {}
    for codec_id, rate in (("slow", 12.5), ("fast", 75.0), ("pcm", 16_000.0)):
        split = load_split(write_tokens(tmp_path, codec_id, frame_rate=rate), "test", max_seconds=1.2)
        kept[codec_id] = [u.audioname for u in split.utterances]
        assert sorted(f["audioname"] for f in split.failures) == ["test-3", "test-5"]  # 2.0 s and 1.6 s
        assert all("max_seconds=1.2" in f["reason"] for f in split.failures)
    assert kept["slow"] == kept["fast"] == kept["pcm"] == ["test-0", "test-1", "test-2", "test-4"]


@pytest.mark.parametrize("rate", [12.5, 75.0, 86.13, 16_000.0])
def test_the_adapters_trainable_transform_has_the_same_width_for_every_codec(rate):
    """Only the code lookup tables follow the codec; the projector is the same size whatever the frame rate."""
    import torch

    from kodek.lm.adapter import build_adapter, parameter_counts

    config = AdapterConfig(embed_dim=16, projector_hidden=32, slots=8)
    adapter = build_adapter(config, factor=stack_factor(rate, 80.0), llm_hidden=24, codebook_sizes=[1024, 1024])
    counts = parameter_counts(adapter)
    assert counts["projector"] == (8 * 16 * 32 + 32) + (32 * 24 + 24) + 2 * 24  # Linear, Linear, LayerNorm
    assert counts["embedding"] == 2 * 1024 * 16
    frames = stack_factor(rate, 80.0) * 2 + 1  # three windows (the last one partial where a window holds more)
    out, windows = adapter(torch.zeros((2, 2, frames), dtype=torch.long), torch.tensor([frames, frames]))
    assert out.shape == (2, 3, 24) and windows.tolist() == [3, 3]


def test_continuous_inputs_are_made_per_batch_from_the_codes(tmp_path):
    """Centroid inputs are not held per utterance: only the codes are, and a batch looks its centroids up."""
    from kodek.codecs.centroids import artefact_dir

    tokens = write_tokens(tmp_path, "ssl-toy", frame_rate=50.0, sizes=(8,), kind="ssl-kmeans")
    centroids = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32)
    artefact_dir(tmp_path, "ssl-toy").mkdir(parents=True)
    np.save(artefact_dir(tmp_path, "ssl-toy") / "centroids.npy", centroids)
    split = load_split(tokens, "train", features="centroids")
    assert all(u.inputs.dtype.kind in "iu" and u.inputs.shape == (1, u.frames) for u in split.utterances)
    codes = open_tokens(tmp_path, "ssl-toy").codes("train")[1]
    for got, item in zip(split.inputs(split.utterances[:3]), codes[:3], strict=True):
        np.testing.assert_array_equal(got, centroids[item[0]])


def test_the_speech_only_lm_counts_failures_and_has_one_core_size_for_every_codec(tmp_path):
    from kodek.lm.speech_lm import SpeechLMError, train_and_score

    config = tiny_config(
        **{"speech_lm.dim": 16, "speech_lm.layers": 1, "speech_lm.heads": 2, "speech_lm.max_steps": 2,
           "speech_lm.eval_every": 1, "speech_lm.context_s": 0.5}
    )  # fmt: skip
    failure = {"audioname": "test-9", "dataset": "toy", "split": "test", "stage": "tokenize", "reason": "NaN codes"}
    small = write_tokens(tmp_path, "small", frame_rate=12.5, sizes=(8, 8), failures=[failure], empty={"test-2"})
    large = write_tokens(tmp_path, "large", frame_rate=75.0, sizes=(64, 64, 64))
    results = {}
    for tokens in (small, large):
        results[tokens.codec_id] = train_and_score(tokens, tmp_path / "results", config, progress=False)
    a, b = results["small"], results["large"]
    assert a["failures"]["count"] == 2  # the tokenizer's failure and the utterance without frames
    assert a["failures"]["by_reason"] == {"tokenize: NaN codes": 1, "no codec frames": 1}
    assert b["failures"]["count"] == 0
    assert a["speech_lm"]["core_params"] == b["speech_lm"]["core_params"]
    assert a["speech_lm"]["vocabulary_params"] < b["speech_lm"]["vocabulary_params"]
    # The same span of audio per chunk: 0.5 s.
    assert (a["speech_lm"]["context_frames"], b["speech_lm"]["context_frames"]) == (6, 38)
    # The scored utterances are listed, and their set is part of the comparability key.
    names = pq.read_table(tmp_path / "results" / "small" / "speech_lm-utterances.parquet")["audioname"].to_pylist()
    assert "test-2" not in names and len(names) == len(DURATIONS) - 1
    expected = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()
    assert a["comparability"]["utterance_set"] == expected
    assert a["comparability_key"] != b["comparability_key"]  # small lost an utterance: not ranked with large
    assert {k: v for k, v in a["comparability"].items() if "utterance" not in k} == {
        k: v for k, v in b["comparability"].items() if "utterance" not in k
    }
    # 0.5 s of 16 kHz PCM is 8000 frames: refused rather than given a shorter context than the others.
    pcm = write_tokens(tmp_path, "pcm", frame_rate=16_000.0, sizes=(8,))
    with pytest.raises(SpeechLMError, match="8000 frames"):
        train_and_score(pcm, tmp_path / "results", config, progress=False)
