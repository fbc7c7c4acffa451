"""BIGOS-v2 (``amu-cai/pl-asr-bigos-v2``) without its loading script.

The corpus was published with a loading script, which ``datasets`` >= 4 refuses
to run, and it is gated. This loader reads the repository's own files with
``huggingface_hub`` (and the user's token): a parquet conversion
(``refs/convert/parquet``) where the Hub has one, else the raw layout of the
script, ``data/<subset>/<split>.tsv`` (metadata) beside ``data/<subset>/<split>.tar.gz``
(audio), and builds the ``datasets.Dataset`` itself. Audio is extracted once into
a cache folder keyed by the repository commit and referenced by path.
"""

from __future__ import annotations

import logging
import os
import tarfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kodek.errors import KodekError

REPO = "amu-cai/pl-asr-bigos-v2"
SUBSETS: tuple[str, ...] = (
    "fair-mls-20",
    "google-fleurs-22",
    "mailabs-corpus_librivox-19",
    "mozilla-common_voice_15-23",
    "pjatk-clarin_mobile-15",
    "pjatk-clarin_studio-15",
    "polyai-minds14-21",
    "pwr-azon_read-20",
    "pwr-azon_spont-20",
    "pwr-maleset-unk",
    "pwr-shortwords-unk",
    "pwr-viu-unk",
)
SPLITS = ("train", "validation", "test")
LICENSE_NOTE = (
    "BIGOS-v2 bundles public Polish speech corpora, each under its own licence "
    "(see https://huggingface.co/datasets/amu-cai/pl-asr-bigos-v2); derived data inherits them."
)
log = logging.getLogger(__name__)


class BigosError(KodekError, RuntimeError):
    """BIGOS-v2 cannot be read as asked, with the reason and what to do."""


@dataclass
class BigosSplit:
    dataset: Any  # datasets.Dataset, audio column with decode=False
    revision: str  # the repository commit that was read
    subsets: list[str]
    layout: str  # "parquet-conversion" | "raw"
    missing_references: dict[str, int] = field(default_factory=dict)  # subset -> utterances without text
    failures: list[dict[str, Any]] = field(default_factory=list)  # listed utterances that cannot be used

    @property
    def references_withheld(self) -> bool:
        return bool(self.missing_references)


def subsets_for(config: str) -> list[str]:
    if config == "all":
        return list(SUBSETS)
    if config not in SUBSETS:
        raise BigosError(f"unknown BIGOS-v2 config {config!r}: use 'all' or one of {', '.join(SUBSETS)}")
    return [config]


def cache_root() -> Path:
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return home / "kodek" / "bigos-v2"


def load_bigos(
    config: str = "all",
    split: str = "test",
    *,
    repo: str = REPO,
    revision: str = "main",
    token: str | bool | None = None,
) -> BigosSplit:
    """Load one split of BIGOS-v2 (one subset or ``all``) as a ``datasets.Dataset``."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if split not in SPLITS:
        raise BigosError(f"unknown BIGOS-v2 split {split!r}: use one of {', '.join(SPLITS)}")
    subsets = subsets_for(config)
    from kodek.hub import hub_errors

    api = HfApi(token=token)
    failures: list[dict[str, Any]] = []
    with hub_errors(f"BIGOS-v2 {repo}@{revision}"):
        try:
            if _offline():  # what an earlier run fetched (kodek run-request --install runs this way, tokenless)
                sha, files = _cached_listing(repo, revision)
            else:
                sha = api.dataset_info(repo, revision=revision).sha
                files = api.list_repo_files(repo, repo_type="dataset", revision=sha)
        except GatedRepoError as error:
            raise BigosError(
                f"{repo} is gated: accept its conditions on https://huggingface.co/datasets/{repo} "
                "and log in (`hf auth login`) or set HF_TOKEN"
            ) from error
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            raise BigosError(f"{repo}@{revision}: {str(error).splitlines()[0]}") from error
        converted = _parquet_conversion(api, repo, config, split)
        if converted is not None:
            dataset = converted
            layout = "parquet-conversion"
        else:
            dataset = _from_raw_files(api, repo, sha, files, subsets, split, failures)
            layout = "raw"
    dataset = _normalise(dataset, split, failures)
    missing = _missing_references(dataset)
    if missing:
        warnings.warn(
            f"BIGOS-v2 {split}: references withheld for {sum(missing.values())} utterances "
            f"({', '.join(f'{k}: {v}' for k, v in missing.items())}); WER/CER against references "
            "will be reported as missing for them (dWER needs none); the validation split has references",
            stacklevel=2,
        )
    for failure in failures:
        log.warning("BIGOS-v2 %s: %s not used: %s", split, failure["audioname"], failure["reason"])
    return BigosSplit(dataset, sha, subsets, layout, missing, failures)


def _parquet_conversion(api, repo: str, config: str, split: str):
    """The Hub's parquet export of the script dataset, if there is one for this config/split."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RevisionNotFoundError

    try:
        if _offline():
            files = _cached_listing(repo, "refs/convert/parquet")[1]
        else:
            files = api.list_repo_files(repo, repo_type="dataset", revision="refs/convert/parquet")
    except (RevisionNotFoundError, LocalEntryNotFoundError):
        return None
    wanted = sorted(f for f in files if PurePosixPath(f).parts[:2] == (config, split) and f.endswith(".parquet"))
    if not wanted:
        return None
    import datasets

    paths = [
        hf_hub_download(repo, f, repo_type="dataset", revision="refs/convert/parquet", token=api.token) for f in wanted
    ]
    return datasets.Dataset.from_parquet(paths)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _cached_listing(repo: str, revision: str) -> tuple[str, list[str]]:
    """(commit, files) of the locally cached snapshot of ``repo`` at ``revision`` (offline mode)."""
    from huggingface_hub import snapshot_download

    root = Path(snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True))
    return root.name, sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _find(files: list[str], subset: str, split: str, suffixes: tuple[str, ...]) -> str | None:
    for name in files:
        path = PurePosixPath(name)
        if subset in path.parts[:-1] and any(path.name == f"{split}{s}" for s in suffixes):
            return name
    return None


