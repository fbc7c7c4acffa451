"""Synthetic but schema-valid results, to exercise and time the leaderboard at scale.

``python -m kodek.leaderboard.synthetic OUT --codecs 50`` writes 50 codecs x the 12
BIGOS-v2 subsets of reconstruction and SpeechLLM results (seeded, deterministic).
Every file says ``"synthetic": true`` in its dataset facts and the page labels it:
these numbers are made up and are never scores of anything.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from kodek.data.bigos import SUBSETS
from kodek.results import comparability_key

KINDS = ("acoustic", "semantic", "ssl-kmeans", "classic", "acoustic")
DATASET = {
    "name": "synthetic-fixture",
    "config": None,
    "revision": None,
    "split": "test",
    "subsets": list(SUBSETS),
    "utterances": 1200,
    "hours": 1.5,
    "synthetic": True,
}
RECONSTRUCTION_METRICS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "pesq_wb": ("PESQ (wb)", True, ("rec",)),
    "spk_sim": ("Speaker similarity", True, ("rec",)),
    "wer": ("WER", False, ("gt", "rec")),
    "cer": ("CER", False, ("gt", "rec")),
    "stoi": ("STOI", True, ("rec",)),
    "dwer": ("dWER", False, ("rec",)),
    "mel_distance": ("Mel distance", False, ("rec",)),
}
LLM = {"id": "speakleash/Bielik-1.5B-v3.0-Instruct", "revision": "0" * 40}


def comparability(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The comparability record of a synthetic result (and its key), as the scorer and the LM write them."""
    dataset = data["dataset"]
    record = {
        "dataset": dataset["name"],
        "revision": dataset["revision"],
        "split": dataset["split"],
        "subsets": list(dataset["subsets"]),
        "limit": None,
        "normalisation": "all",
        "scoring_version": 1,
        **fields,
    }
    return {"comparability": record, "comparability_key": comparability_key(record)}


def _stats(rng: np.random.Generator, mean: float, n: int, missing: int = 0) -> dict[str, Any]:
    return {
        "mean": float(mean),
        "std": float(abs(rng.normal(0, 0.1))),
        "median": float(mean),
        "n": n - missing,
        "missing": missing,
    }


def _quality(name: str, quality: float, rng: np.random.Generator) -> float:
    """A plausible value of ``name`` for a codec of ``quality`` in [0, 1]."""
    noise = rng.normal(0, 0.03)
    return {
        "pesq_wb": 1.0 + 3.5 * quality + noise,
        "spk_sim": 0.3 + 0.65 * quality + noise / 3,
        "wer": 0.12 + 0.8 * (1 - quality) ** 2 + abs(noise),
        "cer": 0.05 + 0.5 * (1 - quality) ** 2 + abs(noise) / 2,
        "stoi": 0.6 + 0.39 * quality + noise / 5,
        "dwer": 0.7 * (1 - quality) ** 2 + abs(noise),
        "mel_distance": 3.0 * (1 - quality) + abs(noise),
    }[name]


def _metric(name: str, quality: float, rng: np.random.Generator, n: int, missing: int) -> dict[str, Any]:
    label, higher, conditions = RECONSTRUCTION_METRICS[name]
    entry: dict[str, Any] = {"label": label, "higher_is_better": higher, "conditions": list(conditions)}
    for condition in conditions:
        value = _quality(name, 1.0 if condition == "gt" else quality, rng)
        entry[condition] = _stats(rng, value, n, missing if condition == "rec" else 0)
    return entry


def codec_spec(index: int, rng: np.random.Generator) -> dict[str, Any]:
    kind = KINDS[index % len(KINDS)]
    frame_rate = float(rng.choice([12.5, 25.0, 50.0, 75.0]))
    codebooks = int(rng.integers(1, 9))
    size = int(rng.choice([256, 1024, 2048, 4096]))
    return {
        "id": f"synthetic-{kind}-{index:03d}",
        "family": f"synthetic-{kind}",
        "kind": kind,
        "sample_rate": 16_000,
        "frame_rate": frame_rate,
        "num_codebooks": codebooks,
        "codebook_size": size,
        "checkpoint": None,
        "license": "n/a",
        "bitrate_bps": frame_rate * codebooks * math.log2(size),
        "description": "Synthetic fixture: not a codec.",
    }


