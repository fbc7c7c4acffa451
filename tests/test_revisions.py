"""Checkpoint revisions: pinned commits exist on the Hub; branches are resolved to the commit used and recorded."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest

from kodek.codecs import Checkpoint, build_codec, registry
from kodek.codecs.registry import resolved_revision

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def hub_pins() -> list[tuple[str, str]]:
    """Every (repo, revision) kodek loads from the Hub by default: codecs, metric models, the LLM."""
    from kodek.lm.config import DEFAULT_LLM, DEFAULT_LLM_REVISION
    from kodek.metrics.asr import DEFAULT_ASR_MODEL, DEFAULT_ASR_REVISION
    from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL, DEFAULT_SPEAKER_REVISION

    pins = {
        (e.spec.checkpoint.repo, e.spec.checkpoint.revision)
        for e in registry().entries.values()
        if e.spec.checkpoint and e.spec.checkpoint.loader != "github" and e.source == "kodek"
    }
    pins |= {
        (DEFAULT_ASR_MODEL, DEFAULT_ASR_REVISION),
        (DEFAULT_SPEAKER_MODEL, DEFAULT_SPEAKER_REVISION),
        (DEFAULT_LLM, DEFAULT_LLM_REVISION),
    }
    return sorted(pins)


def test_a_branch_is_recorded_as_the_commit_the_weights_came_from(sample_test, tmp_path, monkeypatch):
    """codec.json records the commit a branch such as "main" resolved to when the weights were downloaded."""
    import datasets

    from kodek import files
    from kodek.tokenize.pipeline import tokenize

    commit = hashlib.sha1(b"some commit").hexdigest()
    cache = tmp_path / "hub"
    refs = cache / "models--org--model" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(commit)  # what huggingface_hub writes when it resolves "main"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert resolved_revision("org/model", "main") == commit
    assert resolved_revision("org/model", "0" * 40) == "0" * 40
    assert resolved_revision("org/other", "main") == "main"  # not downloaded through the cache: left as asked

    codec = build_codec("identity-16khz")
    codec.spec = dataclasses.replace(codec.spec, checkpoint=Checkpoint("org/model", "main"))
    source = type(sample_test)(**{**vars(sample_test), "dataset": sample_test.dataset.select([0])})
    tokenize(codec, source, tmp_path / "tokens", progress=False)
    assert datasets.load_dataset(str(tmp_path / "tokens"), "identity-16khz", split="test").num_rows == 1
    meta = files.read_json(tmp_path / "tokens" / "data" / "identity-16khz" / "codec.json")
    assert meta["checkpoint_revision"] == commit


@pytest.mark.network
@pytest.mark.parametrize(("repo", "revision"), hub_pins())
def test_every_pinned_revision_resolves_on_the_hub(repo, revision):
    from huggingface_hub import HfApi

    info = HfApi(endpoint="https://huggingface.co").model_info(repo, revision=revision)
    assert COMMIT.match(info.sha)
    if COMMIT.match(revision):
        assert info.sha == revision


@pytest.mark.network
def test_lyra_files_at_the_pinned_github_commit():
    import urllib.request

    from kodek.codecs import lyra

    for name, digest in lyra.SHA256.items():
        with urllib.request.urlopen(lyra.URL.format(name=name), timeout=60) as response:
            assert hashlib.sha256(response.read()).hexdigest() == digest
