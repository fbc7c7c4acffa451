"""The k-means centroids of the SSL tokenizers: the one module that stores, finds and applies them.

An artefact is a folder ``kmeans/<codec_id>/`` with ``centroids.npy`` (``[K, D]`` float32) and
``kmeans.json`` (model id and revision, layer, K, the data it was fitted on, hyper-parameters,
library versions, seed, date, sha256 of the centroids). It lives in a token dataset folder (and
so is published with it) or wherever the codec settings' ``kmeans`` point: a folder, or a Hub
dataset repo id. Without that setting, the ``KODEK_KMEANS`` environment variable is read when
the user has set it. Fitting them is :mod:`kodek.kmeans`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs.base import CodecError

ENV = "KODEK_KMEANS"
ARTEFACT_DIR = "kmeans"


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


def location(kmeans: str | None) -> str | None:
    """Where centroids are looked for: the explicit setting, else ``KODEK_KMEANS`` if the user set it."""
    return kmeans or os.environ.get(ENV) or None


def available(codec_id: str, kmeans: str | None = None) -> bool:
    """Whether ``kmeans`` (or ``KODEK_KMEANS``) names a place for this codec's centroids (a Hub repo id is
    taken on trust: checking it would need the network)."""
    where = location(kmeans)
    if not where:
        return False
    path = Path(where)
    if not path.is_dir():
        return "/" in where
    return (artefact_dir(path, codec_id) / "centroids.npy").is_file() or (path / codec_id / "centroids.npy").is_file()


def find_centroids(
    codec_id: str, kmeans: str | None = None, *, random_weights: bool, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load the centroids of ``codec_id`` from ``kmeans`` (or ``KODEK_KMEANS``); check they fit this build."""
    where = location(kmeans)
    if not where:
        raise CodecError(
            f"{codec_id}: no fitted k-means quantiser. Fit one (`kodek kmeans fit --codec {codec_id} --data bigos "
            f"--split train --out DIR`), then pass --kmeans DIR (a folder or a Hub dataset repo holding "
            f"{ARTEFACT_DIR}/{codec_id}/)"
        )
    folder = _locate(where, codec_id)
    meta = json.loads((folder / "kmeans.json").read_text(encoding="utf-8"))
    if bool(meta.get("random_weights")) != random_weights or (random_weights and meta.get("seed") != seed):
        made = "random weights, seed {}".format(meta.get("seed")) if meta.get("random_weights") else "real weights"
        raise CodecError(f"{codec_id}: the k-means in {folder} was fitted on features of {made}, not of this model")
    centroids = np.load(folder / "centroids.npy")
    digest = sha256(folder / "centroids.npy")
    if meta.get("sha256") and meta["sha256"] != digest:
        raise CodecError(f"{codec_id}: {folder}/centroids.npy does not match the sha256 in its kmeans.json")
    return centroids, {"location": where, "path": f"{ARTEFACT_DIR}/{codec_id}", "sha256": digest, "fit": meta}


def _locate(where: str, codec_id: str) -> Path:
    path = Path(where)
    if path.is_dir():
        for folder in (artefact_dir(path, codec_id), path / codec_id):
            if (folder / "centroids.npy").is_file():
                return folder
        raise CodecError(f"{codec_id}: no {ARTEFACT_DIR}/{codec_id}/centroids.npy under {path}")
    from huggingface_hub import hf_hub_download

    files = [
        hf_hub_download(where, f"{ARTEFACT_DIR}/{codec_id}/{name}", repo_type="dataset")
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


def save(out: Path, codec_id: str, centroids: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write ``out/kmeans/<codec_id>/`` (centroids + their facts, with the centroids' sha256); return the folder."""
    folder = artefact_dir(out, codec_id)
    folder.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    np.save(raw, centroids.astype(np.float32))
    (folder / "centroids.npy").write_bytes(raw.getvalue())
    meta = {**meta, "sha256": hashlib.sha256(raw.getvalue()).hexdigest()}
    (folder / "kmeans.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
