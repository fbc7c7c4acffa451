"""kodek publish and load_dataset through the real Hub clients, against the local test Hub server."""

from __future__ import annotations

import datasets
import pytest
from huggingface_hub import HfApi

from kodek.cli import main
from kodek.codecs import build_codec
from kodek.codecs.init import calibration_audio
from kodek.hub import HubError, publish_folder
from kodek.tokenize.pipeline import tokenize

from conftest import make_source, wav_bytes


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokens")
    source = make_source([(f"utt-{i}", wav_bytes(calibration_audio(16_000, 0.5 + 0.2 * i, seed=i))) for i in range(5)])
    tokenize(build_codec("opus-6kbps"), source, folder, progress=False)
    tokenize(build_codec("identity-16khz"), source, folder, limit=3, progress=False)
    return folder


def test_publish_then_load_dataset_reads_back_what_was_written(hub, token_folder):
    published = publish_folder(token_folder, "kodek-test/tokens-a", token="t")
    assert published.changed
    files = HfApi(token="t").list_repo_files("kodek-test/tokens-a", repo_type="dataset")
    assert "data/opus-6kbps/codec.json" in files and "README.md" in files
    assert not any(".kodek" in f for f in files)  # work folders and locks stay local
    for codec_id in ("opus-6kbps", "identity-16khz"):
        local = datasets.load_dataset(str(token_folder), codec_id, split="test")
        remote = datasets.load_dataset("kodek-test/tokens-a", codec_id, split="test", token="t")
        assert remote["audioname"] == local["audioname"] and remote["codes"] == local["codes"]
    streamed = datasets.load_dataset("kodek-test/tokens-a", "opus-6kbps", split="test", streaming=True, token="t")
    assert [r["num_frames"] for r in streamed] == local_frames(token_folder)
    assert not hub.unhandled


def local_frames(folder):
    return datasets.load_dataset(str(folder), "opus-6kbps", split="test")["num_frames"]


def test_republishing_the_same_content_is_a_no_op(hub, token_folder):
    first = publish_folder(token_folder, "kodek-test/tokens-b", token="t")
    again = publish_folder(token_folder, "kodek-test/tokens-b", token="t")
    assert first.changed and not again.changed and again.revision == first.revision
    commits = HfApi(token="t").list_repo_commits("kodek-test/tokens-b", repo_type="dataset")
    assert len(commits) == 2  # the repo's initial commit and the upload


def test_publish_as_a_pull_request_leaves_main_alone(hub, token_folder, tmp_path):
    publish_folder(token_folder, "kodek-test/tokens-c", token="t")
    api = HfApi(token="t")
    main_before = api.repo_info("kodek-test/tokens-c", repo_type="dataset").sha
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "NOTES.md").write_text("a new file\n")
    result = publish_folder(changed, "kodek-test/tokens-c", create_pr=True, token="t")
    assert result.changed and result.pr_url and "discussions/1" in result.pr_url
    assert api.repo_info("kodek-test/tokens-c", repo_type="dataset").sha == main_before
    assert "NOTES.md" in api.list_repo_files("kodek-test/tokens-c", repo_type="dataset", revision="refs/pr/1")


def test_publish_cli_never_prints_the_token(hub, token_folder, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    assert main(["publish", str(token_folder), "--repo", "kodek-test/tokens-d"]) == 0
    out = capsys.readouterr()
    assert "kodek-test/tokens-d: published" in out.out
    assert "hf_secret_value_123" not in out.out + out.err


def test_bad_repo_ids_and_folders_are_refused(tmp_path):
    with pytest.raises(HubError, match="invalid Hub repo id"):
        publish_folder(tmp_path, "no-slash")
    with pytest.raises(HubError, match="no such folder"):
        publish_folder(tmp_path / "missing", "org/name")
