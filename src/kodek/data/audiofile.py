"""An utterance's audio as kodek reads it, and the checks of audio files that decoders let pass: a WAV cut
short decodes, silently, to what is left of it."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kodek import audio


def load_utterance(row: Mapping[str, Any], sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """The audio of a source row (``audio``: the file's ``bytes`` or its ``path``) as mono float32 at
    ``sample_rate`` (None: the file's own rate), and that rate.

    Raises :class:`kodek.audio.AudioError` naming the utterance when the file cannot be decoded, holds
    NaN/inf, or is a WAV cut short; OSError when its path cannot be read.
    """
    name = row["audioname"]
    ref = row["audio"]
    data = ref["bytes"] if ref.get("bytes") else Path(ref["path"]).read_bytes()
    if why := wav_truncation(data):
        raise audio.AudioError(f"{name}: {why}")
    return audio.load_audio(data, sample_rate, name=name)


def wav_truncation(data: bytes) -> str | None:
    """Why a RIFF/WAVE file is shorter than its header says, or None (complete, or not a WAV)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return None
    order = "<" if data[:4] == b"RIFF" else ">"
    position = 12
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack(order + "I", data[position + 4 : position + 8])[0]
        if chunk == b"data":
            have = len(data) - position - 8
            if size != 0xFFFFFFFF and have < size:  # 0xFFFFFFFF: a stream written without knowing its length
                return f"truncated WAV: the header announces {size} bytes of audio, the file holds {have}"
            return None
        position += 8 + size + (size & 1)
    return None  # no data chunk at all: the decoder's own error says what is wrong
