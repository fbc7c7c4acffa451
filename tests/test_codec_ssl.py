"""SSL models + k-means: features, quantiser fitting, artefacts, tokenization, 'not applicable' scores."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

from kodek.audio import pad_batch
from kodek.cli import main
from kodek.codecs import availability, build_codec, get_spec, registry
from kodek.codecs.base import CodecError
from kodek.codecs.centroids import assign, find_centroids
from kodek.codecs.init import calibration_audio
from kodek.codecs.ssl import MODELS, SslFeatures, SslKmeansCodec, build_model
from kodek.kmeans import fit
from kodek.metrics.score import score
from kodek.results.schema import validate
from kodek.tokenize.pipeline import tokenize
from kodek.tokenize.reader import open_tokens

pytestmark = pytest.mark.slow  # random-weight neural models, built and run for seconds

CODEC = "hubert-base-l2-k8"  # layer 2 of HuBERT base, 8 clusters: small enough to fit in a test


@pytest.fixture(scope="module")
def small_hubert():
    """HuBERT base's architecture cut to 2 layers, random weights (what layer 2 needs)."""
    return build_model(MODELS["hubert-base"], random_weights=True, num_layers=2)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, small_hubert):
    out = tmp_path_factory.mktemp("kmeans")
    folder = fit(CODEC, "sample", "validation", out, random_weights=True, network=small_hubert, progress=False)
    return out, folder


@pytest.fixture(scope="module")
def codec(fitted, small_hubert):
    spec = get_spec(CODEC)
    centroids, artefact = find_centroids(CODEC, str(fitted[0]), random_weights=True, seed=0)
    features = SslFeatures(MODELS["hubert-base"], small_hubert, layer=2)
    return SslKmeansCodec(spec, features, centroids, artefact, random_weights=True)


def test_registered_facts():
    spec = get_spec("hubert-base-l9-k500")
    assert spec.kind == "ssl-kmeans" and not spec.has_decoder and spec.category == "SSL Model"
    assert (spec.sample_rate, spec.frame_rate, spec.num_codebooks, spec.codebook_size) == (16_000, 50.0, 1, 500)
    assert spec.bitrate_bps == pytest.approx(50 * np.log2(500))
    ids = set(registry().entries)
    for expected in (
        "wav2vec2-base-l6-k500",
        "xlsr-300m-l12-k500",
        "mhubert-147-l9-k500",
        "wavlm-base-plus-l6-k500",
        "w2v-bert-2.0-l12-k500",
        "hubert-base-l9-k1000",
        "hubert-base-l9-k2000",
    ):
        assert expected in ids
    assert get_spec("wavlm-base-plus-l3-k50").options == {"model": "wavlm-base-plus", "layer": 3, "k": 50}
    with pytest.raises(KeyError, match="unknown codec id"):
        get_spec("nope-l3-k50")


@pytest.mark.parametrize("name", ["wav2vec2-base", "xlsr-300m", "hubert-base", "wavlm-base-plus", "w2v-bert-2.0"])
def test_features_are_50_hz_and_batch_invariance_is_what_the_flag_says(name):
    import torch

    model = MODELS[name]
    network = build_model(model, random_weights=True, num_layers=2).double()
    features = SslFeatures(model, network, layer=2)
    features.dtype = torch.float64
    waves = [calibration_audio(16_000, s, seed=k) for k, s in enumerate([1.0, 0.33, 0.01])]
    batched = features(*pad_batch(waves, 320))
    assert [f.shape for f in batched] == [
        (50, network.config.hidden_size),
        (17, network.config.hidden_size),
        (1, network.config.hidden_size),
    ]
    singles = [features(*pad_batch([w], 320))[0] for w in waves]
    same = all(np.array_equal(a, b) for a, b in zip(singles, batched, strict=True))
    # Group norm over time (base wav2vec 2.0, HuBERT, WavLM) sees the padding; XLS-R and w2v-BERT mask it.
    assert same == features.padding_exact == (name in ("xlsr-300m", "w2v-bert-2.0"))


