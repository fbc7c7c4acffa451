"""The codec registry: static specs, lazy factories, third-party entry points.

Built-in family modules are light to import (no torch at module level) and each
exposes ``ENTRIES``. Third-party packages register through the entry-point group
``kodek.codecs``: the entry point resolves to an iterable of :class:`CodecEntry`
or to a callable returning one. That is how a new codec is submitted.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodek.codecs.base import (
    Codec,
    MissingExtraError,
    UnknownCodecError,
    UnsupportedCodecError,
)
from kodek.codecs.spec import CodecSpec

ENTRY_POINT_GROUP = "kodek.codecs"
COMMIT = re.compile(r"^[0-9a-f]{40}$")

BUILTIN_FAMILIES: tuple[str, ...] = (
    "kodek.codecs.reference",
    "kodek.codecs.classic",
    "kodek.codecs.encodec",
    "kodek.codecs.dac",
    "kodek.codecs.mimi",
    "kodek.codecs.xcodec",
    "kodek.codecs.wavtokenizer",
    "kodek.codecs.speechtokenizer",
    "kodek.codecs.snac",
    "kodek.codecs.soundstream",
    "kodek.codecs.lyra",
    "kodek.codecs.ssl",
    "kodek.codecs.xcodec2",
    "kodek.codecs.bigcodec",
    "kodek.codecs.semanticodec",
    "kodek.codecs.unsupported",
)


@dataclass(frozen=True)
class CodecEntry:
    """A registered codec: its spec and how to build it.

    ``factory`` is ``"module:callable"``, imported only when the codec is built;
    the callable takes ``(spec, *, random_weights: bool, seed: int)``.
    ``requires`` lists importable module names the factory needs. ``env`` names the isolated
    environment (``kodek.envs``) the codec runs in, if it does not run in kodek's own.
    """

    spec: CodecSpec
    factory: str
    requires: tuple[str, ...] = ()
    source: str = "kodek"  # "kodek" or the distribution that registered it
    env: str | None = None


@dataclass(frozen=True)
class Availability:
    status: str  # available | needs-weights | needs-kmeans | needs-extra | needs-env | unsupported
    reason: str = ""
    env: str | None = None  # the isolated environment the codec runs in, if any

    @property
    def runnable(self) -> bool:
        """Can run here with some weights (real, or random for tests)."""
        return self.status in ("available", "needs-weights")

    @property
    def runs_somewhere(self) -> bool:
        """Runnable here, or once its isolated environment is built (``kodek env build``)."""
        return self.runnable or self.status == "needs-env"


@dataclass
class Registry:
    entries: dict[str, CodecEntry] = field(default_factory=dict)
    load_errors: list[str] = field(default_factory=list)
    # Family functions that register a parametrised id on first use (e.g. an SSL model's other layers).
    resolvers: list[Callable[[str], CodecEntry | None]] = field(default_factory=list)

    def add(self, entry: CodecEntry) -> None:
        if entry.spec.id in self.entries:
            other = self.entries[entry.spec.id].source
            raise ValueError(f"codec id {entry.spec.id!r} registered twice ({other}, {entry.source})")
        self.entries[entry.spec.id] = entry

    def get(self, codec_id: str) -> CodecEntry:
        if codec_id not in self.entries:
            for resolve in self.resolvers:
                if (entry := resolve(codec_id)) is not None:
                    self.add(entry)
                    break
        try:
            return self.entries[codec_id]
        except KeyError:
            close = difflib.get_close_matches(codec_id, list(self.entries), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownCodecError(
                f"unknown codec id {codec_id!r}{hint} (`kodek codecs list` shows them all)"
            ) from None

    def specs(self) -> list[CodecSpec]:
        return [entry.spec for entry in self.entries.values()]


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry: built-in families, then entry points."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = Registry()
        for name in BUILTIN_FAMILIES:
            module = importlib.import_module(name)
            for entry in module.ENTRIES:
                reg.add(entry)
            if hasattr(module, "resolve"):
                reg.resolvers.append(module.resolve)
        _load_entry_points(reg)
        _REGISTRY = reg
    return _REGISTRY


def builtin_entries() -> list[CodecEntry]:
    """kodek's own codecs only, never third-party entry points (for the leaderboard, which runs no submitted code)."""
    return [entry for name in BUILTIN_FAMILIES for entry in importlib.import_module(name).ENTRIES]


def reset_registry() -> None:
    """Forget the cached registry (after installing a plugin, in tests)."""
    global _REGISTRY
    _REGISTRY = None


