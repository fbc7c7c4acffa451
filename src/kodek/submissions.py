"""Submission requests: the JSON a codec author sends to have a codec benchmarked.

A request names a codec id and how to get it (a Python package and version that
registers the id through the ``kodek.codecs`` entry-point group, a checkpoint at a
pinned revision), its licence and a contact. ``kodek submit`` writes one after
checking the codec locally; the Space's submit form makes the same request from
its fields. Requests are validated here, strictly (schema, patterns, sizes); they
are data, never executed: only a maintainer's ``kodek run-request`` installs and
runs the package.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from kodek.results.schema import CODEC_ID_PATTERN, RESULTS_SCHEMA, message

if TYPE_CHECKING:
    from kodek.hub import Published

REQUEST_VERSION = 1
MAX_REQUEST_BYTES = 32_768
MAX_ERRORS = 10
REQUESTS_DIR = "requests"
CODEC_ID = re.compile(CODEC_ID_PATTERN)

# Printable text without control characters (a newline is allowed in descriptions only).
_LINE = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00-\x09\x0b-\x1f\x7f]*$"
_PACKAGE = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"  # a PEP 508 distribution name
_VERSION = r"^[0-9]{1,9}(?:\.[0-9]{1,9}){0,5}(?:(?:a|b|rc)[0-9]{1,9})?(?:\.post[0-9]{1,9})?(?:\.dev[0-9]{1,9})?$"
_REPO = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$"
_EMAIL = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}$"
_HUB_USER = r"^@?[A-Za-z0-9][A-Za-z0-9_-]{0,41}$"
_URL = r"^https://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/+-]{0,150})?$"
_ENTRY_POINT = r"^[A-Za-z0-9_.-]{1,80} = [A-Za-z_][A-Za-z0-9_.]{0,150}(?::[A-Za-z_][A-Za-z0-9_.]{0,80})?$"

_CHECK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["passed"],
    "properties": {"passed": {"type": "boolean"}, "detail": {"type": "string", "maxLength": 500, "pattern": _LINE}},
}

REQUEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["request_version", "codec_id", "package", "version", "license", "contact"],
    "properties": {
        "request_version": {"const": REQUEST_VERSION},
        "codec_id": {"type": "string", "pattern": CODEC_ID_PATTERN},
        "package": {"type": "string", "pattern": _PACKAGE},
        "version": {"type": "string", "maxLength": 64, "pattern": _VERSION},
        "entry_point": {"type": "string", "maxLength": 240, "pattern": _ENTRY_POINT},
        "checkpoint": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["repo", "revision"],
                    "properties": {
                        "repo": {"type": "string", "pattern": _REPO},
                        # A pinned commit: a branch or tag could change under the same name.
                        "revision": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                    },
                },
            ]
        },
        "license": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9.+()-]{0,63}$"},
        "contact": {
            "type": "string",
            "maxLength": 200,
            "anyOf": [{"pattern": _EMAIL}, {"pattern": _HUB_USER}, {"pattern": _URL}],
        },
        "description": {"type": "string", "maxLength": 2000, "pattern": _TEXT},
        "spec": RESULTS_SCHEMA["properties"]["codec"],
        "checks": {"type": "object", "maxProperties": 20, "additionalProperties": _CHECK},
        "kodek_version": {"type": "string", "maxLength": 40, "pattern": _VERSION},
        "submitted_via": {"enum": ["cli", "space"]},
        "date": {"type": "string", "maxLength": 40, "pattern": _LINE},
    },
}


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(REQUEST_SCHEMA)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What each field must hold, in words (a schema's regular expression means nothing to a codec author).
EXPECTED: dict[str, tuple[str, str]] = {
    "codec_id": ("Codec id", "1-80 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"),
    "package": ("Python package", "a package name as on PyPI, e.g. my-codec (letters, digits, '.', '_', '-')"),
    "version": ("Package version", "a release number such as 1.0.2 (optionally a1, b2, rc1, .post1 or .dev1)"),
    "entry_point": ("Entry point", "'name = module:attribute'"),
    "checkpoint": ("Checkpoint", "both a Hub repo id and a 40-character commit, or neither"),
    "checkpoint/repo": ("Checkpoint", "a Hub repo id ORG/NAME (letters, digits, '_', '.', '-')"),
    "checkpoint/revision": ("Checkpoint revision", "the full 40-character hexadecimal commit id (not a branch)"),
    "license": ("Licence", "an SPDX licence id such as MIT or Apache-2.0"),
    "contact": ("Contact", "an e-mail address, a Hub user name (@name) or an https:// URL, at most 200 characters"),
    "description": ("Description", "plain text without control characters, at most 2000 characters"),
    "request_version": ("Request version", f"{REQUEST_VERSION}"),
    "kodek_version": ("kodek version", "a release number such as 0.1.0"),
    "submitted_via": ("Submitted via", "'cli' or 'space'"),
    "date": ("Date", "one line of text"),
}


def _field(path: str) -> str:
    known = EXPECTED.get(path) or EXPECTED.get(path.split("/")[0])
    return f"{path} ({known[0]})" if known else path


def _in_words(error: Any) -> str:
    """One schema error as 'field (Label): what is wrong; expected what, in words'."""
    path = "/".join(map(str, error.absolute_path)) or "<root>"
    inner = [e for e in error.context or () if e.validator != "type" and e.absolute_path != error.absolute_path]
    if error.validator == "anyOf" and inner:  # e.g. a checkpoint object: name the field inside it that is wrong
        return _in_words(inner[0])
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        known = EXPECTED.get(missing)
        expected = f"; expected {known[1]}" if known else ""
        return f"{_field(missing or path)}: {message(error, 120)}{expected}"
    known = EXPECTED.get(path) or EXPECTED.get(path.split("/")[0])
    if known is None:
        return f"{path}: {message(error, 160)}"
    value = error.instance
    if value == "" or value is None:
        what = "is empty"
    elif isinstance(value, str):
        what = f"{_short(repr(value), 40)} is not valid"
    else:
        what = "is not valid"
    return f"{_field(path)}: {what}; expected {known[1]}"


def validate_request(data: Any, *, taken: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every problem of a request as one short line each (empty when it is valid): the field, its label on the
    Space's form, and what it must hold in words.

    ``taken`` holds codec ids a request may not claim (kodek's built-in codecs).
    """
    try:
        size = len(json.dumps(data, ensure_ascii=False).encode())
    except (TypeError, ValueError) as error:
        return [f"<root>: not JSON data ({_short(str(error))})"]
    if size > MAX_REQUEST_BYTES:
        return [f"<root>: request is {size} bytes, more than the {MAX_REQUEST_BYTES} allowed"]
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    problems = list(dict.fromkeys(_in_words(e) for e in errors))  # a field breaking two rules is named once
    if not problems:
        problems += _consistency(data, taken)
    if len(problems) > MAX_ERRORS:
        problems = [*problems[:MAX_ERRORS], f"(and {len(problems) - MAX_ERRORS} more)"]
    return problems


