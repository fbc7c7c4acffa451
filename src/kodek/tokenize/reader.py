"""Read a token dataset back: a local folder in Hub layout, or a Hub dataset repo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kodek import files
from kodek.codecs.spec import CodecSpec
from kodek.errors import KodekError
from kodek.tokenize import layout


class TokensError(KodekError, FileNotFoundError):
    """No tokens of that codec (or split) where they were looked for."""


@dataclass
class TokenSet:
    root: Path
    codec_id: str
    meta: dict[str, Any]  # codec.json
    location: str  # what the user named: a folder or a repo id

    @property
    def spec(self) -> CodecSpec:
        return CodecSpec.from_dict(self.meta["codec"])

    @property
    def splits(self) -> list[str]:
        return layout.present_splits(self.root, self.codec_id)

    def table(self, split: str) -> pa.Table:
        if not layout.split_files(self.root, self.codec_id, split):
            raise TokensError(f"{self.location}: no {split} split for {self.codec_id} (has: {self.splits})")
        files = layout.complete_shards(self.root, self.codec_id, split, self.meta)
        if isinstance(files, str):  # an unfinished shard set is never read as the whole split
            raise TokensError(f"{self.location}: {self.codec_id} {files}; finish the shards with kodek tokenize")
        return pa.concat_tables([pq.read_table(f) for f in files])

    def codes(self, split: str) -> tuple[pa.Table, list[np.ndarray]]:
        table = self.table(split)
        return table.drop(["codes"]), layout.arrow_to_codes(table["codes"])


def open_tokens(
    tokens: str | Path, codec_id: str, *, revision: str | None = None, token: str | bool | None = None
) -> TokenSet:
    """A local folder if ``tokens`` is one, else a Hub dataset repo id (only this codec is downloaded)."""
    path = Path(tokens)
    if path.is_dir():
        root = path
    else:
        from kodek.hub import REPO_ID, download_folder

        if path.exists() or not REPO_ID.match(str(tokens)):
            raise TokensError(f"{tokens}: neither a token folder nor a Hub repo id (ORG/NAME)")
        root = download_folder(
            str(tokens), revision=revision, token=token, patterns=[f"data/{codec_id}/*", "README.md"]
        )
    meta_path = layout.codec_dir(root, codec_id) / "codec.json"
    if not meta_path.is_file():
        have = layout.present_codecs(root)
        raise TokensError(f"{tokens}: no tokens for codec {codec_id!r} (has: {', '.join(have) or 'none'})")
    return TokenSet(root, codec_id, files.read_json(meta_path), str(tokens))
