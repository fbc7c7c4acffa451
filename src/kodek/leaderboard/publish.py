"""``kodek publish-space``: the leaderboard Space and the metric modules on the Hub, running this exact kodek.

kodek is not on the package index under its own name (and ``kodek[leaderboard]`` there could be anyone's code),
so each published Space installs the kodek wheel built from this checkout: the wheel is uploaded beside the
leaderboard Space (``wheels/``), and every ``requirements.txt`` asks for it by URL with its sha256, which pip
checks: a Space installs these bytes or fails, never another kodek. A URL (not a relative path) because a Space
installs its requirements before the rest of its files are in place.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kodek.errors import KodekError
from kodek.hub import check_repo_id

SPACE_DIR = "leaderboard"
METRICS_DIR = "metrics"
SPACE_FILES = ("README.md", "app.py")
METRIC_FILES = ("README.md", "app.py")
WHEELS = "wheels"
KODEK_LINE = "# kodek itself:"  # the repository's requirements say where the published kodek line goes


class PublishError(KodekError):
    pass


@dataclass
class Wheel:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class PublishedSpaces:
    space: str
    wheel_url: str
    commits: dict[str, str] = field(default_factory=dict)  # repo -> commit

    def summary(self) -> str:
        lines = [f"{repo}: commit {commit[:12]}" for repo, commit in self.commits.items()]
        return "\n".join([*lines, f"kodek wheel: {self.wheel_url}"])


def build_wheel(source: Path, out: Path) -> Wheel:
    """The kodek wheel of the checkout ``source`` (pip, without dependencies or a build environment download)."""
    if not (source / "pyproject.toml").is_file() or not (source / SPACE_DIR / "app.py").is_file():
        raise PublishError(f"{source}: not a kodek checkout (no pyproject.toml and {SPACE_DIR}/app.py); use --source")
    # Built from a copy: a build writes build/ and *.egg-info beside the sources it reads.
    tree = out.parent / "source"
    tree.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (source / name).is_file():
            shutil.copy2(source / name, tree / name)
    shutil.copytree(source / "src", tree / "src", ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    done = subprocess.run([*command, str(tree)], capture_output=True, text=True)
    wheels = sorted(out.glob("kodek-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no wheel written"])[-1]
        raise PublishError(f"building the kodek wheel from {source} failed: {last}")
    return Wheel(wheels[0], hashlib.sha256(wheels[0].read_bytes()).hexdigest())


def wheel_url(endpoint: str, space: str, wheel: Wheel) -> str:
    """Where the Space serves the wheel, pinned by content: pip refuses any other bytes."""
    return f"{endpoint.rstrip('/')}/spaces/{space}/resolve/main/{WHEELS}/{wheel.name}#sha256={wheel.sha256}"


def requirements(template: str, requirement: str) -> str:
    """The repository's requirements with the kodek line filled in (in place of its ``# kodek itself:`` note)."""
    lines = [line for line in template.splitlines() if not line.startswith(KODEK_LINE)]
    return "\n".join([f"{requirement}  # this exact kodek (sha256-pinned wheel)", *lines]) + "\n"


def stage_space(source: Path, wheel: Wheel, url: str, out: Path) -> Path:
    """The leaderboard Space's files: its card and page, the server settings ``kodek leaderboard`` runs with, the
    wheel, and requirements pinned to the wheel."""
    from kodek.leaderboard import server_config

    space = source / SPACE_DIR
    out.mkdir(parents=True)
    for name in SPACE_FILES:
        shutil.copy2(space / name, out / name)
    (out / ".streamlit").mkdir()
    (out / ".streamlit" / "config.toml").write_text(server_config(), encoding="utf-8")
    (out / WHEELS).mkdir()
    shutil.copy2(wheel.path, out / WHEELS / wheel.name)
    text = requirements((space / "requirements.txt").read_text(encoding="utf-8"), f"kodek[leaderboard] @ {url}")
    (out / "requirements.txt").write_text(text, encoding="utf-8")
    return out


def stage_metric(module: Path, url: str, out: Path) -> Path:
    out.mkdir(parents=True)
    for name in (*METRIC_FILES, f"{module.name}.py"):
        shutil.copy2(module / name, out / name)
    text = requirements((module / "requirements.txt").read_text(encoding="utf-8"), f"kodek @ {url}")
    (out / "requirements.txt").write_text(text, encoding="utf-8")
    return out


def metric_modules(source: Path) -> list[Path]:
    return sorted(p.parent for p in (source / METRICS_DIR).glob("*/requirements.txt"))


def publish_space(
    space: str,
    *,
    source: Path = Path("."),
    metrics_org: str | None = None,
    wheel: Path | None = None,
    private: bool = False,
    token: str | bool | None = None,
) -> PublishedSpaces:
    """Build (or take) the kodek wheel, publish the leaderboard Space with it, then each metric module.

    The metric modules go to ``METRICS_ORG/<name>`` (default: the Space's organisation) and install the wheel from
    the leaderboard Space.
    """
    from huggingface_hub import HfApi, constants

    check_repo_id(space)
    source = Path(source).resolve()
    org = metrics_org or space.split("/")[0]
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="kodek-publish-") as tmp:
        folder = Path(tmp)
        if wheel is None:
            built = build_wheel(source, folder / "dist")
        else:
            built = Wheel(Path(wheel), hashlib.sha256(Path(wheel).read_bytes()).hexdigest())
        url = wheel_url(constants.ENDPOINT, space, built)
        staged = {space: stage_space(source, built, url, folder / "space")}
        for module in metric_modules(source):
            staged[f"{org}/{module.name}"] = stage_metric(module, url, folder / "metrics" / module.name)
        result = PublishedSpaces(space, url)
        for repo, files in staged.items():  # the leaderboard Space first: the modules install its wheel
            sdk = "streamlit" if repo == space else "gradio"
            try:
                api.create_repo(check_repo_id(repo), repo_type="space", space_sdk=sdk, private=private, exist_ok=True)
                info = api.upload_folder(
                    repo_id=repo, repo_type="space", folder_path=files, commit_message=f"kodek: publish {files.name}"
                )
            except Exception as error:  # the Hub's answer, in one line
                raise PublishError(f"{repo}: publishing failed: {str(error).splitlines()[0][:300]}") from None
            result.commits[repo] = info.oid
    return result
