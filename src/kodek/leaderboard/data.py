"""Where the leaderboard's results come from, and everything the page derives from them once.

``KODEK_RESULTS`` names a local results folder (``kodek leaderboard --results DIR``);
otherwise results come from the results repo on the Hub (``KODEK_RESULTS_REPO``,
optionally at ``KODEK_RESULTS_REVISION``). Submissions go to ``KODEK_REQUESTS_REPO``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kodek.leaderboard import tables
from kodek.leaderboard.tables import Apart, Board
from kodek.results.loading import (
    Listening,
    Loaded,
    classify_audio,
    index_listening,
    load_results,
    local_audio_paths,
    read_local_audio,
)

DEFAULT_RESULTS_REPO = "kodek/bigos-v2-results"
DEFAULT_REQUESTS_REPO = "kodek/bigos-v2-requests"


@dataclass(frozen=True)
class ResultsSource:
    folder: str | None = None
    repo: str | None = None
    revision: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ResultsSource:
        if env.get("KODEK_RESULTS"):
            return cls(folder=env["KODEK_RESULTS"])
        return cls(
            repo=env.get("KODEK_RESULTS_REPO") or DEFAULT_RESULTS_REPO, revision=env.get("KODEK_RESULTS_REVISION")
        )

    @property
    def label(self) -> str:
        if self.folder is not None:
            return f"local folder {self.folder}"
        return f"Hub dataset {self.repo}" + (f"@{self.revision}" if self.revision else "")

    def fetch(self, token: str | bool | None = None) -> tuple[Loaded, list[str], Path]:
        """Validated results, the listening-example paths, and the local folder they were read from."""
        if self.folder is not None:
            root = Path(self.folder)
            return load_results(root), local_audio_paths(root), root
        from kodek.hub import download_results, list_repo_files

        root = download_results(self.repo, revision=self.revision, token=token)
        audio = [p for p in list_repo_files(self.repo, revision=self.revision, token=token) if classify_audio(p)]
        return load_results(root), audio, root

    def read_audio(self, root: Path, relative: str, token: str | bool | None = None) -> bytes:
        if classify_audio(relative) is None:
            raise ValueError(f"not a listening example path: {relative!r}")
        if self.folder is not None:
            return read_local_audio(root, relative)
        from kodek.hub import download_file

        return download_file(self.repo, relative, revision=self.revision, token=token).read_bytes()


@dataclass
class Prepared:
    """What every view needs, computed once per results version (the page caches it)."""

    loaded: Loaded
    listening: Listening
    root: str
    datasets: list[str] = field(default_factory=list)  # the one with most codecs first
    # Per dataset: the ranked table (results sharing one comparability key) and the results apart.
    reconstruction: dict[str, Board] = field(default_factory=dict)
    reconstruction_apart: dict[str, list[tuple[Apart, Board]]] = field(default_factory=dict)
    llms: dict[str, list[str]] = field(default_factory=dict)  # per dataset
    speechllm: dict[tuple[str, str], Board] = field(default_factory=dict)  # per (dataset, llm)
    speechllm_apart: dict[tuple[str, str], list[tuple[Apart, Board]]] = field(default_factory=dict)
    speech_lm: dict[str, Board] = field(default_factory=dict)  # per dataset


def prepare(loaded: Loaded, audio_paths: list[str], root: Path) -> Prepared:
    prepared = Prepared(loaded, index_listening(audio_paths), str(root))
    shown = loaded.shown  # random-weight runs are never scores
    prepared.datasets = tables.dataset_keys(shown)
    for key in prepared.datasets:
        chosen = [r for r in shown if tables.dataset_key(r) == key]
        recon = tables.for_task(chosen, "reconstruction")
        main, apart = tables.comparable_groups(recon)
        prepared.reconstruction[key] = tables.reconstruction_board(main)
        prepared.reconstruction_apart[key] = [(a, tables.reconstruction_board(a.results)) for a in apart]
        prepared.llms[key] = tables.llm_ids(chosen)
        for llm in prepared.llms[key]:
            runs = [r for r in tables.for_task(chosen, "speechllm") if r["llm"]["id"] == llm]
            main, apart = tables.comparable_groups(runs)
            prepared.speechllm[key, llm] = tables.speechllm_board([*recon, *main], llm)
            prepared.speechllm_apart[key, llm] = [(a, tables.speechllm_board([*recon, *a.results], llm)) for a in apart]
        prepared.speech_lm[key] = tables.speech_lm_board(chosen)
    return prepared


def results_for(prepared: Prepared, dataset: str) -> list[dict]:
    return [r for r in prepared.loaded.shown if tables.dataset_key(r) == dataset]
