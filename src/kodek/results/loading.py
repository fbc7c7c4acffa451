"""Read results for the leaderboard: a local folder or the results repo on the Hub.

Layout (see README): ``<root>/<codec_id>/<task>.json`` (also ``<task>-<variant>.json``,
e.g. one SpeechLLM file per LLM), per-utterance tables beside them, optional
listening examples ``<root>/<codec_id>/audio/<audioname>.flac`` and the originals
``<root>/_originals/<audioname>.flac``.

Every JSON file is validated against the schema; a file that fails, that sits in
a folder not named after its codec id, or that repeats another file's
(codec, task, LLM) is rejected with the reason and never shown as data. Nothing
here imports or runs codec code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodek.results.schema import validate

MAX_RESULTS_BYTES = 8_000_000  # a results JSON is tens of kB; anything this large is not one
ORIGINALS_DIR = "_originals"
AUDIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.flac$")
CODEC_DIR = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass
class Loaded:
    results: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def shown(self) -> list[dict[str, Any]]:
        """Results that may be shown as scores: never random-weight runs."""
        return [r for r in self.results if not r["random_weights"]]

    @property
    def random_weight_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["random_weights"]]


def result_key(data: dict[str, Any]) -> tuple[str, str, str]:
    """What one results file is about: codec id, task and (for SpeechLLM) the LLM."""
    llm = (data.get("llm") or {}).get("id", "")
    return data["codec"]["id"], data["task"], llm


def _read(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_RESULTS_BYTES:
        raise ValueError(f"larger than {MAX_RESULTS_BYTES // 1_000_000} MB")
    return json.loads(path.read_text(encoding="utf-8"))


def check_file(path: Path, data: Any) -> list[str]:
    """Schema errors, then the file having to sit where it says: ``<codec id>/<task>[-variant].json``."""
    errors = [_short(e) for e in validate(data)]
    if errors:
        return errors
    if data["codec"]["id"] != path.parent.name:
        errors.append(f"codec id {data['codec']['id']!r} does not match its folder {path.parent.name!r}")
    if path.stem != data["task"] and not path.stem.startswith(f"{data['task']}-"):
        errors.append(f"task {data['task']!r} does not match the file name {path.name!r}")
    return errors


def _short(message: str, limit: int = 200) -> str:
    """A schema message quotes the offending value: never echo a huge one in full."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def load_results(folder: Path) -> Loaded:
    """Every ``<codec>/<task>.json`` under ``folder``; invalid files are rejected with the reason."""
    loaded = Loaded()
    seen: dict[tuple[str, str, str], str] = {}
    root = Path(folder)
    # Plain ``<task>.json`` files before variants, so a stray copy never displaces the file it copies.
    for path in sorted(root.glob("*/*.json"), key=lambda p: (p.parent.name, "-" in p.stem, p.name)):
        name = str(path.relative_to(root))
        try:
            data = _read(path)
        except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            loaded.rejected.append((name, f"unreadable: {error}"))
            continue
        errors = check_file(path, data)
        if errors:
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            loaded.rejected.append((name, "; ".join(errors[:3]) + more))
            continue
        key = result_key(data)
        if key in seen:
            loaded.rejected.append((name, f"duplicate of {seen[key]} (same codec, task and LLM)"))
            continue
        seen[key] = name
        loaded.results.append(data)
    return loaded


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and mtimes of the results files: a cheap cache key that changes when they do."""
    out = []
    for path in sorted(Path(folder).glob("*/*.json")):
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


# -- listening examples ----------------------------------------------------------------------------


@dataclass
class Listening:
    """Which reconstructions (and originals) of which utterances exist, by relative path."""

    originals: dict[str, str] = field(default_factory=dict)  # audioname -> path
    reconstructions: dict[str, dict[str, str]] = field(default_factory=dict)  # codec -> audioname -> path

    def utterances(self, codecs: list[str]) -> list[str]:
        """Utterances with an original and a reconstruction by every one of ``codecs``."""
        names = set(self.originals)
        for codec in codecs:
            names &= set(self.reconstructions.get(codec, {}))
        return sorted(names)


def classify_audio(path: str) -> tuple[str, str] | None:
    """``(codec id or ORIGINALS_DIR, audioname)`` for a listening-example path, else None."""
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == ORIGINALS_DIR and AUDIO_NAME.match(parts[1]):
        return ORIGINALS_DIR, parts[1].removesuffix(".flac")
    if len(parts) == 3 and CODEC_DIR.match(parts[0]) and parts[1] == "audio" and AUDIO_NAME.match(parts[2]):
        return parts[0], parts[2].removesuffix(".flac")
    return None


def index_listening(paths: list[str]) -> Listening:
    """Sort relative paths into originals and per-codec reconstructions; anything else is ignored."""
    index = Listening()
    for path in paths:
        found = classify_audio(path)
        if found is None:
            continue
        owner, audioname = found
        if owner == ORIGINALS_DIR:
            index.originals[audioname] = path
        else:
            index.reconstructions.setdefault(owner, {})[audioname] = path
    return index


def local_audio_paths(folder: Path) -> list[str]:
    root = Path(folder)
    found = [*root.glob(f"{ORIGINALS_DIR}/*.flac"), *root.glob("*/audio/*.flac")]
    return sorted(str(p.relative_to(root)) for p in found)


def read_local_audio(folder: Path, relative: str) -> bytes:
    """The bytes of one listening example, refusing any other path and anything outside ``folder``."""
    if classify_audio(relative) is None:
        raise ValueError(f"not a listening example path: {relative!r}")
    root = Path(folder).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"outside the results folder: {relative!r}")
    return path.read_bytes()
