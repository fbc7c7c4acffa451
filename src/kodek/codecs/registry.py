"""The codec registry: static specs, lazy factories, all registered through entry points.

Every codec family, kodek's own included, registers through the entry-point group
``kodek.codecs`` (``[project.entry-points."kodek.codecs"]`` in pyproject.toml): the entry
point resolves to a family module exposing ``ENTRIES`` (and optionally ``resolve``, for ids
made on first use), to an iterable of :class:`CodecEntry`, or to a callable returning one.
Family modules are light to import (no torch at module level). Adding a family is one
module plus one entry-point line; the entry points are read from the install metadata, so
after adding one, reinstall kodek (``pip install -e .``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kodek.codecs.base import (
    Codec,
    CodecError,
    CodecSettings,
    MissingExtraError,
    UnknownCodecError,
    UnsupportedCodecError,
)
from kodek.codecs.spec import CodecSpec

ENTRY_POINT_GROUP = "kodek.codecs"
DISTRIBUTION = "kodek"
COMMIT = re.compile(r"^[0-9a-f]{40}$")

Factory = Callable[[CodecSpec, CodecSettings], Codec]


@dataclass(frozen=True)
class CodecEntry:
    """A registered codec: its spec and how to build it.

    ``factory`` takes ``(spec, settings: CodecSettings)``; a third-party package may give it as
    ``"module:callable"`` (imported only when the codec is built). ``requires`` lists importable
    module names the factory needs. ``env`` names the isolated environment (``kodek.envs``) the codec
    runs in, if it does not run in kodek's own.
    """

    spec: CodecSpec
    factory: Factory | str
    requires: tuple[str, ...] = ()
    source: str = DISTRIBUTION  # "kodek" or the distribution that registered it
    env: str | None = None

    @property
    def factory_name(self) -> str:
        if isinstance(self.factory, str):
            return self.factory
        owner = getattr(self.factory, "__self__", None)  # a family class's ``build``
        if isinstance(owner, type):
            return f"{owner.__module__}:{owner.__qualname__}.{self.factory.__name__}"
        return f"{self.factory.__module__}:{self.factory.__qualname__}"


@dataclass(frozen=True)
class Availability:
    status: str  # available | needs-weights | needs-kmeans | needs-extra | needs-env | unsupported
    reason: str = ""
    env: str | None = None  # the isolated environment the codec runs in, if any

    @property
    def runs_somewhere(self) -> bool:
        """Runnable here, or once its isolated environment is built (``kodek env build``)."""
        return self.status in ("available", "needs-weights", "needs-env")


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


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry: every entry point of the ``kodek.codecs`` group, kodek's own first."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = Registry()
        # kodek's own first, then plugins by distribution, each by entry-point name (installers sort them so)
        points = sorted(_entry_points(), key=lambda p: (_dist(p) != DISTRIBUTION, _dist(p), p.name))
        for point in points:
            try:
                _register(reg, point.load(), _dist(point))
            except Exception as error:
                if _dist(point) == DISTRIBUTION:
                    raise  # a broken built-in family is a bug, never a silent gap
                reg.load_errors.append(f"entry point {point.name} ({_dist(point)}): {error}")
        _REGISTRY = reg
    return _REGISTRY


def builtin_entries() -> list[CodecEntry]:
    """kodek's own codecs only, never third-party entry points (for the leaderboard, which runs no submitted code)."""
    reg = Registry()
    for point in _entry_points():
        if _dist(point) == DISTRIBUTION:
            _register(reg, point.load(), DISTRIBUTION)
    return list(reg.entries.values())


def reset_registry() -> None:
    """Forget the cached registry (after installing a plugin, in tests)."""
    global _REGISTRY
    _REGISTRY = None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if not any(_dist(p) == DISTRIBUTION for p in points):
        raise CodecError(
            "kodek's own codecs are not registered: its install metadata has no `kodek.codecs` entry points "
            "(installed from an older checkout?). Reinstall kodek: `pip install -e .` in the checkout."
        )
    return points


def _dist(point: importlib.metadata.EntryPoint) -> str:
    return point.dist.name if point.dist else point.value


def _register(reg: Registry, loaded: Any, source: str) -> None:
    """Add what an entry point resolved to: a family module (``ENTRIES``, optional ``resolve``), an iterable
    of entries, or a callable returning one."""
    if isinstance(loaded, ModuleType):
        entries: Iterable[CodecEntry] = loaded.ENTRIES
        if hasattr(loaded, "resolve"):
            reg.resolvers.append(loaded.resolve)
    else:
        entries = loaded() if callable(loaded) else loaded
    for entry in entries:
        reg.add(dataclasses.replace(entry, source=source))


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


def missing_modules(entry: CodecEntry) -> list[str]:
    return [name for name in entry.requires if importlib.util.find_spec(name) is None]


def availability(entry: CodecEntry, kmeans: str | None = None) -> Availability:
    """Whether ``entry`` runs here; ``kmeans`` is where SSL centroids are (default: ``KODEK_KMEANS``)."""
    from kodek.codecs import centroids

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
    if spec.kind == "ssl-kmeans" and not centroids.available(spec.id, kmeans):
        return Availability("needs-kmeans", "no fitted k-means quantiser (kodek kmeans fit, then --kmeans DIR)")
    ckpt = spec.checkpoint
    where = f"in environment {entry.env} (built)" if entry.env else ""
    if ckpt and ckpt.loader == "github":  # model files at a GitHub commit (Lyra v2), kept in kodek's cache
        from kodek.codecs.lyra import weights_availability

        return weights_availability()
    if ckpt and not weights_cached(ckpt.repo, ckpt.revision):
        random = (
            f"--random-weights needs {ckpt.random_weights_need}"
            if ckpt.random_weights_need
            else ("--random-weights works offline")
        )
        return Availability(
            "needs-weights",
            f"weights {ckpt.repo}@{ckpt.revision[:12]} not in the local Hub cache "
            f"(downloaded on first use where the Hub is reachable; {random})" + (f"; runs {where}" if where else ""),
            env=entry.env,
        )
    return Availability("available", f"runs {where}" if where else "", env=entry.env)


def build_codec(codec_id: str, settings: CodecSettings | None = None, **fields: Any) -> Codec:
    """Build a registered codec with ``settings`` (keyword arguments replace its fields, e.g.
    ``random_weights=True``); real weights from the pinned checkpoint unless ``random_weights``."""
    settings = dataclasses.replace(settings or CodecSettings(), **fields)
    entry = registry().get(codec_id)
    if entry.spec.unsupported:
        raise UnsupportedCodecError(f"{codec_id}: unsupported here: {entry.spec.unsupported}")
    missing = [] if entry.env else missing_modules(entry)
    if missing:
        extra = entry.spec.install_extra
        how = f"pip install 'kodek[{extra}]'" if extra else f"install {', '.join(missing)}"
        raise MissingExtraError(f"{codec_id} needs {', '.join(missing)}: {how}")
    factory = entry.factory
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    if "random_weights" in inspect.signature(factory).parameters:
        # The keyword factory of plugins written before CodecSettings: (spec, *, random_weights, seed).
        codec = factory(entry.spec, random_weights=settings.random_weights, seed=settings.seed)
        return codec.to(settings.device) if settings.device != "cpu" else codec
    return factory(entry.spec, settings)
