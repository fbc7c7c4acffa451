"""`kodek publish-space` against the local test Hub: the Space and the metric modules install this exact kodek."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest
import tomllib
from huggingface_hub import HfApi, constants

import kodek
from kodek.cli import main
from kodek.leaderboard.publish import METRICS_DIR, PublishError, publish_space

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(text: str) -> list[str]:
    return [line.split("  #")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_publish_space_uploads_the_space_the_wheel_and_pinned_requirements(hub, capsys):
    code = main(["publish-space", "--repo", "kodek-test/leaderboard-space", "--source", str(ROOT), "--token", "t"])
    assert code == 0
    api = HfApi(token="t")
    files = set(api.list_repo_files("kodek-test/leaderboard-space", repo_type="space"))
    wheels = [f for f in files if f.startswith("wheels/")]
    assert {"README.md", "app.py", "requirements.txt"} <= files and len(wheels) == 1
    wheel = Path(api.hf_hub_download("kodek-test/leaderboard-space", wheels[0], repo_type="space"))
    # The wheel is this kodek: its version, and the page and schema it ships are this checkout's files.
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "kodek/leaderboard/app.py" in names and "kodek/results/schema.py" in names
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        page = archive.read("kodek/leaderboard/app.py")
    assert f"\nVersion: {kodek.__version__}\n" in metadata
    assert page == (ROOT / "src" / "kodek" / "leaderboard" / "app.py").read_bytes()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    url = f"{constants.ENDPOINT}/spaces/kodek-test/leaderboard-space/resolve/main/{wheels[0]}#sha256={digest}"
    space_requirements = Path(
        api.hf_hub_download("kodek-test/leaderboard-space", "requirements.txt", repo_type="space")
    )
    assert requirement_lines(space_requirements.read_text()) == [f"kodek[leaderboard] @ {url}"]
    # The Space is served as `kodek leaderboard` serves it: no file watcher, no full garbage collection per run.
    config = Path(api.hf_hub_download("kodek-test/leaderboard-space", ".streamlit/config.toml", repo_type="space"))
    settings = tomllib.loads(config.read_text())
    assert settings == {"server": {"fileWatcherType": "none"}, "runner": {"postScriptGC": False}}
    # Every metric module: its own Space, its script, and the same wheel (no bare `kodek` from the index).
    modules = sorted(p.name for p in (ROOT / METRICS_DIR).iterdir() if (p / "requirements.txt").is_file())
    assert modules
    for name in modules:
        repo = f"kodek-test/{name}"
        assert f"{name}.py" in api.list_repo_files(repo, repo_type="space")
        text = Path(api.hf_hub_download(repo, "requirements.txt", repo_type="space")).read_text()
        lines = requirement_lines(text)
        assert lines[0] == f"kodek @ {url}"
        assert not any(line.split("[")[0].split("@")[0].strip() == "kodek" for line in lines[1:])
    assert "kodek wheel:" in capsys.readouterr().out
    assert not hub.unhandled


def test_the_repository_requirements_never_name_kodek_from_the_index():
    for path in [ROOT / "leaderboard" / "requirements.txt", *(ROOT / METRICS_DIR).glob("*/requirements.txt")]:
        names = [line.split("[")[0].split(">")[0].split("=")[0].strip() for line in requirement_lines(path.read_text())]
        assert "kodek" not in names, path


def test_publishing_outside_a_checkout_is_one_clear_error(tmp_path):
    with pytest.raises(PublishError, match="not a kodek checkout"):
        publish_space("kodek-test/nowhere", source=tmp_path)


def test_kodek_leaderboard_serves_the_page_as_the_space_does(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(subprocess, "call", lambda command, env: ran.append(command) or 0)
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    command = " ".join(ran[0])
    assert "--server.fileWatcherType none" in command and "--runner.postScriptGC false" in command
