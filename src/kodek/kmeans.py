"""Fitting, storing and finding the k-means quantisers of the SSL tokenizers.

An artefact is a folder ``kmeans/<codec_id>/`` with ``centroids.npy`` (``[K, D]``
float32) and ``kmeans.json`` (model id and revision, layer, K, the data it was
fitted on, hyper-parameters, library versions, seed, date, sha256 of the
centroids). It lives in a token dataset folder (and so is published with it) or
anywhere ``KODEK_KMEANS`` points: a folder, or a Hub dataset repo id.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs.base import CodecError
from kodek.codecs.registry import resolved_revision

ENV = "KODEK_KMEANS"
ARTEFACT_DIR = "kmeans"
INIT_FRAMES_PER_CLUSTER = 20  # frames gathered before the first k-means++ initialisation
BATCH_FRAMES = 10_000


def assign(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each ``[F, D]`` feature row (float64 distances: no ties from round-off)."""
    x = features.astype(np.float64)
    c = centroids.astype(np.float64)
    distances = (x**2).sum(1, keepdims=True) - 2 * x @ c.T + (c**2).sum(1)[None, :]
    return distances.argmin(axis=1)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def artefact_dir(root: Path, codec_id: str) -> Path:
    return Path(root) / ARTEFACT_DIR / codec_id


def find_centroids(codec_id: str, *, random_weights: bool, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Load the centroids of ``codec_id`` from ``KODEK_KMEANS``; check they fit this build of the model."""
    location = os.environ.get(ENV)
    if not location:
        raise CodecError(
            f"{codec_id}: no fitted k-means quantiser. Fit one (`kodek kmeans fit --codec {codec_id} --data bigos "
            f"--split train --out DIR`), then pass --kmeans DIR (or set {ENV}=DIR or to a Hub dataset repo holding "
            f"{ARTEFACT_DIR}/{codec_id}/)"
        )
    folder = _locate(location, codec_id)
    meta = json.loads((folder / "kmeans.json").read_text(encoding="utf-8"))
    if bool(meta.get("random_weights")) != random_weights or (random_weights and meta.get("seed") != seed):
        made = "random weights, seed {}".format(meta.get("seed")) if meta.get("random_weights") else "real weights"
        raise CodecError(f"{codec_id}: the k-means in {folder} was fitted on features of {made}, not of this model")
    centroids = np.load(folder / "centroids.npy")
    digest = sha256(folder / "centroids.npy")
    if meta.get("sha256") and meta["sha256"] != digest:
        raise CodecError(f"{codec_id}: {folder}/centroids.npy does not match the sha256 in its kmeans.json")
    return centroids, {"location": location, "path": f"{ARTEFACT_DIR}/{codec_id}", "sha256": digest, "fit": meta}


def _locate(location: str, codec_id: str) -> Path:
    path = Path(location)
    if path.is_dir():
        for folder in (artefact_dir(path, codec_id), path / codec_id):
            if (folder / "centroids.npy").is_file():
                return folder
        raise CodecError(f"{codec_id}: no {ARTEFACT_DIR}/{codec_id}/centroids.npy under {path}")
    from huggingface_hub import hf_hub_download

    files = [
        hf_hub_download(location, f"{ARTEFACT_DIR}/{codec_id}/{name}", repo_type="dataset")
        for name in ("centroids.npy", "kmeans.json")
    ]
    return Path(files[0]).parent


def copy_artefact(artefact: dict[str, Any], codec_id: str, out: Path) -> None:
    """Keep a copy of the centroids beside the tokens, so that publishing the folder publishes them."""
    target = artefact_dir(out, codec_id)
    if (target / "centroids.npy").is_file() and sha256(target / "centroids.npy") == artefact["sha256"]:
        return
    source = _locate(artefact["location"], codec_id)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("centroids.npy", "kmeans.json"):
        shutil.copyfile(source / name, target / name)


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
        row = source.dataset[index]
        ref = row["audio"]
        try:
            wave, _ = audio.load_audio(ref["bytes"] if ref.get("bytes") else ref["path"], 16_000, name=row["audioname"])
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
    folder = artefact_dir(out, codec_id)
    folder.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    np.save(raw, centroids)
    (folder / "centroids.npy").write_bytes(raw.getvalue())
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
        "sha256": hashlib.sha256(raw.getvalue()).hexdigest(),
        "software": versions(("scikit-learn",)),
        "date": now(),
    }
    (folder / "kmeans.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
