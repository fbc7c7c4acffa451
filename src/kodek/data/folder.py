"""A local folder of recordings with a transcript table: ``--data folder:PATH``.

``PATH/transcripts.tsv`` (tab-separated) or ``PATH/transcripts.csv`` (comma-separated), UTF-8, a header row,
then one row per recording:

- ``path`` (required): the audio file, relative to PATH (any format kodek reads: WAV, FLAC, MP3, OGG, M4A...)
- ``text``: its transcript (empty: no reference, WER/CER missing for it)
- ``audioname``: its id (default: ``path`` without its suffix); unique in the table
- ``split``: train / validation / test (default: test)
- ``speaker_id``, ``speaker_gender``, ``speaker_age``, ``dataset``: optional (``dataset`` defaults to the folder name)

A row whose file is missing or unreadable is a counted load failure with its reason; the others load.
The folder's revision is a hash of the table and of the listed files' sizes and times, so a token dataset
made from it refuses to be scored against the folder after it changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from kodek.data.source import Source, SourceError, load_failure
from kodek.data.table import read_table

TABLES = ("transcripts.tsv", "transcripts.csv")
SPLITS = ("train", "validation", "test")


def find_table(folder: Path) -> Path:
    for name in TABLES:
        if (folder / name).is_file():
            return folder / name
    raise SourceError(
        f"{folder}: no transcript table; add {' or '.join(TABLES)} with a header row and columns "
        "path, text (see README: own recordings)"
    )


def fingerprint(folder: Path, table: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256(table.read_bytes())
    for path in paths:
        stat = path.stat() if path.is_file() else None
        digest.update(f"{path.relative_to(folder)}\0{stat and stat.st_size}\0{stat and stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:40]


def load_folder(path: str, split: str, *, revision: str | None = None) -> Source:
    """The rows of ``split`` in the folder's table as a Source in the BIGOS schema."""
    import datasets
    import soundfile as sf

    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise SourceError(f"folder:{path}: no such folder")
    if split not in SPLITS:
        raise SourceError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    table_path = find_table(folder)
    table = read_table(table_path)
    if table.rows and "path" not in table.rows[0]:
        raise SourceError(f"{table_path}: no 'path' column (columns: {', '.join(table.rows[0])})")
    subset = folder.name
    failures = [load_failure(name, subset, split, reason) for name, reason in table.problems]
    rows: list[dict[str, Any]] = []
    listed = [folder / r["path"].strip() for r in table.rows]
    now = fingerprint(folder, table_path, listed)
    if revision is not None and revision != now:
        raise SourceError(
            f"{folder} changed since the tokens were made from it (revision {revision[:12]}, now {now[:12]}): "
            "tokenize it again"
        )
    for record, file in zip(table.rows, listed, strict=True):
        if (record.get("split") or "test").strip() != split:
            continue
        name = (record.get("audioname") or "").strip() or str(Path(record["path"].strip()).with_suffix(""))
        dataset = (record.get("dataset") or "").strip() or subset
        if not file.is_file():
            failures.append(load_failure(name, dataset, split, f"{record['path']}: no such file in {folder}"))
            continue
        try:
            duration = float(sf.info(str(file)).duration)
        except Exception as error:  # libsndfile's own error types; formats it cannot read are decoded later
            duration = _pyav_duration(file)
            if duration is None:
                failures.append(load_failure(name, dataset, split, f"{record['path']}: cannot read the audio: {error}"))
                continue
        rows.append(
            {
                "audioname": name,
                "dataset": dataset,
                "split": split,
                "speaker_id": (record.get("speaker_id") or "N/A").strip(),
                "speaker_gender": (record.get("speaker_gender") or "N/A").strip(),
                "speaker_age": (record.get("speaker_age") or "N/A").strip(),
                "ref_orig": (record.get("text") or "").strip(),
                "audio": {"path": str(file), "bytes": None},
                "audio_duration_seconds": duration,
            }
        )
    if not rows and not failures:
        raise SourceError(f"{table_path}: no {split} rows (the split column defaults to test)")
    features = datasets.Features(
        {
            **{k: datasets.Value("string") for k in ("audioname", "dataset", "split", "speaker_id")},
            **{k: datasets.Value("string") for k in ("speaker_gender", "speaker_age", "ref_orig")},
            "audio": datasets.Audio(decode=False),
            "audio_duration_seconds": datasets.Value("float64"),
        }
    )
    dataset = datasets.Dataset.from_list(rows, features=features)
    missing = {}
    for row in rows:
        if not row["ref_orig"]:
            missing[row["dataset"]] = missing.get(row["dataset"], 0) + 1
    return Source(
        "folder",
        str(folder),
        split,
        dataset,
        repo=None,
        revision=now,
        license="the licence of the recordings in the folder",
        missing_references=missing,
        failures=failures,
    )


def _pyav_duration(file: Path) -> float | None:
    """Duration of a format libsndfile does not read (M4A, WebM...), by decoding it; None if it cannot."""
    from kodek import audio

    try:
        wave, rate = audio.load_audio(file)
    except audio.AudioError:
        return None
    return len(wave) / rate
