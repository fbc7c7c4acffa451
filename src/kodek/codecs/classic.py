"""Classic speech codecs that need no weights: Opus, Codec2, G.711 mu-law.

Their bitstreams become codes byte by byte: one column per packet (frame), one
"codebook" of 256 entries per byte of the packet, so the bitrate computed from the
codes is exactly the nominal one.

- Opus (libopus through PyAV) in hard-CBR mode with 20 ms packets: 6 kbps =
  50 packets/s x 15 bytes x 8 bit.
- Codec2 (libcodec2 through pycodec2) at 8 kHz: 3200 bit/s = 50 frames/s x 8 bytes,
  1600 bit/s = 25 frames/s x 8 bytes. Its algorithmic delay (tens of ms) is left in the
  output: ``kodek score`` estimates and compensates every codec's delay the same way.
  libcodec2's decoder draws phases from a process-wide random generator; it is reset before
  every utterance, so the same codes always decode to the same audio.
- G.711 mu-law (FFmpeg's pcm_mulaw through PyAV) at 8 kHz: one byte per sample, 64 kbit/s.
"""

from __future__ import annotations

import math
from functools import cache, cached_property
from typing import Any

import numpy as np

from kodek import audio
from kodek.codecs.base import CodecBase, CodecError, CodecSettings
from kodek.codecs.spec import CodecSpec

OPUS_RATE = 16_000  # wide-band input, BIGOS's own rate
OPUS_DECODE_RATE = 48_000  # libopus always decodes at 48 kHz in FFmpeg
PACKET_MS = 20


def opus_spec(kbps: int) -> CodecSpec:
    packet_bytes = kbps * 1000 * PACKET_MS // 1000 // 8
    return CodecSpec(
        id=f"opus-{kbps}kbps",
        family="opus",
        kind="classic",
        sample_rate=OPUS_RATE,
        frame_rate=1000 / PACKET_MS,
        num_codebooks=packet_bytes,
        codebook_size=256,
        checkpoint=None,
        license="BSD-3-Clause",
        description=f"Opus (libopus, SILK/VoIP mode) at {kbps} kbps hard CBR, 20 ms packets, 16 kHz input.",
        options={"bitrate": kbps * 1000},
    )


