"""What produced an artefact: library versions, git commit, hardware, date."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import kodek

LIBRARIES = (
    "torch",
    "transformers",
    "datasets",
    "huggingface_hub",
    "numpy",
    "pyarrow",
    "soxr",
    "soundfile",
    "av",
    "pesq",
    "pystoi",
    "jiwer",
    "evaluate",
    "scikit-learn",
    "peft",
    "accelerate",
    "streamlit",
)


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    found = {"kodek": kodek.__version__, "python": platform.python_version()}
    for name in LIBRARIES + extra:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> str | None:
    """The commit of the kodek checkout in use, if it is one (None for an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.system()}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def record() -> dict[str, Any]:
    return {"software": versions(), "git_commit": git_commit(), "hardware": hardware(), "date": now()}
