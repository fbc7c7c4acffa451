"""The token dataset layout shared by the writer, the scorer and the publisher.

```
README.md                         dataset card: YAML `configs:` for every codec id present
data/<codec_id>/<split>-NNNNN-of-MMMMM.parquet
data/<codec_id>/codec.json        CodecSpec + versions + checkpoint revision + source
```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

WORK_DIR = ".kodek-work"  # resumable partial output, never published
COLUMNS = ("audioname", "dataset", "split", "ref_orig", "duration_s", "num_frames", "codes")


def codec_dir(root: Path, codec_id: str) -> Path:
    return root / "data" / codec_id


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}"


def shard_path(root: Path, codec_id: str, split: str, index: int, count: int) -> Path:
    return codec_dir(root, codec_id) / f"{shard_name(split, index, count)}.parquet"


def split_files(root: Path, codec_id: str, split: str) -> list[Path]:
    return sorted(codec_dir(root, codec_id).glob(f"{split}-*-of-*.parquet"))


def shard_counts(files: Sequence[Path]) -> set[int]:
    """The shard schemes (N of ``-of-N``) that shard files belong to."""
    return {int(p.stem.rsplit("-of-", 1)[1]) for p in files}


def complete_shards(root: Path, codec_id: str, split: str, meta: dict[str, Any]) -> list[Path] | str:
    """The shard files of a split when every shard of its one scheme is finished, else why not (one line)."""
    files = split_files(root, codec_id, split)
    counts = shard_counts(files)
    if len(counts) > 1:
        return f"{split} holds shards of {len(counts)} schemes ({', '.join(f'of {n}' for n in sorted(counts))})"
    recorded = meta.get("splits", {}).get(split)
    count = (recorded or {}).get("shard_count") or (counts.pop() if counts else 0)
    # kodek records every shard it finishes; a folder made otherwise is judged by its files alone
    done = recorded.get("shards", {}) if recorded is not None else None
    missing = [
        shard_name(split, i, count)
        for i in range(count)
        if (done is not None and shard_name(split, i, count) not in done)
        or not shard_path(root, codec_id, split, i, count).is_file()
    ]
    if not count or missing:
        return (
            f"{split} is incomplete: {count - len(missing)} of {count} shards finished (missing {', '.join(missing)})"
        )
    return [shard_path(root, codec_id, split, i, count) for i in range(count)]


def present_splits(root: Path, codec_id: str) -> list[str]:
    """Splits with at least one finished shard, in BIGOS order."""
    names = {p.name.rsplit("-", 3)[0] for p in codec_dir(root, codec_id).glob("*-of-*.parquet")}
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(names, key=lambda s: (order.get(s, 3), s))


def present_codecs(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "data").glob("*/codec.json") if present_splits(root, p.parent.name))


def schema(code_dtype: str) -> pa.Schema:
    """Arrow schema with the `datasets` features embedded, so readers keep the unsigned type."""
    import datasets

    features = datasets.Features(
        {
            "audioname": datasets.Value("string"),
            "dataset": datasets.Value("string"),
            "split": datasets.Value("string"),
            "ref_orig": datasets.Value("string"),
            "duration_s": datasets.Value("float64"),
            "num_frames": datasets.Value("int32"),
            "codes": datasets.List(datasets.List(datasets.Value(code_dtype))),
        }
    )
    return features.arrow_schema


def codes_to_arrow(codes: Sequence[np.ndarray], dtype: str) -> pa.Array:
    """``[K, F]`` arrays -> list<list<dtype>> without a Python loop over values."""
    values = np.concatenate([c.reshape(-1) for c in codes]).astype(dtype) if codes else np.zeros(0, dtype)
    inner_sizes = np.concatenate([np.full(c.shape[0], c.shape[1]) for c in codes]) if codes else np.zeros(0)
    inner = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(inner_sizes)]).astype(np.int32)), pa.array(values)
    )
    outer_offsets = np.concatenate([[0], np.cumsum([c.shape[0] for c in codes])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(outer_offsets), inner)


def arrow_to_codes(column: pa.ChunkedArray | pa.Array) -> list[np.ndarray]:
    """list<list<int>> -> one ``[K, F]`` int64 array per row."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    out = []
    outer = column.offsets.to_numpy()
    inner = column.values.offsets.to_numpy()
    values = column.values.values.to_numpy().astype(np.int64)
    for row in range(len(column)):
        rows = inner[outer[row] : outer[row + 1] + 1]
        k, f = len(rows) - 1, (rows[1] - rows[0]) if len(rows) > 1 else 0
        out.append(values[rows[0] : rows[-1]].reshape(k, f))
    return out