def test_assign_is_the_nearest_centroid():
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(5, 3)).astype(np.float32)
    points = centroids[[3, 1, 4]] + 1e-3
    assert assign(points, centroids).tolist() == [3, 1, 4]


def test_fit_writes_a_versioned_artefact(fitted):
    folder = fitted[1]
    meta = json.loads((folder / "kmeans.json").read_text())
    centroids = np.load(folder / "centroids.npy")
    assert centroids.shape == (8, 768) and centroids.dtype == np.float32
    assert meta["codec_id"] == CODEC and meta["layer"] == 2 and meta["k"] == 8 and meta["random_weights"]
    assert meta["data"]["name"] == "sample" and meta["data"]["split"] == "validation"
    assert meta["data"]["utterances"] == 6 and meta["data"]["frames"] > 500
    assert meta["software"]["scikit-learn"] and len(meta["sha256"]) == 64
    assert availability(registry().get(CODEC), kmeans=str(fitted[0])).status != "needs-kmeans"


def test_fit_is_seeded(tmp_path, small_hubert, fitted):
    again = fit(CODEC, "sample", "validation", tmp_path, random_weights=True, network=small_hubert, progress=False)
    np.testing.assert_array_equal(np.load(again / "centroids.npy"), np.load(fitted[1] / "centroids.npy"))


def test_centroids_of_another_model_build_are_refused(fitted):
    with pytest.raises(CodecError, match="fitted on features of random weights"):
        find_centroids(CODEC, str(fitted[0]), random_weights=False, seed=0)


def test_tokens_build_keep_the_centroids_and_score_not_applicable(tmp_path, codec, sample_test):
    tokenize(codec, sample_test, tmp_path / "tokens", progress=False)
    rows = datasets.load_dataset(str(tmp_path / "tokens"), CODEC, split="test")
    for row in rows:
        codes = np.array(row["codes"])
        assert codes.shape == (1, row["num_frames"]) and codes.max() < 8
        assert row["num_frames"] == int(np.ceil(row["duration_s"] * 50))
    assert len(set(np.concatenate([np.array(r)[0] for r in rows["codes"]]))) > 2
    meta = json.loads((tmp_path / "tokens/data" / CODEC / "codec.json").read_text())
    assert meta["kmeans"]["path"] == f"kmeans/{CODEC}" and len(meta["kmeans"]["sha256"]) == 64
    assert (tmp_path / "tokens/kmeans" / CODEC / "centroids.npy").is_file()  # published with the tokens
    data = score(open_tokens(tmp_path / "tokens", CODEC), tmp_path / "results", progress=False)
    assert validate(data) == []
    assert all(m["applicable"] is False for m in data["metrics"].values())


def test_ssl_codecs_cannot_decode(codec):
    codes, frames = codec.encode(*pad_batch([calibration_audio(16_000, 0.5)], 320))
    with pytest.raises(CodecError, match="no decoder"):
        codec.decode(codes, frames)


def test_without_centroids_the_error_says_how_to_fit(monkeypatch):
    monkeypatch.delenv("KODEK_KMEANS", raising=False)
    assert availability(registry().get("hubert-base-l9-k500")).status == "needs-kmeans"
    with pytest.raises(CodecError, match="kodek kmeans fit --codec hubert-base-l9-k500"):
        build_codec("hubert-base-l9-k500", random_weights=True)


def test_kmeans_is_an_explicit_setting_and_the_users_own_variable_still_works(fitted, monkeypatch):
    import os

    from kodek.cli import _codec_settings, build_parser

    monkeypatch.delenv("KODEK_KMEANS", raising=False)
    args = build_parser().parse_args(["tokenize", "--codec", CODEC, "--out", "x", "--kmeans", str(fitted[0])])
    assert _codec_settings(args).kmeans == str(fitted[0]) and "KODEK_KMEANS" not in os.environ
    centroids = np.load(fitted[1] / "centroids.npy")
    np.testing.assert_array_equal(find_centroids(CODEC, str(fitted[0]), random_weights=True, seed=0)[0], centroids)
    monkeypatch.setenv("KODEK_KMEANS", str(fitted[0]))  # set by the user: read when no setting is given
    assert availability(registry().get(CODEC)).status != "needs-kmeans"
    np.testing.assert_array_equal(find_centroids(CODEC, random_weights=True, seed=0)[0], centroids)


