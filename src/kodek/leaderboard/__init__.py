"""The leaderboard: results files validated, tabulated and shown by a Streamlit page packaged here."""

from __future__ import annotations

from pathlib import Path


def app_path() -> Path:
    """The Streamlit page as a file (``streamlit run`` needs a path); it ships inside kodek, no checkout needed."""
    from importlib.resources import files

    return Path(str(files("kodek.leaderboard").joinpath("app.py")))
