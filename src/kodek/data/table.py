"""Transcript tables (TSV or CSV with a header row), read line by line so one bad row never costs the others.

Quotes are data, not syntax (``csv.QUOTE_NONE``): a transcript that starts with ``"`` stays one field of its own
row instead of swallowing the rows after it. A line that is not UTF-8, or that has another number of fields than
the header, is reported with its line number and skipped; every other row loads.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from kodek.errors import KodekError


class TableError(KodekError, ValueError):
    """A transcript table that cannot be read at all (no header, header not UTF-8)."""


@dataclass
class Table:
    rows: list[dict[str, str]]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (first field of the line, reason)


def _delimiter(path: Path) -> str:
    return "," if path.suffix.lower() == ".csv" else "\t"


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, quoting=csv.QUOTE_NONE), [])


def read_table(path: Path) -> Table:
    """The rows of a header + rows table (tab-separated, or comma-separated for ``.csv``)."""
    delimiter = _delimiter(path)
    lines = path.read_bytes().splitlines()
    if not lines:
        raise TableError(f"{path}: empty table (expected a header row)")
    try:
        header = [h.strip() for h in _split(lines[0].decode("utf-8-sig"), delimiter)]
    except UnicodeDecodeError as error:
        raise TableError(f"{path}: the header row is not UTF-8 ({error.reason} at byte {error.start})") from None
    table = Table([])
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            fields = _split(raw.decode("utf-8"), delimiter)
        except UnicodeDecodeError as error:
            first = raw.decode("utf-8", "replace").split(delimiter)[0].strip()
            reason = f"{path.name} line {number}: not UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
            table.problems.append((first, reason))
            continue
        if len(fields) != len(header):
            reason = f"{path.name} line {number}: {len(fields)} fields where the header has {len(header)}"
            table.problems.append(((fields or [""])[0].strip(), reason))
            continue
        table.rows.append({k: v for k, v in zip(header, fields, strict=True) if k})
    return table
