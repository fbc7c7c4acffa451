"""Files written so that a killed run never leaves half of one, with the user's umask; append-only logs
that survive a torn last line; a lock for read-modify-write between processes sharing a folder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kodek.errors import KodekError


class LogError(KodekError, ValueError):
    """An append-only log with a damaged line before its end."""


def write_table(table: pa.Table, path: Path) -> None:
    """Write parquet atomically: a killed run never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def umask() -> int:
    """The process umask, read without changing it where Linux tells it (os.umask sets as it reads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    """Write text atomically, with the mode an ordinary ``open`` would give (mkstemp's 0600 ignores the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), 0o666 & ~umask())
    os.replace(handle.name, path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of an append-only JSON-lines log; a torn last line (a killed writer) is cut off.

    The file is truncated after its last complete record, so that the next append starts on a line of its own.
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    records, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        try:
            if line.strip():
                records.append(json.loads(line))
        except ValueError:
            if end >= 0 and data[end + 1 :].strip():
                number = data[:start].count(b"\n") + 1
                raise LogError(f"{path}: line {number} is not JSON; delete the file to start over") from None
            with open(path, "r+b") as handle:  # the torn tail of an interrupted write
                handle.truncate(start)
            break
        if end < 0:  # a whole record without its newline: end the line before anything is appended
            with open(path, "ab") as handle:
                handle.write(b"\n")
        start = len(data) if end < 0 else end + 1
    return records


def append_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Append records durably (fsync), one JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise read-modify-write of shared files between shards running at once."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".kodek.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
