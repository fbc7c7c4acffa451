"""One name for every speech source kodek reads: ``sample`` or ``bigos[:CONFIG]``."""

from __future__ import annotations

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


def parse_data(data: str) -> tuple[str, str | None]:
    name, _, config = data.partition(":")
    if name == "sample" and not config:
        return "sample", None
    if name == "bigos":
        return "bigos", config or "all"
    raise SourceError(f"unknown data {data!r}: use 'sample', 'bigos' or 'bigos:CONFIG'")


def load_source(data: str, split: str, *, token: str | bool | None = None, revision: str = "main") -> Source:
    name, config = parse_data(data)
    if name == "sample":
        from kodek.data.sample import load_sample

        try:
            return Source("sample", None, split, load_sample(split))
        except ValueError as error:  # an unknown split
            raise SourceError(str(error)) from error
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
    )