def test_kmeans_fit_command_line(tmp_path, capsys):
    code = main(
        [
            "kmeans",
            "fit",
            "--model",
            "wavlm-base-plus",
            "--layer",
            "1",
            "--k",
            "4",
            "--data",
            "sample",
            "--split",
            "test",
            "--max-hours",
            "0.002",
            "--random-weights",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "wavlm-base-plus-l1-k4: centroids in" in out and "--kmeans" in out
    meta = json.loads((tmp_path / "kmeans/wavlm-base-plus-l1-k4/kmeans.json").read_text())
    assert meta["data"]["hours"] >= 0.002 and meta["data"]["utterances"] < 6  # stopped at --max-hours


@pytest.mark.weights
def test_real_hubert_checkpoint_loads():
    network = build_model(MODELS["hubert-base"], random_weights=False)
    assert network.config.num_hidden_layers == 12 and network.config.hidden_size == 768


@pytest.fixture(scope="module")
def ssl_tokens(tmp_path_factory, codec):
    """The sample's three splits (4 utterances each) tokenized once, read by each adapter input's run."""
    from kodek.data.source import load_source

    folder = tmp_path_factory.mktemp("ssl-tokens")
    for split in ("train", "validation", "test"):
        tokenize(codec, load_source("sample", split), folder, limit=4, progress=False)
    return folder


@pytest.mark.parametrize("adapter_input", ["codes", "centroids", "ssl-features"])
def test_speechllm_takes_ssl_tokens_as_codes_centroids_or_layer_features(
    tmp_path, ssl_tokens, adapter_input, small_hubert, monkeypatch
):
    """The SpeechLLM's SSL ablations: k-means centroids or the SSL layer's features instead of code embeddings."""
    import functools

    from kodek.lm.config import load_config
    from kodek.lm.data import ssl_feature_source
    from kodek.lm.evaluation import evaluate
    from kodek.lm.session import open_session
    from kodek.lm.train import train

    # The layer features come from the network that made the tokens (2 layers), not a 12-layer random HuBERT.
    monkeypatch.setattr(
        "kodek.lm.session.ssl_feature_source", functools.partial(ssl_feature_source, network=small_hubert)
    )
    config = load_config("tiny-test", {"adapter.input": adapter_input, "training.max_steps": 2})
    session = open_session(config, str(ssl_tokens), CODEC)
    split = session.load("train")
    first = split.utterances[0]
    assert first.inputs.shape == (1, first.frames)  # only the codes are held; features are made per batch
    inputs = split.inputs([first])[0]
    if adapter_input == "codes":
        assert inputs is first.inputs
    else:  # one 768-d vector per 50 Hz frame (a centroid, or the layer's own feature)
        assert inputs.shape == (first.frames, 768) and inputs.dtype == np.float32
    if adapter_input == "centroids":
        centroids = np.load(ssl_tokens / "kmeans" / CODEC / "centroids.npy")
        codes = open_tokens(ssl_tokens, CODEC).codes("train")[1][0][0]
        np.testing.assert_array_equal(inputs, centroids[codes])
    train(session, tmp_path / "run", progress=False)
    data = evaluate(session, tmp_path / "run", tmp_path / "results", progress=False)
    assert data["adapter"]["config"]["adapter"]["input"] == adapter_input
    assert data["adapter"]["stack_factor"] == 4  # 50 Hz x 80 ms
    assert all(data["metrics"]["ppl"][c] > 1 for c in ("prior", "init", "trained"))
