"""Results files: where they live, the fields every one starts with, the comparability key, validation
(``kodek.results.schema``), writing, and reading (``kodek.results.loading``).

One file per (codec id, task): ``<results>/<codec_id>/<task>.json`` beside the per-utterance table
``<results>/<codec_id>/<task>-utterances.parquet``. The scorer, the LM, submissions and the leaderboard all
go through this package, so a file is written and read one way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kodek import files

SCHEMA_VERSION = 1
MAX_LISTED_FAILURES = 1000  # failure items listed in a results file (all are counted)


def results_path(out: Path, codec_id: str, task: str) -> Path:
    return out / codec_id / f"{task}.json"


def utterances_path(out: Path, codec_id: str, task: str) -> Path:
    return out / codec_id / f"{task}-utterances.parquet"


def header(task: str, tokens, dataset: dict[str, Any]) -> dict[str, Any]:
    """The fields every results file starts with, from the token dataset (``TokenSet``) it measured."""
    meta = tokens.meta
    return {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "codec": tokens.spec.to_dict(),
        "random_weights": bool(meta.get("random_weights")),
        "num_parameters": meta.get("num_parameters"),
        "checkpoint_revision": meta.get("checkpoint_revision"),
        "dataset": dataset,
    }


def token_dataset_info(tokens, split: str, utterances: int, seconds: float, subsets: list[str]) -> dict[str, Any]:
    """``dataset`` of a results file measured on the tokens alone (no audio loaded): source facts from codec.json."""
    source = tokens.meta.get("source", {})
    return {
        "name": source.get("name", "unknown"),
        "config": source.get("config"),
        "revision": source.get("revision"),
        "split": split,
        "utterances": utterances,
        "hours": round(seconds / 3600, 4),
        "subsets": subsets,
        "synthetic": source.get("name") == "sample",
        "tokens": tokens.location,
    }


def comparability_key(comparability: dict[str, Any]) -> str:
    """First 16 hex characters of the SHA-256 of the canonical JSON of ``comparability``."""
    canonical = json.dumps(comparability, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def utterance_set_hash(audionames: Iterable[str]) -> str:
    """SHA-256 of the sorted, distinct utterance ids a result is measured over, one per line: equal exactly when
    the utterance sets are."""
    return hashlib.sha256("\n".join(sorted(set(audionames))).encode("utf-8")).hexdigest()


def write_results(out: Path, data: dict[str, Any], name: str | None = None) -> Path:
    """Validate against the leaderboard schema, then write atomically (``name``: a ``<task>-<variant>`` stem)."""
    from kodek.results.schema import validate

    errors = validate(data)
    if errors:
        raise ValueError("results do not match the schema: " + "; ".join(errors))
    path = results_path(out, data["codec"]["id"], name or data["task"])
    files.write_json(path, data)
    return path
