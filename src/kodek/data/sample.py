"""The bundled Polish sample: synthetic speech in the BIGOS-v2 schema (see sample/README.md)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_NAME = "sample"
SPLITS = ("train", "validation", "test")


@lru_cache(maxsize=1)
def _load_all():
    import datasets

    dataset = datasets.Dataset.from_parquet(str(SAMPLE_DIR / "sample.parquet"))
    return dataset.cast_column("audio", datasets.Audio(decode=False))


def load_sample(split: str | None = None):
    """The sample as a ``datasets.Dataset`` (audio as FLAC bytes, ``decode=False``); one split or all."""
    dataset = _load_all()
    if split is None:
        return dataset
    if split not in SPLITS:
        raise ValueError(f"the bundled sample has no split {split!r} (splits: {', '.join(SPLITS)})")
    return dataset.filter(lambda s: s == split, input_columns="split")


def sample_info() -> dict[str, Any]:
    dataset = _load_all()
    counts: dict[str, dict[str, int]] = {}
    for split, subset in zip(dataset["split"], dataset["dataset"], strict=True):
        counts.setdefault(split, {}).setdefault(subset, 0)
        counts[split][subset] += 1
    return {
        "utterances": len(dataset),
        "per_split_and_subset": counts,
        "seconds": round(float(sum(dataset["audio_duration_seconds"])), 2),
        "speakers": sorted(set(dataset["speaker_id"])),
        "synthesiser": (SAMPLE_DIR / "VERSION").read_text().strip(),
    }