def _from_raw_files(api, repo: str, sha: str, files: list[str], subsets: list[str], split: str, failures: list):
    import datasets
    from huggingface_hub import hf_hub_download

    rows: list[dict[str, Any]] = []
    for subset in subsets:
        meta = _find(files, subset, split, (".tsv",))
        archive = _find(files, subset, split, (".tar.gz", ".tgz", ".tar"))
        if meta is None or archive is None:
            have = sorted({PurePosixPath(f).name for f in files if subset in f})
            raise BigosError(
                f"BIGOS-v2 {repo}@{sha[:12]}: no {split} metadata/audio for subset {subset} (files there: {have})"
            )
        meta_path = hf_hub_download(repo, meta, repo_type="dataset", revision=sha, token=api.token)
        archive_path = hf_hub_download(repo, archive, repo_type="dataset", revision=sha, token=api.token)
        audio_dir = _extract(Path(archive_path), cache_root() / sha / subset / split)
        rows += _read_metadata(Path(meta_path), audio_dir, subset, split, failures)
    if not rows:
        raise BigosError(f"BIGOS-v2 {split}: no utterances in {', '.join(subsets)}")
    dataset = datasets.Dataset.from_list(rows)
    return dataset.cast_column("audio", datasets.Audio(decode=False))


def _extract(archive: Path, target: Path) -> Path:
    done = target / ".complete"
    if done.is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        for member in members:
            member.name = PurePosixPath(member.name).name  # flat: audio is looked up by file name
        tar.extractall(target, members=members, filter="data")
    done.touch()
    return target


def _read_metadata(meta: Path, audio_dir: Path, subset: str, split: str, failures: list) -> list[dict[str, Any]]:
    """Rows of a subset's TSV with their extracted audio; a row without usable audio or text is a load failure."""
    from kodek.data.source import load_failure
    from kodek.data.table import read_table

    by_name = {p.name: p for p in audio_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
    table = read_table(meta)
    failures += [load_failure(name, subset, split, f"{subset}/{reason}") for name, reason in table.problems]
    rows = []
    for record in table.rows:
        name = record.get("audioname", "").strip()
        path = by_name.get(PurePosixPath(record.get("audiopath_bigos") or "").name) or next(
            (by_name[name + ext] for ext in (".wav", ".flac", ".mp3") if name + ext in by_name), None
        )
        if path is None:
            failures.append(load_failure(name, subset, split, f"listed in {subset}/{meta.name} but not in the archive"))
            continue
        row = dict(record)
        row.setdefault("dataset", subset)
        row.setdefault("split", split)
        row["audio"] = {"path": str(path), "bytes": None}
        rows.append(row)
    return rows


def _normalise(dataset, split: str, failures: list):
    """Give every BIGOS-v2 variant the same core columns and types (rows whose audio cannot be read dropped)."""
    import datasets

    defaults = {"speaker_id": "N/A", "speaker_age": "N/A", "speaker_gender": "N/A", "ref_orig": ""}
    for column, value in defaults.items():
        if column not in dataset.column_names:
            dataset = dataset.add_column(column, [value] * len(dataset))
    dataset = dataset.map(lambda row: {"ref_orig": (row["ref_orig"] or "").strip()}, desc="BIGOS-v2 text")
    if "audio_duration_seconds" not in dataset.column_names:
        dataset = dataset.map(_duration, desc="BIGOS-v2 durations")
        unreadable = [i for i, why in enumerate(dataset["_unreadable"]) if why]
        if unreadable:
            from kodek.data.source import load_failure

            for i in unreadable:
                row = dataset[i]
                failures.append(load_failure(row["audioname"], row["dataset"], split, row["_unreadable"]))
            dataset = dataset.select(sorted(set(range(len(dataset))) - set(unreadable)))
        dataset = dataset.remove_columns("_unreadable")
    dataset = dataset.cast_column("audio_duration_seconds", datasets.Value("float64"))
    return dataset.cast_column("audio", datasets.Audio(decode=False))


def _duration(row: dict[str, Any]) -> dict[str, Any]:
    """The audio's duration from its header, or why the file cannot be read (the row is then dropped)."""
    import io

    import soundfile as sf

    audio = row["audio"]
    source = audio.get("path") if audio.get("bytes") is None else io.BytesIO(audio["bytes"])
    try:
        return {"audio_duration_seconds": float(sf.info(source).duration), "_unreadable": ""}
    except Exception as error:  # libsndfile raises its own types; the reason is kept in words
        return {"audio_duration_seconds": 0.0, "_unreadable": f"cannot read the audio: {error}"}


def _missing_references(dataset) -> dict[str, int]:
    missing: dict[str, int] = {}
    for subset, text in zip(dataset["dataset"], dataset["ref_orig"], strict=True):
        if not text:
            missing[subset] = missing.get(subset, 0) + 1
    return missing
