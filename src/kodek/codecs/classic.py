"""Classic speech codecs that need no weights: Opus (libopus through PyAV).

Opus runs in hard-CBR mode with 20 ms packets so that every packet has the same
number of bytes: the codes of an utterance are its packets, one column per packet
and one "codebook" (of 256 entries) per byte, and the bitrate computed from the
codes is exactly the nominal one (6 kbps = 50 packets/s x 15 bytes x 8 bit).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from kodek import audio
from kodek.codecs.base import CodecBase, CodecError
from kodek.codecs.registry import CodecEntry
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
        install_extra=None,
        description=f"Opus (libopus, SILK/VoIP mode) at {kbps} kbps hard CBR, 20 ms packets, 16 kHz input.",
        options={"bitrate": kbps * 1000},
    )


class OpusCodec(CodecBase):
    hop_length = OPUS_RATE * PACKET_MS // 1000
    batch_invariant = True  # every utterance is encoded on its own

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


def build_opus(spec: CodecSpec, *, random_weights: bool = False, seed: int = 0) -> OpusCodec:
    return OpusCodec(spec, random_weights=random_weights)


ENTRIES = [CodecEntry(opus_spec(kbps), "kodek.codecs.classic:build_opus", ("av",)) for kbps in (6, 12, 24)]
