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

FUNCODEC_REASON = (
    "funcodec 0.2.0 pins editdistance==0.5.2, which does not build on Python 3.11, so it installs only without "
    "its dependencies; its models are built from the config.yaml shipped with each checkpoint, which kodek has no "
    "public copy of to build a random-weight model from, and its inference imports (thop, ...) are not in an "
    "isolated environment yet"
)


def refuse(spec: CodecSpec, settings: CodecSettings):
    """The factory of a system kodek cannot run: says why."""
    raise UnsupportedCodecError(f"{spec.id}: {spec.unsupported}")


def _funcodec(codebooks: int) -> CodecSpec:
    return CodecSpec(
        id=f"funcodec-16khz-ds640-{codebooks}cb",
        family="funcodec",
        kind="acoustic",
        sample_rate=16_000,
        frame_rate=25.0,
        num_codebooks=codebooks,
        codebook_size=1024,
        checkpoint=Checkpoint(
            "alibaba-damo/audio_codec-encodec-zh_en-general-16k-nq32ds640-pytorch", "main", loader="funcodec"
        ),
        license="mit",
        description=f"FunCodec EnCodec-style 16 kHz, 25 Hz (downsampling 640), {codebooks} of 32 RVQ codebooks.",
        unsupported=FUNCODEC_REASON,
        options={"num_codebooks": codebooks},
    )


ENTRIES = [
    *(CodecEntry(_funcodec(k), refuse) for k in (16, 32)),
]
