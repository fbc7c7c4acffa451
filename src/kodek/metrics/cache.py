"""A disk cache of model outputs (transcripts, speaker embeddings) keyed by audio content.

The originals are the same for every codec: they are transcribed and embedded once,
whatever the number of codecs scored. Keys combine the SHA-256 of the audio (float32
samples at 16 kHz), the model id and revision and the options that change the output
(language, task), so a new model revision never reads a stale entry. SQLite makes the
cache safe to share between processes and survives a killed run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def default_cache_dir() -> Path:
    """``$KODEK_CACHE``, else ``$XDG_CACHE_HOME/kodek``, else ``~/.cache/kodek``."""
    if os.environ.get("KODEK_CACHE"):
        return Path(os.environ["KODEK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kodek"


def audio_hash(wave: np.ndarray, sample_rate: int = 16_000) -> str:
    """SHA-256 of the float32 samples and the rate: the same audio gives the same key."""
    digest = hashlib.sha256(f"{sample_rate}:".encode())
    digest.update(np.ascontiguousarray(wave, dtype=np.float32).tobytes())
    return digest.hexdigest()


class ModelCache:
    """``(audio hash, model key) -> JSON value`` in ``<dir>/model-outputs.sqlite``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or default_cache_dir()) / "model-outputs.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS outputs (audio TEXT, model TEXT, value TEXT, PRIMARY KEY (audio, model))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get_many(self, audio_keys: Sequence[str], model_key: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self._connect() as db:
            for start in range(0, len(audio_keys), 500):
                chunk = list(audio_keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT audio, value FROM outputs WHERE model = ? AND audio IN ({marks})", [model_key, *chunk]
                )
                found.update((audio, json.loads(value)) for audio, value in rows)
        return found

    def put_many(self, items: Iterable[tuple[str, Any]], model_key: str) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?)",
                [(audio, model_key, json.dumps(value, ensure_ascii=False)) for audio, value in items],
            )
