"""The results JSON schema (version 1), checked with ``jsonschema``.

One file per (codec id, task). Everything the leaderboard shows comes from a file
that passed this check; a file that does not is listed as rejected with the reason.

Beyond the required fields, the schema bounds the optional ones the leaderboard
reads (``by_subset``, ``by_group``, ``llm``, ``num_parameters``, ``request``,
``comparability``, ``delay_ms``), so that a file which validates can be rendered
without further guessing: every string, object and list has a size limit, and
no number may be NaN or infinite (Python's ``json`` reads ``NaN`` and
``Infinity``; a table would rank them).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

CODEC_ID_PATTERN = "^[a-z0-9][a-z0-9._-]{0,79}$"
MAX_METRICS = 40  # per results file (and per subset): a table with thousands of columns is not readable
MAX_SUBSETS = 200

_STATS = {
    "type": "object",
    "required": ["mean", "n", "missing"],
    "properties": {
        "mean": {"type": ["number", "null"]},
        "std": {"type": ["number", "null"]},
        "median": {"type": ["number", "null"]},
        "n": {"type": "integer", "minimum": 0},
        "missing": {"type": "integer", "minimum": 0},
        # Utterances whose reconstruction failed (scored by the no-rank-gained-by-failing policy).
        "failed": {"type": "integer", "minimum": 0},
    },
}

_SHORT = {"type": ["string", "null"], "maxLength": 200}
# What every metric entry says of itself, reconstruction and SpeechLLM alike.
_METRIC_FACTS = {
    "label": {"type": "string", "maxLength": 80},
    "higher_is_better": {"type": "boolean"},
    "applicable": {"type": "boolean"},
    "why": {"type": "string", "maxLength": 500},
}
_METRIC = {
    "type": "object",
    "properties": {
        **_METRIC_FACTS,
        "description": {"type": "string", "maxLength": 1000},
        "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "conditions": {"type": "array", "items": {"enum": ["gt", "rec"]}, "maxItems": 2},
        # What produced the values (ASR model, speaker encoder), where it matters.
        "model": _SHORT,
        "revision": _SHORT,
        "normalisation": _SHORT,
        "gt": {"anyOf": [_STATS, {"type": "null"}]},
        "rec": {"anyOf": [_STATS, {"type": "null"}]},
        # Optional: false where the metric's model could not be loaded (then ``why`` says why).
        "available": {"type": "boolean"},
    },
}
_METRICS = {
    "type": "object",
    "maxProperties": MAX_METRICS,
    "propertyNames": {"maxLength": 80},
}

# SpeechLLM metrics (ppl, bpc) hold one value per condition: a number, a stats dict, or null.
_CONDITION_VALUE = {"anyOf": [{"type": "number"}, {"type": "null"}, _STATS]}
_LLM_METRIC = {
    "type": "object",
    "properties": {
        **_METRIC_FACTS,
        "prior": _CONDITION_VALUE,
        "init": _CONDITION_VALUE,
        "trained": _CONDITION_VALUE,
    },
}

# The speech-only LM (task speech_lm): bits under a uniform code, a unigram model and the trained LM.
_CODE_LM_METRIC = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "maxLength": 80},
        "higher_is_better": {"type": "boolean"},
        "uniform": _CONDITION_VALUE,
        "unigram": _CONDITION_VALUE,
        "trained": _CONDITION_VALUE,
    },
}

_CODEC = {
    "type": "object",
    "required": ["id", "family", "kind", "sample_rate", "frame_rate", "num_codebooks", "codebook_size", "bitrate_bps"],
    "properties": {
        "id": {"type": "string", "pattern": CODEC_ID_PATTERN},
        "family": {"type": "string", "maxLength": 80},
        "kind": {"enum": ["acoustic", "semantic", "ssl-kmeans", "classic", "reference"]},
        "sample_rate": {"type": "integer", "minimum": 1},
        "frame_rate": {"type": "number", "exclusiveMinimum": 0},
        "num_codebooks": {"type": "integer", "minimum": 1},
        "codebook_size": {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 64},
            ]
        },
        "bitrate_bps": {"type": "number", "minimum": 0},
        "license": {"type": ["string", "null"], "maxLength": 200},
        "description": {"type": ["string", "null"], "maxLength": 2000},
        "checkpoint": {
            "type": ["object", "null"],
            "properties": {
                "repo": {"type": "string", "maxLength": 200},
                "revision": {"type": "string", "maxLength": 200},
            },
        },
    },
}

# subset (or group value) -> metric -> {gt/rec stats} (or, for speechllm, {prior/init/trained}).
_ANY_METRIC = {
    "type": "object",
    "properties": {**_METRIC["properties"], **_LLM_METRIC["properties"], **_CODE_LM_METRIC["properties"]},
}
_BREAKDOWN = {
    "type": "object",
    "maxProperties": MAX_SUBSETS,
    "propertyNames": {"maxLength": 120},
    "additionalProperties": {**_METRICS, "additionalProperties": _ANY_METRIC},
}
_SMALL_OBJECT = {"type": "object", "maxProperties": 50, "propertyNames": {"maxLength": 80}}
# What makes two results comparable (data, revision, utterance set, models, settings), flat.
_COMPARABILITY = {
    "type": "object",
    "maxProperties": 64,
    "propertyNames": {"maxLength": 64},
    "additionalProperties": {
        "anyOf": [
            {"type": ["number", "boolean", "null"]},
            {"type": "string", "maxLength": 300},
            {"type": "array", "maxItems": MAX_SUBSETS, "items": {"type": "string", "maxLength": 300}},
        ]
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
        "num_parameters": {"type": ["integer", "null"], "minimum": 0},
        "comparability": _COMPARABILITY,
        "comparability_key": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        # The codec's constant delay, estimated from the data and compensated before intrusive metrics.
        "delay_ms": {"type": ["number", "null"]},
        "dataset": {
            "type": "object",
            "required": ["name", "split", "utterances"],
            "properties": {
                "name": {"type": "string", "maxLength": 120},
                "config": {"type": ["string", "null"], "maxLength": 120},
                "revision": {"type": ["string", "null"], "maxLength": 120},
                "split": {"type": "string", "maxLength": 60},
                "utterances": {"type": "integer", "minimum": 0},
                "hours": {"type": "number", "minimum": 0},
                "subsets": {"type": "array", "maxItems": MAX_SUBSETS, "items": {"type": "string", "maxLength": 120}},
                "synthetic": {"type": "boolean"},
            },
        },
        "metrics": {**_METRICS, "additionalProperties": _METRIC},
        "by_subset": _BREAKDOWN,
        # Optional: speaker_gender / speaker_age -> value -> metric -> stats, where the source says.
        "by_group": {"type": "object", "maxProperties": 10, "additionalProperties": _BREAKDOWN},
        "failures": {
            "type": "object",
            "required": ["count"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "by_reason": {
                    "type": "object",
                    "maxProperties": 200,
                    "propertyNames": {"maxLength": 500},
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                # A sample of failed utterances: {"audioname", "dataset", "stage", "metric", "reason"}.
                "items": {
                    "type": "array",
                    "maxItems": 10_000,
                    "items": {
                        **_SMALL_OBJECT,
                        "additionalProperties": {"type": ["string", "number", "boolean", "null"], "maxLength": 1000},
                    },
                },
            },
        },
        "llm": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "maxLength": 120},
                "revision": {"type": ["string", "null"], "maxLength": 120},
            },
        },
        # Which request (kodek run-request) produced this file, where one did.
        "request": {
            "type": "object",
            "properties": {"package": _SHORT, "version": _SHORT, "codec_id": _SHORT, "source": _SHORT},
        },
        "checkpoint_revision": _SHORT,
        "software": {**_SMALL_OBJECT, "additionalProperties": {"type": "string", "maxLength": 200}},
        "git_commit": _SHORT,
        "hardware": _SMALL_OBJECT,
        "date": {"type": "string", "maxLength": 60},
        # Optional: the speaker/ASR models used (id, revision) or why they were not available.
        "models": _SMALL_OBJECT,
        "normalisation": {"enum": ["none", "lowercase", "punctuation", "all"]},
        "codec_facts": _SMALL_OBJECT,
    },
    "allOf": [
        {
            "if": {"properties": {"task": {"const": "speechllm"}}, "required": ["task"]},
            "then": {"required": ["llm"], "properties": {"metrics": {**_METRICS, "additionalProperties": _LLM_METRIC}}},
        },
        {
            "if": {"properties": {"task": {"const": "speech_lm"}}, "required": ["task"]},
            "then": {"properties": {"metrics": {**_METRICS, "additionalProperties": _CODE_LM_METRIC}}},
        },
    ],
}


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(RESULTS_SCHEMA)


def message(error: Any, limit: int = 200) -> str:
    """jsonschema's message, unless it quotes a long value: then the rule the value breaks."""
    if len(error.message) <= limit:
        return error.message
    return f"the value fails {error.validator} {str(error.validator_value)[:80]}"


def non_finite(data: Any, path: tuple = ()) -> list[str]:
    """Where ``data`` holds NaN or an infinity (JSON has neither; Python's json reads and writes both)."""
    if isinstance(data, float):
        return [] if math.isfinite(data) else [f"{'/'.join(map(str, path)) or '<root>'}: {data} is not a finite number"]
    if isinstance(data, dict):
        return [e for key, value in data.items() for e in non_finite(value, (*path, key))]
    if isinstance(data, list):
        return [e for index, value in enumerate(data) for e in non_finite(value, (*path, index))]
    return []


def validate(data: Any) -> list[str]:
    """Every schema violation as 'path: message' (empty when the file is valid)."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    found = [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {message(e)}" for e in errors]
    found += non_finite(data)[:5]
    if not found and "comparability" in data and "comparability_key" in data:
        from kodek.results import comparability_key

        expected = comparability_key(data["comparability"])
        if data["comparability_key"] != expected:
            found.append(f"comparability_key: {data['comparability_key']} is not the hash of comparability")
    return found
