"""``kodek demo`` (``make demo``): the main job on the bundled Polish sample, offline.

Tokenize the sample with every codec that can run here, score the
reconstructions, write results, print the comparison table. A codec that cannot
run (weights not reachable, an extra not installed, unsupported) is listed as
skipped with the reason and the command that runs it where it can.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kodek.codecs.base import CodecError, WeightsUnavailableError
from kodek.codecs.registry import availability, build_codec, registry

# A local copy of Lyra v2's model files beside the project (relative to where `make demo` runs).
LYRA_WEIGHTS = Path("../shared/weights/lyra-v2")


@dataclass
class Skipped:
    codec_id: str
    reason: str
    runnable_elsewhere: bool  # weights or an extra missing here, as opposed to unsupported
    needs_kmeans: bool = False  # an SSL tokenizer whose k-means quantiser has not been fitted
    needs_env: str | None = None  # a codec of an isolated environment that is not built here


def _print_skipped(skipped: list[Skipped]) -> None:
    if not skipped:
        return
    print(f"\nNot run here: {len(skipped)} codecs (listed, not dropped)")
    elsewhere = [s for s in skipped if s.runnable_elsewhere and not s.needs_kmeans and not s.needs_env]
    if elsewhere:
        print("  Runnable where the Hugging Face Hub is reachable (or the extra is installed):")
        for item in elsewhere:
            print(f"  - {item.codec_id}: {item.reason}")
        print("    e.g. kodek tokenize --codec CODEC_ID --data bigos --split test --out TOKENS")
        print("         kodek score --tokens TOKENS --codec CODEC_ID --out RESULTS")
    kmeans = [s.codec_id for s in skipped if s.needs_kmeans]
    if kmeans:
        print("  SSL tokenizers without a fitted k-means quantiser (and the SSL model's weights):")
        print(f"  - {', '.join(kmeans)}")
        print("    fit one on Polish audio: kodek kmeans fit --codec CODEC_ID --data bigos --split train --out DIR")
        print("    then: kodek tokenize --codec CODEC_ID --kmeans DIR --data bigos --split test --out TOKENS")
    envs = sorted({s.needs_env for s in skipped if s.needs_env})
    for env in envs:
        ids = [s.codec_id for s in skipped if s.needs_env == env]
        reason = next(s.reason for s in skipped if s.needs_env == env)
        print(f"  In the isolated environment {env}, not built here: {', '.join(ids)}")
        print(f"    {reason}")
    unsupported = [s for s in skipped if not s.runnable_elsewhere]
    if unsupported:
        print("  Not supported by kodek's environment:")
        for item in unsupported:
            print(f"  - {item.codec_id}: {item.reason}")


def _print_unavailable_metrics(results: list[dict]) -> None:
    """Metrics whose model could not be loaded here: missing in every result, with the reason."""
    why = {name: m["why"] for r in results for name, m in r["metrics"].items() if m.get("available") is False}
    if why:
        print("\nMetrics not computed here (recorded as missing, with the reason, in every result):")
        for name, reason in why.items():
            print(f"  - {name}: {reason}")


def demo_speaker_model() -> tuple[str | None, str | None]:
    """(speaker model for ``kodek score``, a line saying why) for this machine.

    The default embedder when its weights can be loaded; else ``resemblyzer``, whose weights ship
    inside its package, so that speaker similarity is measured offline too. Its results name it as
    the model (``models.speaker.id``, the metric's ``model``): never passed off as the default.
    """
    from kodek.metrics.models import ModelUnavailable
    from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL, RESEMBLYZER, load_speaker_embedder

    try:
        load_speaker_embedder(DEFAULT_SPEAKER_MODEL, "cpu", local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
        return None, None
    except ModelUnavailable as error:
        default_error = error
    try:
        load_speaker_embedder(RESEMBLYZER, "cpu")
    except ModelUnavailable:
        return None, None  # the default's reason is recorded in every result
    return RESEMBLYZER, (
        f"Speaker similarity: {DEFAULT_SPEAKER_MODEL} is not available here ({default_error}); measured with the "
        f"offline embedder {RESEMBLYZER} instead, and labelled so in the results (not comparable with "
        f"{DEFAULT_SPEAKER_MODEL} numbers)."
    )


def _install_lyra_weights(folder: Path | None, codecs: list[str] | None) -> None:
    """Put a local copy of Lyra v2's model files into kodek's cache (sha256-checked), where decoding finds them."""
    if folder is None or not folder.is_dir() or (codecs and not any(c.startswith("lyra-v2-") for c in codecs)):
        return
    from kodek.codecs.lyra import install_weights

    cache = install_weights(folder)
    print(f"Lyra v2 (SoundStream) weights: {folder}, sha256 checked, in {cache}")


def run_demo(
    out: Path,
    *,
    split: str = "test",
    codecs: list[str] | None = None,
    workers: int | None = None,
    lyra_weights: Path | None = LYRA_WEIGHTS,
) -> int:
    from kodek.data.source import load_source
    from kodek.hub import hub_reachable
    from kodek.leaderboard.tables import reconstruction_table
    from kodek.metrics.score import score
    from kodek.results.loading import load_results
    from kodek.tokenize.pipeline import tokenize
    from kodek.tokenize.reader import open_tokens

    offline = not hub_reachable()
    if offline:
        # Fail at once instead of retrying every download for ~25 s.
        os.environ["HF_HUB_OFFLINE"] = "1"
        print("The Hugging Face Hub is not reachable: codecs whose weights are not cached are skipped.")
    _install_lyra_weights(lyra_weights, codecs)
    tokens_dir, results_dir = out / "tokens", out / "results"
    source = load_source("sample", split)
    speaker_model, speaker_note = demo_speaker_model()
    if speaker_note:
        print(speaker_note)
    skipped: list[Skipped] = []
    done: list[str] = []
    for entry in registry().entries.values():
        spec = entry.spec
        if codecs and spec.id not in codecs:
            continue
        state = availability(entry)
        if state.status == "needs-kmeans":
            skipped.append(Skipped(spec.id, state.reason, True, needs_kmeans=True))
            continue
        if state.status in ("unsupported", "needs-extra"):
            skipped.append(Skipped(spec.id, state.reason, state.status == "needs-extra"))
            continue
        if state.status == "needs-env":
            skipped.append(Skipped(spec.id, state.reason, True, needs_env=state.env))
            continue
        if state.env and state.status == "needs-weights" and offline:
            # Offline, its worker would start only to find no weights: say so without starting it.
            skipped.append(Skipped(spec.id, state.reason, True))
            continue
        try:
            codec = build_codec(spec.id)
        except WeightsUnavailableError as error:
            skipped.append(Skipped(spec.id, error.short, True))
            continue
        except CodecError as error:
            skipped.append(Skipped(spec.id, str(error), False))
            continue
        print(f"\n== {spec.id}")
        stats = tokenize(codec, source, tokens_dir)
        print(stats.summary())
        score(open_tokens(tokens_dir, spec.id), results_dir, split=split, workers=workers, speaker_model=speaker_model)
        done.append(spec.id)

    loaded = load_results(results_dir)
    table = reconstruction_table([r for r in loaded.results if r["codec"]["id"] in done])
    print(
        "\nReconstruction quality on the bundled Polish sample (synthetic speech, "
        f"{len(source.dataset)} utterances, split {split}):\n"
    )
    # Columns missing for every codec (their model is not available here) are listed below, not printed empty.
    empty = [c for c in table.columns if len(table) and table[c].astype(str).str.startswith("missing").all()]
    print(table.drop(columns=empty).to_string(index=False) if len(table) else "(no codec could run)")
    _print_unavailable_metrics([r for r in loaded.results if r["codec"]["id"] in done])
    _print_skipped(skipped)
    print(f"\nTokens: {tokens_dir}\nResults: {results_dir}")
    print(f"Open the leaderboard: make leaderboard   (or: kodek leaderboard --results {results_dir})")
    return 0 if done else 1