def _consistency(data: dict[str, Any], taken: set[str] | frozenset[str]) -> list[str]:
    problems = []
    if data["codec_id"] in taken:
        problems.append(f"{_field('codec_id')}: {data['codec_id']!r} is a codec kodek already has; choose another id")
    spec = data.get("spec")
    if spec is not None:
        if spec["id"] != data["codec_id"]:
            problems.append(f"spec/id: {spec['id']!r} differs from codec_id {data['codec_id']!r}")
        declared = spec.get("checkpoint") or None
        if declared and data.get("checkpoint") and declared.get("repo") != data["checkpoint"]["repo"]:
            problems.append("checkpoint/repo: differs from the spec's checkpoint")
    return problems


def parse_request(content: bytes, *, taken: set[str] | frozenset[str] = frozenset()) -> tuple[dict | None, list[str]]:
    """Decode and validate request bytes (size first: nothing large is parsed)."""
    if len(content) > MAX_REQUEST_BYTES:
        return None, [f"<root>: request is {len(content)} bytes, more than the {MAX_REQUEST_BYTES} allowed"]
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [f"<root>: not valid JSON ({_short(str(error))})"]
    errors = validate_request(data, taken=taken)
    return (None, errors) if errors else (data, [])


def request_path(codec_id: str) -> str:
    """Where a request lives in the requests repo: ``requests/<codec_id>.json``."""
    if not CODEC_ID.match(codec_id):
        raise ValueError(f"invalid codec id {codec_id!r}")
    return f"{REQUESTS_DIR}/{codec_id}.json"


def request_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def send_request(data: dict[str, Any], repo: str, *, token: str | bool | None = None) -> Published:
    """Open a valid request as a pull request that adds ``requests/<codec_id>.json`` to the requests repo
    ``repo`` (``kodek submit --repo`` and the Space's Submit tab); returns the Hub's answer (its ``pr_url``)."""
    from kodek.hub import open_request

    codec = f"{data['codec_id']} ({data['package']} {data['version']})"
    return open_request(
        request_bytes(data), request_path(data["codec_id"]), repo, message=f"Request: benchmark {codec}", token=token
    )


# Requests one visitor's session may send to the requests repo (the Space holds a token that can open PRs).
MAX_REQUESTS_PER_SESSION = 3
MIN_SECONDS_BETWEEN_REQUESTS = 60.0


def rate_limited(sent: list[float], now: float) -> str | None:
    """Why a session that sent requests at times ``sent`` may not send another now, in words (None: it may)."""
    if len(sent) >= MAX_REQUESTS_PER_SESSION:
        return f"this session has already sent {len(sent)} requests, the most one session may send"
    if sent and now - sent[-1] < MIN_SECONDS_BETWEEN_REQUESTS:
        wait = MIN_SECONDS_BETWEEN_REQUESTS - (now - sent[-1])
        return f"one request per {MIN_SECONDS_BETWEEN_REQUESTS:.0f} s: try again in {wait:.0f} s"
    return None


def request_from_form(fields: dict[str, str], *, kodek_version: str, date: str) -> dict[str, Any]:
    """The request a submit form's text fields describe (not yet validated)."""
    value = {k: (v or "").strip() for k, v in fields.items()}
    repo, revision = value.get("checkpoint_repo", ""), value.get("checkpoint_revision", "")
    data: dict[str, Any] = {
        "request_version": REQUEST_VERSION,
        "codec_id": value.get("codec_id", ""),
        "package": value.get("package", ""),
        "version": value.get("version", ""),
        "checkpoint": {"repo": repo, "revision": revision} if repo or revision else None,
        "license": value.get("license", ""),
        "contact": value.get("contact", ""),
        "kodek_version": kodek_version,
        "submitted_via": "space",
        "date": date,
    }
    if value.get("description"):
        data["description"] = value["description"]
    return data


def builtin_codec_ids() -> frozenset[str]:
    """The ids of kodek's own codecs, read from its family modules (no entry point is loaded)."""
    from kodek.codecs.registry import builtin_entries

    return frozenset(entry.spec.id for entry in builtin_entries())
