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

SEMANTICODEC_REASON = (
    "its inference package is not published on the Python package index (it installs from GitHub only: "
    "haoheliu/SemantiCodec-inference), which kodek's environment cannot reach"
)
FUNCODEC_REASON = (
    "funcodec 0.2.0 imports torchaudio at module level (funcodec/models/codec_basic.py) and pins "
    f"typeguard==2.13.3; {TORCHAUDIO}"
)
BIGCODEC_REASON = f"bigcodec 0.0.3 imports torchaudio at module level (bigcodec/modules.py); {TORCHAUDIO}"
FBANK_REASON = (
    "transformers' {name} feature extractor computes its Kaldi filter banks with torchaudio "
    "(torchaudio.compliance.kaldi.fbank) and the model needs those features as input; " + TORCHAUDIO
)
STABLE_CODEC_REASON = (
    "stable-codec 0.1.2 pins torch==2.4 and torchaudio==2.4 (and stable-audio-tools==0.0.17), incompatible "
    f"with kodek's torch; {TORCHAUDIO}"
)


def refuse(spec: CodecSpec, settings: CodecSettings):
    """The factory of a system kodek cannot run: says why."""
    raise UnsupportedCodecError(f"{spec.id}: {spec.unsupported}")


def _semanticodec(tokens_per_second: int) -> CodecSpec:
    # Two codebooks per frame: semantic (16384) + acoustic (8192); token rate counts both.
    frame_rate = tokens_per_second / 2
    return CodecSpec(
        id=f"semanticodec-{tokens_per_second}tps",
        family="semanticodec",
        kind="semantic",
        sample_rate=16_000,
        frame_rate=frame_rate,
        num_codebooks=2,
        codebook_size=(16_384, 8_192),
        checkpoint=Checkpoint("haoheliu/SemantiCodec", "main", loader="semanticodec"),
        license="see haoheliu/SemantiCodec-inference",
        description=f"SemantiCodec at {tokens_per_second} tokens/s (semantic vocabulary 16384).",
        unsupported=SEMANTICODEC_REASON,
        options={"token_rate": tokens_per_second, "semantic_vocab_size": 16_384},
    )


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


def _fsq_codec(codec_id: str, family: str, repo: str, name: str, description: str) -> CodecEntry:
    spec = CodecSpec(
        id=codec_id,
        family=family,
        kind="semantic",
        sample_rate=16_000,
        frame_rate=50.0,
        num_codebooks=1,
        codebook_size=65_536,  # FSQ, 8 dimensions x 4 levels
        checkpoint=Checkpoint(repo, "main"),
        license="cc-by-nc-4.0" if family == "xcodec2" else "apache-2.0",
        description=description,
        unsupported=FBANK_REASON.format(name=name),
    )
    return CodecEntry(spec, refuse)


ENTRIES = [
    _fsq_codec(
        "xcodec2",
        "xcodec2",
        "HKUSTAudio/xcodec2-hf",
        "Xcodec2",
        "X-Codec2: one FSQ codebook of 65536 at 50 Hz (0.8 kbps), w2v-BERT 2.0 semantic branch.",
    ),
    _fsq_codec(
        "neucodec",
        "neucodec",
        "neuphonic/neucodec",
        "NeuCodec",
        "NeuCodec: one FSQ codebook of 65536 at 50 Hz (0.8 kbps), 16 kHz in, 24 kHz out.",
    ),
    *(CodecEntry(_semanticodec(rate), refuse) for rate in (100, 50, 25)),
    *(CodecEntry(_funcodec(k), refuse) for k in (16, 32)),
    CodecEntry(
        CodecSpec(
            id="bigcodec-16khz",
            family="bigcodec",
            kind="acoustic",
            sample_rate=16_000,
            frame_rate=80.0,
            num_codebooks=1,
            codebook_size=8_192,
            checkpoint=Checkpoint("Alethia/BigCodec", "main", loader="bigcodec"),
            license="mit",
            description="BigCodec: one VQ codebook of 8192 at 80 Hz (1.04 kbps), 16 kHz.",
            unsupported=BIGCODEC_REASON,
        ),
        refuse,
    ),
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
