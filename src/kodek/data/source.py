"""One name for every speech source kodek reads: ``sample``, ``bigos[:CONFIG]`` or ``folder:PATH``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kodek.errors import KodekError

SAMPLE_LICENSE = "apache-2.0"


class SourceError(KodekError, ValueError):
    """A data argument or split that kodek cannot read."""


@dataclass
class Source:
    name: str  # "sample" | "bigos"
    config: str | None
    split: str
    dataset: Any  # datasets.Dataset in the BIGOS schema, audio with decode=False
    repo: str | None = None
    revision: str | None = None
    license: str = SAMPLE_LICENSE
    missing_references: dict[str, int] = field(default_factory=dict)
    # Utterances the source lists but kodek cannot use (stage "load"): {audioname, dataset, split, stage, reason}.
    failures: list[dict[str, Any]] = field(default_factory=list)
    utterances_total: int | None = None  # listed by the source before any drop

    def __post_init__(self) -> None:
        if self.utterances_total is None:
            self.utterances_total = len(self.dataset) + len(self.failures)
        self._refuse_duplicates()

    def _refuse_duplicates(self) -> None:
        """An audioname is the join key of tokens, reconstructions and originals: one that names several
        utterances would match one with another's original, so none of them is used (each a counted failure)."""
        names = self.dataset["audioname"]
        counts = Counter(names)
        if all(n == 1 for n in counts.values()):
            return
        subsets = self.dataset["dataset"] if "dataset" in self.dataset.column_names else [None] * len(names)
        keep = []
        for index, (name, subset) in enumerate(zip(names, subsets, strict=True)):
            if counts[name] == 1:
                keep.append(index)
                continue
            reason = f"audioname {name!r} names {counts[name]} utterances of the source: ambiguous, none of them used"
            self.failures.append(load_failure(name, subset, self.split, reason))
        self.dataset = self.dataset.select(keep)

    @property
    def label(self) -> str:
        return self.name if self.config is None else f"{self.name}:{self.config}"

    def info(self) -> dict[str, Any]:
        """The dataset facts recorded in codec.json and results."""
        seconds = float(sum(self.dataset["audio_duration_seconds"])) if len(self.dataset) else 0.0
        return {
            "name": self.name,
            "config": self.config,
            "repo": self.repo,
            "revision": self.revision,
            "split": self.split,
            "subsets": sorted(set(self.dataset["dataset"])),
            "utterances": len(self.dataset),
            "hours": round(seconds / 3600, 4),
            "references_withheld": bool(self.missing_references),
            "missing_references": self.missing_references,
            "synthetic": self.name == "sample",
        }


def load_failure(audioname: str, dataset: str | None, split: str, reason: str) -> dict[str, Any]:
    """A failure record for codec.json: an utterance of the source that could not be loaded."""
    return {"audioname": audioname, "dataset": dataset, "split": split, "stage": "load", "reason": reason}


def parse_data(data: str) -> tuple[str, str | None]:
    name, _, config = data.partition(":")
    if name == "sample" and not config:
        return "sample", None
    if name == "bigos":
        return "bigos", config or "all"
    if name == "folder" and config:
        return "folder", config
    raise SourceError(f"unknown data {data!r}: use 'sample', 'bigos', 'bigos:CONFIG' or 'folder:PATH'")


def load_source(data: str, split: str, *, token: str | bool | None = None, revision: str = "main") -> Source:
    name, config = parse_data(data)
    if name == "sample":
        from kodek.data.sample import load_sample

        try:
            return Source("sample", None, split, load_sample(split))
        except ValueError as error:  # an unknown split
            raise SourceError(str(error)) from error
    if name == "folder":
        from kodek.data.folder import load_folder

        return load_folder(config or "", split, revision=None if revision == "main" else revision)
    from kodek.data.bigos import LICENSE_NOTE, REPO, load_bigos

    loaded = load_bigos(config or "all", split, revision=revision, token=token)
    return Source(
        "bigos",
        config,
        split,
        loaded.dataset,
        REPO,
        loaded.revision,
        f"other ({LICENSE_NOTE})",
        loaded.missing_references,
        loaded.failures,
    )
