"""Utterances of a token dataset as SpeechLLM examples, and their batching.

An utterance without a transcript (withheld references) or longer than the run
allows (in seconds of audio, so the same utterances for every codec) cannot be
scored: it is listed with the reason and counted, never given a made-up value.

Only the codes are held in memory. Continuous inputs (k-means centroids, SSL layer
features) are computed per batch from them (``Split.inputs``): centroids are a
lookup in the small centroid table, SSL features are recomputed from the audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kodek.batching import length_batches
from kodek.errors import KodekError
from kodek.tokenize.reader import TokenSet


class LMDataError(KodekError, ValueError):
    """A split kodek cannot train or evaluate on."""


@dataclass
class Utterance:
    audioname: str
    subset: str
    text: str
    duration_s: float
    frames: int
    inputs: np.ndarray  # codes [K, F] (int64); continuous features come from Split.inputs, per batch
    answer_ids: list[int] = field(default_factory=list)  # transcript tokens + end-of-turn token

    @property
    def chars(self) -> int:
        return len(self.text)


@dataclass
class Split:
    name: str
    utterances: list[Utterance]
    failures: list[dict[str, str]]
    features: Callable[[Utterance], np.ndarray] | None = None  # None: the adapter reads the codes

    @property
    def hours(self) -> float:
        return sum(u.duration_s for u in self.utterances) / 3600

    def inputs(self, utterances: list[Utterance]) -> list[np.ndarray]:
        """The adapter's inputs of a batch: codes ``[K, F]``, or features ``[F, D]`` computed now."""
        if self.features is None:
            return [u.inputs for u in utterances]
        return [self.features(u) for u in utterances]


def load_split(
    tokens: TokenSet,
    split: str,
    *,
    limit: int | None = None,
    max_seconds: float | None = None,
    features: str = "codes",
    feature_source: Any = None,
) -> Split:
    """The utterances of ``split``; ``features`` picks the adapter's input (codes, centroids, ssl-features).

    Failures: the token dataset's own (utterances of the source without codes, ``failures`` of codec.json),
    then utterances without a transcript, without frames, or longer than ``max_seconds``.
    """
    table, codes = tokens.codes(split)
    rows = table.to_pylist()
    if limit is not None:
        rows, codes = rows[:limit], codes[:limit]
    failures = source_failures(tokens, split) if limit is None else []
    utterances = []
    for row, item in zip(rows, codes, strict=True):
        name = row["audioname"]
        text = (row.get("ref_orig") or "").strip()
        if not text:
            failures.append({"audioname": name, "reason": "no reference transcript (withheld or empty)"})
            continue
        if item.shape[1] == 0:
            failures.append({"audioname": name, "reason": "no codec frames"})
            continue
        if max_seconds is not None and float(row["duration_s"]) > max_seconds:
            failures.append({"audioname": name, "reason": f"longer than training.max_seconds={max_seconds:g}"})
            continue
        utterances.append(Utterance(name, row["dataset"], text, float(row["duration_s"]), item.shape[1], item))
    return Split(split, utterances, failures, feature_function(tokens, features, feature_source))


def source_failures(tokens: TokenSet, split: str) -> list[dict[str, str]]:
    """Utterances of the source split that the token dataset holds no codes for (codec.json ``failures``).

    An item without a ``split`` is attributed to ``split`` only when the token dataset holds that split alone.
    """
    out = []
    only = list(tokens.splits) == [split]
    for failure in tokens.meta.get("failures") or []:
        if failure.get("split") != split and not (only and "split" not in failure):
            continue
        stage = failure.get("stage", "tokenize")
        out.append({"audioname": str(failure.get("audioname")), "reason": f"{stage}: {failure.get('reason', '')}"})
    return out


def feature_function(tokens: TokenSet, features: str, feature_source: Any) -> Callable[[Utterance], np.ndarray] | None:
    """How an utterance's continuous inputs are made when a batch needs them (None: the codes themselves)."""
    if features == "centroids":
        centroids = load_centroids(tokens)
        return lambda utterance: centroids[utterance.inputs[0]]
    if features == "ssl-features":
        return lambda utterance: feature_source(utterance.audioname, utterance.frames)
    return None


