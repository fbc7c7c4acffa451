"""The results JSON schema (version 1), checked with ``jsonschema``.

One file per (codec id, task). Everything the leaderboard shows comes from a file
that passed this check; a file that does not is listed as rejected with the reason.
"""

from __future__ import annotations

from typing import Any

_STATS = {
    "type": "object",
    "required": ["mean", "n", "missing"],
    "properties": {
        "mean": {"type": ["number", "null"]},
        "std": {"type": ["number", "null"]},
        "median": {"type": ["number", "null"]},
        "n": {"type": "integer", "minimum": 0},
        "missing": {"type": "integer", "minimum": 0},
    },
}

_METRIC = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "higher_is_better": {"type": "boolean"},
        "applicable": {"type": "boolean"},
        "gt": {"anyOf": [_STATS, {"type": "null"}]},
        "rec": {"anyOf": [_STATS, {"type": "null"}]},
        # Optional: false where the metric's model could not be loaded (then ``why`` says why).
        "available": {"type": "boolean"},
        "model": {"type": ["string", "null"]},
        "normalisation": {"enum": ["none", "lowercase", "punctuation", "all"]},
    },
}

_CODEC = {
    "type": "object",
    "required": ["id", "family", "kind", "sample_rate", "frame_rate", "num_codebooks", "codebook_size", "bitrate_bps"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,79}$"},
        "family": {"type": "string", "maxLength": 80},
        "kind": {"enum": ["acoustic", "semantic", "ssl-kmeans", "classic", "reference"]},
        "sample_rate": {"type": "integer", "minimum": 1},
        "frame_rate": {"type": "number", "exclusiveMinimum": 0},
        "num_codebooks": {"type": "integer", "minimum": 1},
        "codebook_size": {
            "anyOf": [{"type": "integer", "minimum": 1}, {"type": "array", "items": {"type": "integer", "minimum": 1}}]
        },
        "bitrate_bps": {"type": "number", "minimum": 0},
    },
}

RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema_version", "task", "codec", "random_weights", "dataset", "metrics", "failures", "date"],
    "properties": {
        "schema_version": {"const": 1},
        "task": {"enum": ["reconstruction", "speechllm", "speech_lm"]},
        "codec": _CODEC,
        "random_weights": {"type": "boolean"},
        "dataset": {
            "type": "object",
            "required": ["name", "split", "utterances"],
            "properties": {
                "name": {"type": "string"},
                "split": {"type": "string"},
                "utterances": {"type": "integer", "minimum": 0},
                "hours": {"type": "number", "minimum": 0},
                "subsets": {"type": "array", "items": {"type": "string"}},
            },
        },
        "metrics": {"type": "object", "additionalProperties": _METRIC},
        "by_subset": {"type": "object"},
        "failures": {
            "type": "object",
            "required": ["count"],
            "properties": {"count": {"type": "integer", "minimum": 0}},
        },
        "date": {"type": "string"},
        # Optional: the speaker/ASR models used (id, revision) or why they were not available.
        "models": {"type": "object"},
        "normalisation": {"enum": ["none", "lowercase", "punctuation", "all"]},
        "codec_facts": {"type": "object"},
    },
}


def validate(data: Any) -> list[str]:
    """Every schema violation as 'path: message' (empty when the file is valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
