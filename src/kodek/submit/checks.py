"""An author's local checks of a registered codec: the facts its spec states, a round trip on the bundled sample,
and batched encoding equal to one by one. ``kodek submit`` runs them before writing a request, ``kodek run-request``
again on the installed package."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from kodek import audio
from kodek.errors import KodekError
from kodek.submit import SubmitError

PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_SPLIT = "test"


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        return f"[{'ok' if self.passed else 'FAILED'}] {self.name}" + (f": {self.detail}" if self.detail else "")


def check_spec(entry) -> Check:
    """Facts a spec must state for its results to be comparable and reproducible."""
    spec = entry.spec
    problems = []
    if entry.source == "kodek":
        problems.append("built into kodek (nothing to submit)")
    if spec.unsupported:
        problems.append(f"marked unsupported: {spec.unsupported}")
    if not spec.license:
        problems.append("no licence")
    if spec.bitrate_bps <= 0 or spec.frame_rate <= 0:
        problems.append("bitrate and frame rate must be positive")
    if spec.checkpoint is not None and not PINNED_REVISION.match(spec.checkpoint.revision):
        problems.append(f"checkpoint revision {spec.checkpoint.revision!r} is not a pinned 40-hex commit")
    detail = "; ".join(problems) or (
        f"{spec.kind}, {spec.sample_rate} Hz, {spec.frame_rate:g} frames/s, "
        f"{spec.num_codebooks} codebooks, {spec.bitrate_bps / 1000:g} kbps"
    )
    return Check("spec facts", not problems, detail)


def _sample_waves(sample_rate: int, limit: int | None) -> list[np.ndarray]:
    from kodek.data.audiofile import load_utterance
    from kodek.data.source import load_source

    rows = load_source("sample", DEFAULT_SPLIT).dataset
    count = len(rows) if limit is None else min(limit, len(rows))
    return [load_utterance(rows[i], sample_rate)[0] for i in range(count)]


def check_round_trip(codec, waves: list[np.ndarray]) -> tuple[Check, Any, Any]:
    """Encode the sample in one padded batch: codes in range, frame counts and rate as declared; decode back."""
    from kodek.codecs.base import check_codes

    spec = codec.spec
    batch, lengths = audio.pad_batch(waves, codec.pad_multiple)
    codes, frames = codec.encode(batch, lengths)
    check_codes(codes, spec)
    hop = spec.sample_rate / spec.frame_rate
    for n, f in zip(lengths, frames, strict=True):
        expected = n / hop
        if abs(f - expected) > 2 + 0.01 * expected:
            raise SubmitError(f"{int(n)} samples gave {int(f)} frames; the spec's frame rate says about {expected:.0f}")
    measured = float(frames.sum() / (lengths.sum() / spec.sample_rate))
    detail = f"{len(waves)} utterances, {measured:.2f} frames/s measured"
    if spec.has_decoder:
        out, out_lengths = codec.decode(codes, frames)
        if not np.isfinite(out).all():
            raise SubmitError("the decoded audio has NaN or inf samples")
        for n, m in zip(lengths, out_lengths, strict=True):
            if abs(int(m) - int(n)) > max(2 * hop, 0.05 * n):
                raise SubmitError(f"{int(n)} samples decoded to {int(m)}")
        detail += ", decoded lengths match"
    else:
        detail += " (no decoder: encode only)"
    return Check("round trip on the bundled sample", True, detail), codes, frames


def check_batched(codec, waves: list[np.ndarray], codes: np.ndarray, frames: np.ndarray) -> Check:
    """Every utterance encoded alone gives the codes it got inside the padded batch."""
    name = "batched == one-by-one"
    if not codec.batch_invariant:
        return Check(name, True, "the codec declares batch_invariant=False: kodek encodes it one utterance at a time")
    equal = total = 0
    for k, wave in enumerate(waves):
        single, f = codec.encode(*audio.pad_batch([wave], codec.pad_multiple))
        a, b = single[0, :, : f[0]], codes[k, :, : frames[k]]
        if a.shape != b.shape:
            return Check(name, False, f"utterance {k}: {a.shape[1]} frames alone, {b.shape[1]} in the batch")
        equal += int((a == b).sum())
        total += a.size
    share = equal / total if total else 1.0
    return Check(name, share == 1.0, f"{share:.4%} of codes equal")


def local_checks(codec_id: str, *, random_weights: bool = False, seed: int = 0, limit: int | None = None):
    """Run every check on a registered codec; returns (registry entry, checks)."""
    from kodek.codecs import build_codec
    from kodek.codecs.registry import registry

    entry = registry().get(codec_id)
    checks = [check_spec(entry)]
    if not checks[0].passed:
        return entry, checks
    try:
        codec = build_codec(codec_id, random_weights=random_weights, seed=seed)
    except KodekError as error:
        return entry, [*checks, Check("build", False, str(error))]
    checks.append(
        Check("build", True, f"{codec.num_parameters():,} parameters" + (" (random weights)" * random_weights))
    )
    waves = _sample_waves(codec.spec.sample_rate, limit)
    try:
        check, codes, frames = check_round_trip(codec, waves)
    except (KodekError, ValueError) as error:
        return entry, [*checks, Check("round trip on the bundled sample", False, str(error))]
    checks += [check, check_batched(codec, waves, codes, frames)]
    return entry, checks


def declared_entry_points(distribution: str) -> tuple[str, str, list[str]]:
    """(name, version, ['name = module:attr', ...]) of an installed distribution's codec entry points, read from
    its own metadata."""
    import importlib.metadata

    from kodek.codecs.registry import ENTRY_POINT_GROUP

    dist = importlib.metadata.distribution(distribution)
    points = [f"{p.name} = {p.value}" for p in dist.entry_points if p.group == ENTRY_POINT_GROUP]
    return dist.metadata["Name"], dist.version, points
