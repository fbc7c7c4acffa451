"""Checks of audio files that decoders let pass: a WAV cut short decodes, silently, to what is left of it."""

from __future__ import annotations

import struct


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