def _load_entry_points(reg: Registry) -> None:
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = point.dist.name if point.dist else point.value
        try:
            loaded: Any = point.load()
            entries: Iterable[CodecEntry] = loaded() if callable(loaded) else loaded
            for entry in entries:
                reg.add(CodecEntry(entry.spec, entry.factory, entry.requires, source=dist, env=entry.env))
        except Exception as error:
            reg.load_errors.append(f"entry point {point.name} ({dist}): {error}")


def get_spec(codec_id: str) -> CodecSpec:
    return registry().get(codec_id).spec


def hf_cache_dir() -> Path:
    if "HF_HUB_CACHE" in os.environ:
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return home / "hub"


def weights_cached(repo: str, revision: str) -> bool:
    """Whether a snapshot of ``repo`` at ``revision`` is in the local Hub cache (no import, no network)."""
    folder = hf_cache_dir() / f"models--{repo.replace('/', '--')}"
    if (folder / "snapshots" / revision).is_dir():
        return True
    ref = folder / "refs" / revision
    return ref.is_file() and (folder / "snapshots" / ref.read_text().strip()).is_dir()


def resolved_revision(repo: str, revision: str) -> str:
    """The commit that ``revision`` of ``repo`` names: itself when it is a commit, else the commit the local Hub
    cache resolved the branch or tag to when the weights were downloaded (``refs/<revision>``), else ``revision``
    unchanged (the weights did not come through the Hub cache)."""
    if COMMIT.match(revision):
        return revision
    ref = hf_cache_dir() / f"models--{repo.replace('/', '--')}" / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else revision


def kmeans_available(codec_id: str) -> bool:
    """Whether KODEK_KMEANS names a place for this SSL codec's centroids (a Hub repo id is taken on trust)."""
    location = os.environ.get("KODEK_KMEANS")
    if not location:
        return False
    path = Path(location)
    if not path.is_dir():
        return "/" in location
    return (path / "kmeans" / codec_id / "centroids.npy").is_file() or (path / codec_id / "centroids.npy").is_file()


def missing_modules(entry: CodecEntry) -> list[str]:
    return [name for name in entry.requires if importlib.util.find_spec(name) is None]


def availability(entry: CodecEntry) -> Availability:
    spec = entry.spec
    if spec.unsupported:
        return Availability("unsupported", spec.unsupported)
    if entry.env:
        from kodek.envs import env_availability

        built, reason = env_availability(entry.env)
        if not built:
            return Availability("needs-env", reason, env=entry.env)
    missing = [] if entry.env else missing_modules(entry)
    if missing:
        extra = f" (pip install 'kodek[{spec.install_extra}]')" if spec.install_extra else ""
        return Availability("needs-extra", f"missing {', '.join(missing)}{extra}")
    if spec.kind == "ssl-kmeans" and not kmeans_available(spec.id):
        return Availability("needs-kmeans", "no fitted k-means quantiser (kodek kmeans fit, then --kmeans DIR)")
    ckpt = spec.checkpoint
    where = f"in environment {entry.env} (built)" if entry.env else ""
    if ckpt and ckpt.loader == "github":  # model files at a GitHub commit (Lyra v2), kept in kodek's cache
        from kodek.codecs.lyra import weights_availability

        return weights_availability()
    if ckpt and not weights_cached(ckpt.repo, ckpt.revision):
        return Availability(
            "needs-weights",
            f"weights {ckpt.repo}@{ckpt.revision[:12]} not in the local Hub cache "
            "(downloaded on first use where the Hub is reachable; --random-weights works offline)"
            + (f"; runs {where}" if where else ""),
            env=entry.env,
        )
    return Availability("available", f"runs {where}" if where else "", env=entry.env)


def build_codec(codec_id: str, *, random_weights: bool = False, seed: int = 0, device: str = "cpu") -> Codec:
    """Build a registered codec; real weights from the pinned checkpoint unless ``random_weights``."""
    entry = registry().get(codec_id)
    if entry.spec.unsupported:
        raise UnsupportedCodecError(f"{codec_id}: unsupported here: {entry.spec.unsupported}")
    missing = [] if entry.env else missing_modules(entry)
    if missing:
        extra = entry.spec.install_extra
        how = f"pip install 'kodek[{extra}]'" if extra else f"install {', '.join(missing)}"
        raise MissingExtraError(f"{codec_id} needs {', '.join(missing)}: {how}")
    module_name, _, attr = entry.factory.partition(":")
    factory: Callable[..., Codec] = getattr(importlib.import_module(module_name), attr)
    codec = factory(entry.spec, random_weights=random_weights, seed=seed)
    codec.seed = seed
    return codec.to(device) if device != "cpu" else codec