class OpusCodec(CodecBase):
    hop_length = OPUS_RATE * PACKET_MS // 1000
    requires = ("av",)

    @cached_property
    def _header(self) -> tuple[bytes, int]:
        """The OpusHead the encoder writes, and its pre-skip in 16 kHz samples."""
        encoder = self._encoder()
        header = bytes(encoder.extradata)
        pre_skip_48k = int.from_bytes(header[10:12], "little")
        return header, pre_skip_48k * OPUS_RATE // OPUS_DECODE_RATE

    def _encoder(self):
        import av

        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = OPUS_RATE
        encoder.layout = "mono"
        encoder.format = "s16"
        encoder.bit_rate = int(self.spec.options["bitrate"])
        encoder.options = {"vbr": "off", "application": "voip", "frame_duration": str(PACKET_MS)}
        encoder.open()
        return encoder

    def num_frames(self, num_samples: int) -> int:
        # Whole packets for the (zero-padded) input, then the encoder's look-ahead
        # (pre-skip) flushed as packets of its own.
        return math.ceil(num_samples / self.hop_length) + math.ceil(self._header[1] / self.hop_length)

    def sample_lengths(self, frame_lengths: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(frame_lengths) * self.hop_length - self._header[1], 0)

    def _encode_one(self, wave: np.ndarray) -> np.ndarray:
        import av

        encoder = self._encoder()
        pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16)
        pcm = np.pad(pcm, (0, -len(pcm) % self.hop_length))
        packets = []
        for start in range(0, len(pcm), self.hop_length):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + self.hop_length], "s16", "mono")
            frame.sample_rate = OPUS_RATE
            frame.pts = start
            packets += [bytes(p) for p in encoder.encode(frame)]
        packets += [bytes(p) for p in encoder.encode(None)]
        size = self.spec.num_codebooks
        if any(len(p) != size for p in packets):
            raise CodecError(f"{self.spec.id}: CBR packet sizes {sorted({len(p) for p in packets})} != {size}")
        return np.frombuffer(b"".join(packets), dtype=np.uint8).reshape(len(packets), size).T

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        items = [self._encode_one(w[:n]) for w, n in zip(waves, lengths, strict=True)]
        frames = np.array([c.shape[1] for c in items], dtype=np.int64)
        codes = np.zeros((len(items), self.spec.num_codebooks, int(frames.max())), dtype=np.int64)
        for row, item in zip(codes, items, strict=True):
            row[:, : item.shape[1]] = item
        return codes, frames

    def _decode_one(self, codes: np.ndarray) -> np.ndarray:
        import av

        decoder = av.CodecContext.create("libopus", "r")
        decoder.layout = "mono"
        decoder.extradata = self._header[0]  # makes the decoder drop the pre-skip
        decoder.open()
        chunks = []
        for packet in np.ascontiguousarray(codes.T.astype(np.uint8)):
            chunks += [f.to_ndarray()[0] for f in decoder.decode(av.Packet(packet.tobytes()))]
        wave = np.concatenate(chunks).astype(np.float32) / 32768 if chunks else np.zeros(0, np.float32)
        return audio.resample(wave, OPUS_DECODE_RATE, OPUS_RATE)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = self.sample_lengths(frame_lengths)
        waves = np.zeros((len(codes), int(lengths.max(initial=0))), dtype=np.float32)
        for row, item, frames, n in zip(waves, codes, frame_lengths, lengths, strict=True):
            row[:n] = audio.fit_length(self._decode_one(item[:, :frames]), int(n))
        return waves, lengths


CODEC2_RATE = 8_000
CODEC2_FRAMES = {3200: (160, 8), 1600: (320, 8)}  # mode -> (samples per frame, bytes per frame)


def codec2_spec(mode: int) -> CodecSpec:
    samples, size = CODEC2_FRAMES[mode]
    return CodecSpec(
        id=f"codec2-{mode}",
        family="codec2",
        kind="classic",
        sample_rate=CODEC2_RATE,
        frame_rate=CODEC2_RATE / samples,
        num_codebooks=size,
        codebook_size=256,
        checkpoint=None,
        license="LGPL-2.1",
        description=f"Codec2 {mode} bit/s (libcodec2 via pycodec2), 8 kHz narrow-band, {samples / 8:g} ms frames.",
        options={"mode": mode},
    )


class Codec2Codec(CodecBase):
    """Codec2: every utterance on a fresh (stateful) encoder and decoder."""

    requires = ("pycodec2",)
    install_extra = "classic"

    def __init__(self, spec: CodecSpec, settings: CodecSettings | None = None, **fields: Any) -> None:
        super().__init__(spec, settings, **fields)
        self.mode = int(spec.options["mode"])
        self.hop_length = CODEC2_FRAMES[self.mode][0]

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import pycodec2

        frames = self.frame_lengths(lengths)
        codes = np.zeros((len(waves), self.spec.num_codebooks, int(frames.max())), dtype=np.int64)
        for row, wave, count in zip(codes, waves, frames, strict=True):
            encoder = pycodec2.Codec2(self.mode)
            pcm = _to_pcm(wave[: count * self.hop_length])
            packets = [encoder.encode(pcm[i : i + self.hop_length]) for i in range(0, len(pcm), self.hop_length)]
            row[:, :count] = np.frombuffer(b"".join(packets), np.uint8).reshape(count, -1).T
        return codes, frames

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import pycodec2

        lengths = self.sample_lengths(frame_lengths)
        waves = np.zeros((len(codes), int(lengths.max(initial=0))), dtype=np.float32)
        state = _codec2_rand_state()
        for row, item, count in zip(waves, codes, frame_lengths, strict=True):
            if state is not None:
                state.value = CODEC2_RAND_SEED  # the decoder's phases: the same for every utterance and run
            decoder = pycodec2.Codec2(self.mode)
            packets = np.ascontiguousarray(item[:, :count].T.astype(np.uint8))
            pcm = np.concatenate([decoder.decode(p.tobytes()) for p in packets]) if count else np.zeros(0)
            row[: len(pcm)] = pcm.astype(np.float32) / 32768
        return waves, lengths


