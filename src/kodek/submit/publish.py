"""``kodek publish-results``: upload results that pass validation to the results repo the leaderboard reads."""

from __future__ import annotations

from pathlib import Path

from kodek.submit import SubmitError


def publish_results(
    folder: Path,
    repo: str,
    *,
    codecs: list[str] | None = None,
    create_pr: bool = False,
    allow_random_weights: bool = False,
    token: str | bool | None = None,
):
    """Upload results (JSON, per-utterance tables, listening examples) after validating every file."""
    from kodek.hub import publish_folder
    from kodek.results.loading import ORIGINALS_DIR, load_results

    loaded = load_results(folder)
    chosen = set(codecs) if codecs else {r["codec"]["id"] for r in loaded.results}
    rejected = [f"{name}: {why}" for name, why in loaded.rejected if name.split("/")[0] in chosen or not codecs]
    if rejected:
        raise SubmitError("invalid results files, nothing published:\n  " + "\n  ".join(rejected))
    present = {r["codec"]["id"] for r in loaded.results}
    if missing := sorted(chosen - present):
        raise SubmitError(f"no results for {', '.join(missing)} in {folder}")
    random = sorted({r["codec"]["id"] for r in loaded.random_weight_runs if r["codec"]["id"] in chosen})
    if random and not allow_random_weights:
        raise SubmitError(f"random-weight results are pipeline checks, not scores; not published: {', '.join(random)}")
    patterns = [f"{ORIGINALS_DIR}/*.flac"]
    for codec_id in sorted(chosen):
        patterns += [f"{codec_id}/*.json", f"{codec_id}/*.parquet", f"{codec_id}/audio/*.flac"]
    return publish_folder(
        Path(folder),
        repo,
        create_pr=create_pr,
        message=f"kodek: results of {', '.join(sorted(chosen))}",
        patterns=patterns,
        token=token,
    )
