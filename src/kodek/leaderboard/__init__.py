"""The leaderboard: results files validated, tabulated and shown by a Streamlit page packaged here."""

from __future__ import annotations

import json
from pathlib import Path

# How the page is served wherever it runs (``kodek leaderboard``, the Space's ``.streamlit/config.toml``, the
# benchmark). No file watcher: the page's code does not change while it is served, and results files are
# fingerprinted on every run. No full garbage collection after every run: with the results in memory it held back
# the end of each run (and so every page load and widget change) by tens of milliseconds.
SERVER_SETTINGS: dict[str, str | bool] = {"server.fileWatcherType": "none", "runner.postScriptGC": False}


def app_path() -> Path:
    """The Streamlit page as a file (``streamlit run`` needs a path); it ships inside kodek, no checkout needed."""
    from importlib.resources import files

    return Path(str(files("kodek.leaderboard").joinpath("app.py")))


def server_flags() -> list[str]:
    """``SERVER_SETTINGS`` as ``streamlit run`` options."""
    return [part for name, value in SERVER_SETTINGS.items() for part in (f"--{name}", json.dumps(value).strip('"'))]


def server_config() -> str:
    """``SERVER_SETTINGS`` as a ``.streamlit/config.toml``."""
    sections: dict[str, list[str]] = {}
    for name, value in SERVER_SETTINGS.items():
        section, option = name.split(".")
        sections.setdefault(section, []).append(f"{option} = {json.dumps(value)}")
    return "\n".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items())
