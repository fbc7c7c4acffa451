"""Systems kodek keeps in its tables but cannot run in its environment, each with the reason.

Their specs state the published facts, so the registry, the README and the
leaderboard list them with what they would cost in bits and why there is no
score. ``build_codec`` refuses them with the reason. The reasons were checked
against the packages on the Python package index.
"""

from __future__ import annotations

from kodek.codecs.base import CodecSettings, UnsupportedCodecError
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

TORCHAUDIO = (
    "torchaudio wheels on the package index link CUDA libraries, and an installed but broken torchaudio breaks "
    "every transformers import on CPU-only machines, so kodek's environment excludes it"
)

STABLE_CODEC_REASON = (
    "stable-codec 0.1.2 pins torch==2.4 and torchaudio==2.4 (and stable-audio-tools==0.0.17), incompatible "
    f"with kodek's torch; {TORCHAUDIO}"
)


def refuse(spec: CodecSpec, settings: CodecSettings):
    """The factory of a system kodek cannot run: says why."""
    raise UnsupportedCodecError(f"{spec.id}: {spec.unsupported}")


ENTRIES = [
    *(
        CodecEntry(
            CodecSpec(
                id=f"stable-codec-speech-16khz-{label}",
                family="stable-codec",
                kind="acoustic",
                sample_rate=16_000,
                frame_rate=25.0,
                num_codebooks=count,
                codebook_size=size,
                checkpoint=Checkpoint("stabilityai/stable-codec-speech-16k", "main", loader="stable-codec"),
                license="stabilityai-community",
                description=f"Stable Codec speech 16 kHz, FSQ preset {count}x{size} at 25 Hz.",
                unsupported=STABLE_CODEC_REASON,
                options={"preset": f"{count}x{size}"},
            ),
            refuse,
        )
        for label, count, size in (("400bps", 1, 46_656), ("700bps", 2, 15_625))
    ),
]
