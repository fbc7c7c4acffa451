"""Fitting the k-means quantisers of the SSL tokenizers on training audio.

The centroids are stored, found and applied by :mod:`kodek.codecs.centroids`; this module
only fits them (it needs the data sources and the SSL features, a later stage than the codecs).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from kodek.codecs import centroids as store
from kodek.codecs.base import CodecError
from kodek.codecs.registry import resolved_revision

INIT_FRAMES_PER_CLUSTER = 20  # frames gathered before the first k-means++ initialisation
BATCH_FRAMES = 10_000


def fit(
    codec_id: str,
    data: str,
    split: str,
    out: Path,
    *,
    max_hours: float | None = None,
    random_weights: bool = False,
    seed: int = 0,
    device: str = "cpu",
    token: str | bool | None = None,
    progress: bool = True,
    network=None,
) -> Path:
    """Fit the k-means of ``codec_id`` (an SSL codec id) on ``data``/``split``; return the artefact folder.

    ``network`` replaces the SSL model otherwise built from the spec (a smaller one, in tests).
    """
    from sklearn.cluster import MiniBatchKMeans
    from tqdm.auto import tqdm

    from kodek import audio
    from kodek.codecs.registry import get_spec
    from kodek.codecs.ssl import MODELS, SslFeatures, build_model
    from kodek.data.audiofile import load_utterance
    from kodek.data.source import load_source
    from kodek.provenance import now, versions

    spec = get_spec(codec_id)
    if spec.kind != "ssl-kmeans":
        raise CodecError(f"{codec_id} is not an SSL k-means tokenizer")
    model = MODELS[spec.options["model"]]
    k = int(spec.options["k"])
    source = load_source(data, split, token=token)
    order = list(range(len(source.dataset)))
    random.Random(seed).shuffle(order)  # a random subset when --max-hours cuts, not the first subsets
    if network is None:
        network = build_model(model, random_weights=random_weights, seed=seed).to(device)
    features = SslFeatures(model, network, device, layer=int(spec.options["layer"]))
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=BATCH_FRAMES, n_init=3, max_iter=100)
    buffer: list[np.ndarray] = []
    frames = utterances = 0
    seconds = 0.0
    first_fit = max(INIT_FRAMES_PER_CLUSTER * k, BATCH_FRAMES)
    fitted = False
    for index in tqdm(order, desc=f"k-means {codec_id}", unit="utt", disable=not progress):
        if max_hours is not None and seconds >= max_hours * 3600:
            break
        try:
            wave, _ = load_utterance(source.dataset[index], 16_000)
        except (audio.AudioError, OSError):
            continue  # an unreadable item is skipped here as in tokenize
        feats = features(wave[None, :], np.array([len(wave)]))[0]
        buffer.append(feats)
        frames += len(feats)
        utterances += 1
        seconds += len(wave) / 16_000
        if sum(len(b) for b in buffer) >= (BATCH_FRAMES if fitted else first_fit):
            kmeans.partial_fit(np.concatenate(buffer))
            buffer, fitted = [], True
    if buffer:
        stacked = np.concatenate(buffer)
        if not fitted and len(stacked) < k:
            raise CodecError(f"{codec_id}: {len(stacked)} frames are too few for K={k} clusters")
        kmeans.partial_fit(stacked)
    centroids = kmeans.cluster_centers_.astype(np.float32)
    meta = {
        "codec_id": codec_id,
        "model": model.checkpoint.repo,
        "model_revision": None
        if random_weights
        else resolved_revision(model.checkpoint.repo, model.checkpoint.revision),
        "random_weights": random_weights,
        "seed": seed,
        "layer": int(spec.options["layer"]),
        "k": k,
        "data": {**source.info(), "utterances": utterances, "hours": round(seconds / 3600, 4), "frames": frames},
        "algorithm": {
            "name": "sklearn MiniBatchKMeans",
            "batch_size": BATCH_FRAMES,
            "n_init": 3,
            "max_iter": 100,
            "init": "k-means++",
            "init_frames": min(first_fit, frames),
        },
        "software": versions(("scikit-learn",)),
        "date": now(),
    }
    return store.save(out, codec_id, centroids, meta)