def reconstruction(index: int, subsets: tuple[str, ...], seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed * 1000 + index)
    spec = codec_spec(index, rng)
    quality = float(np.clip(math.log2(spec["bitrate_bps"] / 200) / 8 + rng.normal(0, 0.1), 0.02, 0.98))
    per_subset = DATASET["utterances"] // len(subsets)
    by_subset = {
        subset: {name: _metric(name, quality, rng, per_subset, 0) for name in RECONSTRUCTION_METRICS}
        for subset in subsets
    }
    missing = index % 7  # some codecs lose a few utterances: shown as "k of N missing"
    metrics = {name: _metric(name, quality, rng, DATASET["utterances"], missing) for name in RECONSTRUCTION_METRICS}
    data = {
        "schema_version": 1,
        "task": "reconstruction",
        "codec": spec,
        "random_weights": False,
        "num_parameters": int(rng.integers(1, 500)) * 100_000 if spec["kind"] != "classic" else 0,
        "dataset": {**DATASET, "subsets": list(subsets)},
        "metrics": metrics,
        "by_subset": by_subset,
        "by_group": {
            "speaker_gender": {
                g: {n: _metric(n, quality, rng, 600, 0) for n in RECONSTRUCTION_METRICS} for g in ("female", "male")
            }
        },
        "failures": {"count": missing, "by_reason": {"pesq_wb: too short": missing} if missing else {}, "items": []},
        "date": "2026-01-01T00:00:00+00:00",
        "delay_ms": float(rng.choice([0.0, 2.5, 10.0, 20.0])),
    }
    return {**data, **comparability(data)}


def speechllm(data: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed * 1000 + sum(data["codec"]["id"].encode()))
    quality = data["metrics"]["stoi"]["rec"]["mean"]
    prior = 40.0
    ppl = {"prior": prior, "init": prior * (1.2 + rng.random() * 0.3), "trained": prior * (1.1 - 0.6 * quality)}
    data = {
        "schema_version": 1,
        "task": "speechllm",
        "codec": data["codec"],
        "random_weights": False,
        "llm": LLM,
        "dataset": data["dataset"],
        "metrics": {
            "ppl": {"label": "Perplexity", "higher_is_better": False, **ppl},
            "bpc": {"label": "Bits per character", "higher_is_better": False, **{k: v / 40 for k, v in ppl.items()}},
        },
        "failures": {"count": 0, "by_reason": {}, "items": []},
        "date": "2026-01-01T00:00:00+00:00",
    }
    return {**data, **comparability(data, llm=LLM["id"], llm_revision=LLM["revision"])}


def write_synthetic(out: Path, codecs: int = 50, subsets: int = 12, *, seed: int = 0, llm: bool = True) -> list[Path]:
    """Write ``codecs`` reconstruction (and SpeechLLM) results over the first ``subsets`` BIGOS subsets."""
    written = []
    for index in range(codecs):
        data = reconstruction(index, SUBSETS[:subsets], seed)
        folder = Path(out) / data["codec"]["id"]
        folder.mkdir(parents=True, exist_ok=True)
        files = {"reconstruction.json": data}
        if llm:
            files["speechllm.json"] = speechllm(data, seed)
        for name, content in files.items():
            (folder / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
            written.append(folder / name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--codecs", type=int, default=50)
    parser.add_argument("--subsets", type=int, default=12)
    args = parser.parse_args()
    files = write_synthetic(args.out, args.codecs, args.subsets)
    print(f"wrote {len(files)} synthetic results files under {args.out}")


if __name__ == "__main__":
    main()
