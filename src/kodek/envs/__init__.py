"""Isolated codec environments: a family that cannot share kodek's environment declares its own.

An :class:`EnvSpec` pins what the family's model code needs (a torch/torchaudio pair, a package
with conflicting pins, ...). ``kodek env build FAMILY`` creates it with ``uv`` under the cache
folder, named after a hash of the spec, so a changed pin builds a new environment beside the old
one and several environments share uv's package cache (hard links). The codec then runs in a
worker process inside it (``kodek.codecs.isolated``). Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodek.errors import KodekError

MARKER = "kodek-env.json"  # written last: an environment without it is incomplete
# uv's install options, part of the folder's hash. Bytecode is compiled at build time: a worker starts by
# importing torch and its model code (seconds from bytecode, several more from source, every start where
# Python may not write bytecode, e.g. PYTHONDONTWRITEBYTECODE).
INSTALL_OPTIONS = ("--compile-bytecode",)


class EnvError(KodekError, RuntimeError):
    """An environment that cannot be built or found."""


@dataclass(frozen=True)
class EnvSpec:
    """A pinned environment. ``no_deps`` are installed after ``requirements`` without their own
    dependencies (packages whose declared pins cannot be met, e.g. a pin that does not build)."""

    name: str
    requirements: tuple[str, ...]
    no_deps: tuple[str, ...] = ()
    python: str = "3.11"
    description: str = ""
    # Set when the environment cannot be built from the package registry alone; shown with the build error.
    needs: str = ""

    @property
    def hash(self) -> str:
        data = {"python": self.python, "requirements": self.requirements, "no_deps": self.no_deps}
        data["install_options"] = INSTALL_OPTIONS
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def folder_name(self) -> str:
        return f"{self.name}-{self.hash}"


@dataclass(frozen=True)
class EnvSettings:
    """Where environments live and how long a worker may take.

    ``cache``: the folder holding the environments (default: ``KODEK_ENV_CACHE`` if the user set it,
    else ``<user cache dir>/kodek/envs``). ``uv_cache``: uv's own cache (default: uv's default).
    ``start_timeout_s``: building the model in the worker (may download weights); ``call_timeout_s`` +
    ``timeout_per_audio_s`` x seconds of audio: one encode/decode call, after which the worker counts
    as hung and is killed.
    """

    cache: Path | None = None
    uv_cache: Path | None = None
    start_timeout_s: float = 1800.0
    # Generous: a busy 2-core CPU ran BigCodec at ~25 s per second of audio; a hang is what exceeds this.
    call_timeout_s: float = 600.0
    timeout_per_audio_s: float = 60.0
    # Extra folders on the worker's import path (a third-party codec's source, tests).
    extra_paths: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def cache_dir(self) -> Path:
        if self.cache is not None:
            return Path(self.cache)
        if os.environ.get("KODEK_ENV_CACHE"):
            return Path(os.environ["KODEK_ENV_CACHE"])
        import platformdirs

        return Path(platformdirs.user_cache_dir("kodek")) / "envs"


TORCH_211 = ("torch==2.11.0", "torchaudio==2.11.0")

# One heavy environment for the families that need torchaudio: torch and torchaudio as the matching pair
# from the registry (torchaudio 2.11 is its last release), transformers for X-Codec2 and NeuCodec (their
# feature extractors call torchaudio's Kaldi filter banks), and BigCodec's package, installed without its
# dependencies (it declares an unpinned torchaudio, which would move the pair).
TORCH_AUDIO = EnvSpec(
    name="torch-audio",
    requirements=(
        *TORCH_211,
        "transformers==5.24.0",
        "numpy>=2.0,<3",
        "einops==0.8.2",
        "huggingface_hub>=1.0",
        "safetensors>=0.4",
        "soxr>=0.3",
    ),
    no_deps=("bigcodec==0.0.3",),
    description="torch 2.11 + torchaudio 2.11, transformers 5.24, bigcodec",
)

# SemantiCodec's inference package is published only on GitHub. The commit is the head of
# haoheliu/SemantiCodec-inference as mirrored publicly (2025-03-07, "Update README.md"); the other pins
# are the packages its setup.py names (unpinned there), at the versions on the registry when this was written.
SEMANTICODEC_COMMIT = "7c05d426d2971505014b96fc151522f78ff2a265"
SEMANTICODEC = EnvSpec(
    name="semanticodec",
    requirements=(
        *TORCH_211,
        "numpy>=1.24,<3",
        "soundfile>=0.12",
        "vector-quantize-pytorch==1.32.0",
        "huggingface_hub>=1.0",
        "timm==1.0.31",
        "scipy>=1.10",
        f"semanticodec @ git+https://github.com/haoheliu/SemantiCodec-inference@{SEMANTICODEC_COMMIT}",
    ),
    description=f"torch 2.11 + torchaudio 2.11, semanticodec from GitHub at {SEMANTICODEC_COMMIT[:12]}",
    needs="installs semanticodec from github.com (haoheliu/SemantiCodec-inference): needs access to GitHub",
)

# Stable Codec's packages pin torch 2.4 (stable-codec) and a long training/UI list (stable-audio-tools), so both
# are installed without their dependencies, beside what their model code imports when the model is built:
# stable-audio-tools' autoencoder module imports k-diffusion (which imports torchvision, scikit-image, clip, ...)
# and its training utilities, which StableCodec imports, import pytorch-lightning, wandb and matplotlib; the pins
# are stable-audio-tools 0.0.17's where it has one. wandb 0.15 needs numpy < 2, and lightning 2.1 imports
# pkg_resources, gone from setuptools 81. Not included: flash-attn (the model's sliding-window attention), which
# the registry only has as a source package that compiles CUDA code.
STABLE_CODEC = EnvSpec(
    name="stable-codec",
    requirements=(
        "torch==2.4.0",
        "torchaudio==2.4.0",
        "torchvision==0.19.0",
        "numpy==1.26.4",
        "setuptools==80.10.2",
        "einops==0.8.2",
        "einops-exts==0.0.4",
        "safetensors==0.8.0",
        "huggingface_hub==2.4.0",
        "alias-free-torch==0.0.6",
        "k-diffusion==0.1.1",
        "pytorch-lightning==2.1.0",
        "torchmetrics==0.11.4",
        "wandb==0.15.4",
        "matplotlib==3.11.2",
    ),
    no_deps=("stable-codec==0.1.2", "stable-audio-tools==0.0.17"),
    description="torch 2.4 + torchaudio 2.4, stable-codec 0.1.2 and stable-audio-tools 0.0.17",
)

# FunCodec's package pins editdistance==0.5.2, which does not build on Python 3.11, so it is installed without
# its dependencies, and with exactly the packages its model and inference modules import
# (funcodec.bin.codec_inference, funcodec.tasks.gan_speech_codec), found by importing them in a bare
# environment; typeguard stays below 3 (FunCodec calls check_argument_types, removed in typeguard 3).
FUNCODEC = EnvSpec(
    name="funcodec",
    requirements=(
        *TORCH_211,
        "numpy==2.4.6",
        "pyyaml==6.0.4",
        "typeguard==2.13.3",
        "humanfriendly==10.0",
        "librosa==0.11.0",
        "einops==0.8.2",
        "thop==0.1.1.post2209072238",
        "h5py==3.16.0",
        "kaldiio==2.18.1",
        "six==1.17.0",
        "torch-complex==0.4.4",
        "pytorch-wpe==0.0.1",
        "huggingface_hub==2.4.0",
    ),
    no_deps=("funcodec==0.2.0",),
    description="torch 2.11 + torchaudio 2.11, funcodec 0.2.0 (without its pins), the packages its inference imports",
)

# DualCodec's package (Amphion) imports descript-audiotools, which pins protobuf<3.20, and torchaudio; its
# semantic stream reads w2v-BERT 2.0 features through transformers. The package's own dependencies resolve
# against the torch/torchaudio pair.
DUALCODEC = EnvSpec(
    name="dualcodec",
    requirements=(*TORCH_211, "dualcodec==0.4.2", "transformers==5.24.0", "numpy>=1.24,<3"),
    description="torch 2.11 + torchaudio 2.11, dualcodec 0.4.2 (descript-audiotools, hydra), transformers 5.24",
)

# The authors' packages, for the conformance tests only (kodek runs Mimi and DAC through transformers): they
# cannot share kodek's environment. moshi 0.2.13 pins torch<2.10 and huggingface-hub<1.0; its model code needs
# no torchaudio. descript-audio-codec's descript-audiotools pins protobuf<3.20 and imports torchaudio.
MOSHI = EnvSpec(
    name="moshi",
    requirements=("torch==2.9.1", "moshi==0.2.13", "numpy>=2.0,<3", "safetensors>=0.4"),
    description="test-only: torch 2.9 + moshi 0.2.13 (Kyutai's Mimi), for the conformance tests",
)
# Named apart from the ``dac`` codec family, which runs in kodek's environment through transformers.
DESCRIPT_DAC = EnvSpec(
    name="descript-dac",
    requirements=(*TORCH_211, "descript-audio-codec==1.0.0", "descript-audiotools==0.7.2", "safetensors>=0.4"),
    description="test-only: torch 2.11 + torchaudio 2.11, descript-audio-codec 1.0.0, for the conformance tests",
)

ENVIRONMENTS: dict[str, EnvSpec] = {
    env.name: env for env in (TORCH_AUDIO, SEMANTICODEC, FUNCODEC, DUALCODEC, STABLE_CODEC, MOSHI, DESCRIPT_DAC)
}


def get_env(name: str) -> EnvSpec:
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise EnvError(f"unknown environment {name!r} (known: {', '.join(sorted(ENVIRONMENTS))})") from None


def env_path(env: EnvSpec, settings: EnvSettings | None = None) -> Path:
    return (settings or EnvSettings()).cache_dir / env.folder_name


def python_of(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def is_built(env: EnvSpec, settings: EnvSettings | None = None) -> bool:
    return (env_path(env, settings) / MARKER).is_file()


def record(env: EnvSpec, settings: EnvSettings | None = None) -> dict[str, Any] | None:
    """What the build wrote: requirements, resolved package versions, install time (None if not built)."""
    marker = env_path(env, settings) / MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def folder_size(folder: Path) -> int:
    """Bytes under ``folder``, each file counted once (uv hard-links packages from its cache)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def uv_binary() -> str:
    """The ``uv`` executable: the ``uv`` Python package's, else one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvError("uv is needed to build codec environments: pip install uv")


def build(env: EnvSpec, settings: EnvSettings | None = None, *, force: bool = False, quiet: bool = False) -> Path:
    """Create ``env`` under the cache folder unless it is already there; returns its folder.

    A lock file serialises concurrent builds (e.g. several test workers); a folder without the
    marker is a build that was interrupted, and is removed first.
    """
    import fcntl

    settings = settings or EnvSettings()
    folder = env_path(env, settings)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / MARKER).is_file() and not force:
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        tick = time.perf_counter()
        uv = uv_binary()
        run_env = {**os.environ}
        if settings.uv_cache is not None:
            run_env["UV_CACHE_DIR"] = str(settings.uv_cache)
        python = str(python_of(folder))
        steps = [
            [uv, "venv", "--python", env.python, str(folder)],
            [uv, "pip", "install", "--python", python, *INSTALL_OPTIONS, *env.requirements],
        ]
        if env.no_deps:
            steps.append([uv, "pip", "install", "--python", python, *INSTALL_OPTIONS, "--no-deps", *env.no_deps])
        try:
            for step in steps:
                _run(step, run_env, env, quiet=quiet)
        except EnvError:
            shutil.rmtree(folder, ignore_errors=True)  # no half-built environment left behind
            raise
        freeze = subprocess.run(
            [uv, "pip", "freeze", "--python", python], env=run_env, capture_output=True, text=True, check=True
        ).stdout.split()
        facts = {
            "name": env.name,
            "hash": env.hash,
            "python": env.python,
            "requirements": list(env.requirements),
            "no_deps": list(env.no_deps),
            "packages": freeze,
            "install_seconds": round(time.perf_counter() - tick, 1),
            "size_bytes": folder_size(folder),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / MARKER).write_text(json.dumps(facts, indent=2) + "\n")
    return folder


def _run(command: list[str], run_env: dict[str, str], env: EnvSpec, *, quiet: bool) -> None:
    stderr = subprocess.PIPE if quiet else None
    done = subprocess.run(command, env=run_env, stderr=stderr, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] if quiet else []
        hint = f" ({env.needs})" if env.needs else ""
        detail = f": {tail[0].strip()}" if tail else " (see uv's output above)"
        step = " ".join(["uv", *command[1:3]])
        raise EnvError(f"building environment {env.name} failed at `{step}`{hint}{detail}")


def remove(env: EnvSpec, settings: EnvSettings | None = None) -> bool:
    folder = env_path(env, settings)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def interpreter(env: EnvSpec, settings: EnvSettings | None = None) -> Path:
    """The environment's Python, or a clear error naming the command that builds it."""
    folder = env_path(env, settings)
    if not (folder / MARKER).is_file():
        raise EnvError(
            f"environment {env.name} is not built (in {folder.parent}): run `kodek env build {env.name}` "
            f"(about 5 GB; or pass --cache DIR / set KODEK_ENV_CACHE to where it was built)"
        )
    return python_of(folder)


def env_availability(name: str, settings: EnvSettings | None = None) -> tuple[bool, str]:
    """Whether environment ``name`` is built, with the reason in words when it is not (no import, instant)."""
    env = get_env(name)
    if is_built(env, settings):
        return True, ""
    needs = f"; {env.needs}" if env.needs else ""
    return False, f"runs in its own environment {name}, not built yet: kodek env build {name}{needs}"
