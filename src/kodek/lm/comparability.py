"""What must match for two LM results (SpeechLLM, speech-only LM) to be ranked together.

Every results file carries ``comparability`` (a flat object of JSON scalars and lists
of strings) and ``comparability_key``: the first 16 hex characters of
sha256(json.dumps(comparability, sort_keys=True, separators=(",", ":"))), the same
definition as the reconstruction results'. The codec is not part of it: rows with the
same key differ by their codec alone (same utterances, same LLM, same settings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from kodek.results import comparability_key, utterance_set_hash

SCORING_VERSION = "lm-1"  # bump when what an LM result measures changes
# Settings that do not change what is measured: the run's name, and how many utterances are scored at once.
IGNORED_CONFIG = ("name", "eval.batch_size")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_fingerprint(config: dict[str, Any], sections: Iterable[str] | None = None) -> str:
    """sha256 (16 hex) of a config's measured settings (``sections``: only these top-level sections)."""
    flat = {
        k: v
        for k, v in flatten(config).items()
        if k not in IGNORED_CONFIG and (sections is None or k.split(".", 1)[0] in sections)
    }
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_differences(
    trained: dict[str, Any], now: dict[str, Any], ignore_sections: tuple[str, ...] = ()
) -> list[str]:
    """``key: trained -> now`` for every measured setting that differs (sections in ``ignore_sections`` aside)."""
    a, b = flatten(trained), flatten(now)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in IGNORED_CONFIG or key.split(".", 1)[0] in ignore_sections:
            continue
        if a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return out


def dataset_facts(tokens, split: str, names: list[str], subsets: list[str]) -> dict[str, Any]:
    source = tokens.meta.get("source", {})
    return {
        "dataset": str(source.get("name", "unknown")),
        "dataset_config": source.get("config"),
        "dataset_revision": source.get("revision"),
        "split": split,
        "subsets": sorted(subsets),
        "utterances": len(names),
        "utterance_set": utterance_set_hash(names),
    }


def with_key(comparability: dict[str, Any]) -> dict[str, Any]:
    """The two top-level fields of a results file."""
    return {"comparability": comparability, "comparability_key": comparability_key(comparability)}
