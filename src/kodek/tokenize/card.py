"""The dataset card (README.md) of a token dataset folder.

Regenerated from what the folder holds after every shard, so the YAML ``configs:``
lists exactly the codec ids and splits that have files (``datasets`` refuses to
load any config when the first one matches no files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kodek import files
from kodek.tokenize import layout

BIGOS_CITATION = """@inproceedings{junczyk2023bigos,
  title     = {{BIGOS} -- Benchmark Intended Grouping of Open Speech Corpora for {Polish}
               Automatic Speech Recognition},
  author    = {Junczyk, Micha{\\l}},
  booktitle = {Proceedings of the 18th Conference on Computer Science and Intelligence Systems (FedCSIS)},
  year      = {2023}
}"""


def _configs(root: Path) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(codec id, codec.json, splits) of every codec with a finished split: a split whose shard set is
    incomplete is left out of the card, so ``load_dataset`` never reads part of it as the whole."""
    out = []
    for codec_id in layout.present_codecs(root):
        meta = files.read_json(layout.codec_dir(root, codec_id) / "codec.json")
        splits = [
            s
            for s in layout.present_splits(root, codec_id)
            if isinstance(layout.complete_shards(root, codec_id, s, meta), list)
        ]
        if splits:
            out.append((codec_id, meta, splits))
    return out


def _license(configs: list[tuple[str, dict[str, Any], list[str]]]) -> dict[str, str]:
    sources = {meta.get("source", {}).get("name") for _, meta, _ in configs}
    if sources <= {"sample"}:
        return {"license": "apache-2.0"}
    if "bigos" not in sources:  # the user's own recordings: their licence is theirs to state
        return {"license": "other", "license_name": "licence-of-the-source-audio"}
    return {
        "license": "other",
        "license_name": "bigos-v2-source-licences",
        "license_link": "https://huggingface.co/datasets/amu-cai/pl-asr-bigos-v2",
    }


def render_card(root: Path) -> str:
    configs = _configs(root)
    header: dict[str, Any] = {
        **_license(configs),
        "language": ["pl"],
        "pretty_name": "BIGOS-v2 speech tokens (kodek)",
        "task_categories": ["automatic-speech-recognition"],
        "tags": ["speech-tokens", "audio-codec", "kodek", "polish"],
        "configs": [
            {
                "config_name": codec_id,
                "data_files": [{"split": split, "path": f"data/{codec_id}/{split}-*.parquet"} for split in splits],
            }
            for codec_id, _, splits in configs
        ],
    }
    rows = []
    for codec_id, meta, splits in configs:
        spec = meta.get("codec", {})
        counts = ", ".join(
            f"{s}: {sum(x['rows'] for x in meta.get('splits', {}).get(s, {}).get('shards', {}).values())}"
            for s in splits
        )
        flag = " **random weights: not a real score**" if meta.get("random_weights") else ""
        rows.append(
            f"| `{codec_id}` | {spec.get('kind')} | {spec.get('sample_rate')} | {spec.get('frame_rate'):g} | "
            f"{spec.get('num_codebooks')} | {spec.get('bitrate_bps', 0) / 1000:.2f} | {counts}{flag} |"
        )
    sources = sorted(
        {
            f"{m['source']['name']}" + (f":{m['source']['config']}" if m["source"].get("config") else "")
            for _, m, _ in configs
        }
    )
    first = configs[0][0] if configs else "CODEC_ID"
    licence = (
        "The bundled sample is synthetic speech made for kodek (Apache-2.0)."
        if _license(configs)["license"] == "apache-2.0"
        else "These tokens are derived from the source's own recordings and carry their licence."
        if _license(configs).get("license_name") == "licence-of-the-source-audio"
        else "BIGOS-v2 bundles public Polish speech corpora, each under its own licence; these tokens are "
        "derived from that audio and inherit the licence of the subset (`dataset` column) they come from. "
        "See the BIGOS-v2 card. Codec weights have their own licences (column `license` in `codec.json`)."
    )
    body = f"""# BIGOS-v2 speech tokens

Discrete tokens of Polish speech, one configuration per tokenizer, produced by
kodek (a benchmark of speech tokenizers on Polish) from {", ".join(sources) or "no source yet"}.

| config (codec id) | kind | sample rate | frames/s | codebooks | kbps | rows |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Use

```python
from datasets import load_dataset

tokens = load_dataset("THIS_REPO_OR_FOLDER", "{first}", split="test")
codes = tokens[0]["codes"]  # [num_codebooks][num_frames]
```

Columns: `audioname` (BIGOS id, the join key with the audio), `dataset` (BIGOS source subset), `split`,
`ref_orig` (transcript; empty where the source withholds it), `duration_s` (of the original audio),
`num_frames`, `codes` (integers, `[num_codebooks, num_frames]`, the narrowest unsigned type that holds the
codebook). `data/<codec_id>/codec.json` holds the codec's spec, checkpoint revision, library versions and
the source revision.

## Licence

{licence}

## Citation

```bibtex
{BIGOS_CITATION}
```
"""
    return f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---\n\n{body}"


def write_card(root: Path) -> None:
    files.write_text(root / "README.md", render_card(root))