CODEC2_RAND_SEED = 1  # libcodec2's initial value of its generator's state


@cache
def _codec2_rand_state():
    """libcodec2's ``codec2_rand`` state (a static ``unsigned long``), or None where it cannot be found.

    ``codec2_rand`` is ``next = next * 1103515245 + 12345`` (x86-64: ``imul rax, [rip+disp32], imm32``
    first); the state's address is read from that instruction and checked against the constant.
    """
    import ctypes
    import glob
    import os
    import platform

    import pycodec2

    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    folder = os.path.dirname(os.path.dirname(pycodec2.__file__))
    for path in [*sorted(glob.glob(os.path.join(folder, "pycodec2.libs", "libcodec2*"))), "libcodec2.so.1.2"]:
        try:
            function = ctypes.cast(ctypes.CDLL(path).codec2_rand, ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
        code = ctypes.string_at(function, 11)
        if code[:3] != b"\x48\x69\x05" or code[7:11] != (1103515245).to_bytes(4, "little"):
            return None
        return ctypes.c_uint64.from_address(function + 11 + int.from_bytes(code[3:7], "little", signed=True))
    return None


MULAW = CodecSpec(
    id="mulaw-8khz",
    family="mulaw",
    kind="classic",
    sample_rate=8_000,
    frame_rate=8_000.0,
    num_codebooks=1,
    codebook_size=256,
    checkpoint=None,
    license="n/a (ITU-T G.711)",
    description="G.711 mu-law, 8 bit per sample at 8 kHz (64 kbit/s), FFmpeg's pcm_mulaw via PyAV.",
)


class MulawCodec(CodecBase):
    hop_length = 1
    requires = ("av",)

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = np.zeros((len(waves), 1, int(lengths.max(initial=0))), dtype=np.int64)
        for row, wave, n in zip(codes, waves, lengths, strict=True):
            row[0, :n] = np.frombuffer(_pcm_codec("pcm_mulaw", _to_pcm(wave[:n]).tobytes(), "w"), np.uint8)
        return codes, self.frame_lengths(lengths)

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        waves = np.zeros(codes[:, 0].shape, dtype=np.float32)
        for row, item, n in zip(waves, codes, frame_lengths, strict=True):
            pcm = np.frombuffer(_pcm_codec("pcm_mulaw", item[0, :n].astype(np.uint8).tobytes(), "r"), np.int16)
            row[:n] = pcm.astype(np.float32) / 32768
        return waves, self.sample_lengths(frame_lengths)


def _to_pcm(wave: np.ndarray) -> np.ndarray:
    return (np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16)


def _pcm_codec(name: str, data: bytes, mode: str) -> bytes:
    """Run FFmpeg's 8 kHz mono PCM codec ``name`` over ``data`` (int16 samples in, bytes out, or back)."""
    import av

    context = av.CodecContext.create(name, mode)
    context.sample_rate = 8_000
    context.layout = "mono"
    if mode == "w":
        context.format = "s16"
        context.open()
        frame = av.AudioFrame.from_ndarray(np.frombuffer(data, np.int16)[None], format="s16", layout="mono")
        frame.sample_rate = 8_000
        return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])
    context.open()
    return b"".join(f.to_ndarray().astype(np.int16).tobytes() for f in context.decode(av.Packet(data)))


ENTRIES = [
    *OpusCodec.entries(opus_spec(kbps) for kbps in (6, 12, 24)),
    *Codec2Codec.entries(codec2_spec(mode) for mode in (3200, 1600)),
    *MulawCodec.entries([MULAW]),
]
