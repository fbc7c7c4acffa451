"""Files written so that a killed run never leaves half of one, with the user's umask; append-only logs
that survive a torn last line; a lock for read-modify-write between processes sharing a folder; resumable
stores of parquet parts."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kodek.errors import KodekError


class LogError(KodekError, ValueError):
    """An append-only log with a damaged line before its end."""


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that takes a file name. When the block ends without an
    error, the file gets the mode an ordinary ``open`` would give (some writers create 0600 files) and replaces
    ``path`` atomically, so a killed run never leaves a half-written file; otherwise it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(table: pa.Table, path: Path) -> None:
    with replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


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


def write_bytes(path: Path, content: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(content)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


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


class PartStore:
    """A run's results as parquet parts in a work folder, so that a killed run resumes where it stopped.

    Each part is written atomically (:func:`write_table`: a temporary name, then a rename), so the folder
    holds only whole parts: after a kill, :meth:`done` is exactly what the finished parts hold. Items that
    failed are logged in ``failures.jsonl`` (a torn last line is dropped). :meth:`merge` writes the final
    file, atomically, in the order of ``key``.
    """

    PARTS = "part-*.parquet"
    FAILURES = "failures.jsonl"

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key  # the column that names an item (unique within the run)

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob(self.PARTS))

    def done(self) -> set[Any]:
        """The keys of every item the finished parts hold."""
        keys: set[Any] = set()
        for part in self.parts():
            keys.update(pq.read_table(part, columns=[self.key])[self.key].to_pylist())
        return keys

    def write(self, table: pa.Table) -> Path:
        """Add one part (numbered after the last, so parts keep the order they were written in)."""
        path = self.folder / f"part-{len(self.parts()):05d}.parquet"
        write_table(table, path)
        return path

    def failures(self) -> dict[Any, dict[str, Any]]:
        """Failed items by key, as :meth:`record_failures` logged them (without the key)."""
        records = read_jsonl(self.folder / self.FAILURES)
        return {record.pop(self.key): record for record in records}

    def record_failures(self, failed: Sequence[tuple[Any, dict[str, Any]]]) -> None:
        """Log ``(key, record)`` pairs durably, so that a resumed run does not retry them."""
        if failed:
            append_jsonl(self.folder / self.FAILURES, [{self.key: key, **record} for key, record in failed])

    def merge(self, final: Path, *, drop_key: bool = False) -> bool:
        """Write every part into ``final`` sorted by the key (False, writing nothing, when there is no part).

        The first part's schema metadata (e.g. the datasets features) is kept on the merged file.
        """
        parts = self.parts()
        if not parts:
            return False
        table = pa.concat_tables([pq.read_table(p) for p in parts]).sort_by(self.key)
        if drop_key:
            table = table.drop([self.key])
        write_table(table.replace_schema_metadata(pq.read_schema(parts[0]).metadata), final)
        return True

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