def load_centroids(tokens: TokenSet) -> np.ndarray:
    """The k-means centroids an SSL token dataset keeps beside its tokens (``kmeans/<codec_id>/``)."""
    from kodek.codecs.centroids import artefact_dir, sha256

    if tokens.spec.kind != "ssl-kmeans":
        raise LMDataError(
            f"adapter.input centroids needs an SSL k-means codec, not {tokens.codec_id} ({tokens.spec.kind})"
        )
    path = artefact_dir(tokens.root, tokens.codec_id) / "centroids.npy"
    if not path.is_file():
        raise LMDataError(f"{tokens.location}: no {path.relative_to(tokens.root)} beside the tokens")
    expected = (tokens.meta.get("kmeans") or {}).get("sha256")
    if expected and sha256(path) != expected:
        raise LMDataError(f"{path}: not the centroids these tokens were made with (sha256 differs from codec.json)")
    return np.load(path).astype(np.float32)


def feature_dim(split: Split) -> int | None:
    if split.features is None or not split.utterances:
        return None
    return int(split.inputs(split.utterances[:1])[0].shape[1])


def attach_answers(split: Split, layout, tokenizer) -> None:
    for utterance in split.utterances:
        utterance.answer_ids = layout.answer_ids(tokenizer, utterance.text)


def batches(
    utterances: list[Utterance], batch_size: int, *, seed: int | None = None, epoch: int = 0
) -> list[list[int]]:
    """Length-bucketed batches of indices (similar lengths together: little padding).

    With ``seed``, the batch order (and the order within equal lengths) is a function of (seed, epoch)
    alone, so that a resumed run sees exactly the batches an uninterrupted one would have.
    """
    order = None if seed is None else np.random.default_rng([seed, epoch]).permutation(len(utterances)).tolist()
    lengths = [u.frames + 8 * len(u.answer_ids) for u in utterances]
    groups = length_batches(lengths, batch_size, order=order)
    if seed is not None:
        shuffle = np.random.default_rng([seed, epoch, 1]).permutation(len(groups))
        groups = [groups[i] for i in shuffle]
    return groups


def ssl_feature_source(tokens: TokenSet, *, device: str = "cpu", token: str | bool | None = None, network=None):
    """``(audioname, frames) -> [F, D]`` layer features of the SSL model behind an SSL k-means token set,
    computed from the source audio the tokens were made from (the continuous-input ablation)."""
    from kodek.codecs.ssl import MODELS, SslFeatures, build_model
    from kodek.data.audiofile import load_utterance
    from kodek.data.source import load_source

    spec = tokens.spec
    if spec.kind != "ssl-kmeans":
        raise LMDataError(f"adapter.input ssl-features needs an SSL k-means codec, not {spec.id} ({spec.kind})")
    model = MODELS[spec.options["model"]]
    random_weights = bool(tokens.meta.get("random_weights"))
    if network is None:
        network = build_model(model, random_weights=random_weights, seed=int(tokens.meta.get("seed", 0)))
    extract = SslFeatures(model, network.to(device), device, layer=int(spec.options["layer"]))
    origin = tokens.meta.get("source", {})
    data = origin.get("name", "sample") + (f":{origin['config']}" if origin.get("config") else "")
    sources: dict[str, Any] = {}

    def lookup(audioname: str) -> dict[str, Any]:
        if not sources:
            for split in tokens.splits:
                dataset = load_source(data, split, token=token, revision=origin.get("revision") or "main").dataset
                for index, name in enumerate(dataset["audioname"]):
                    sources[name] = (dataset, index)
        dataset, index = sources[audioname]
        return dataset[index]

    def features(audioname: str, frames: int) -> np.ndarray:
        wave, _ = load_utterance(lookup(audioname), 16_000)
        out = extract(wave[None, :], np.array([len(wave)]))[0]
        if len(out) < frames:  # the tokens are the reference length: pad with the last frame
            out = np.concatenate([out, np.repeat(out[-1:], frames - len(out), axis=0)])
        return out[:frames].astype(np.float32)

    return features
