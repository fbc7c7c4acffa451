"""The ``kodek`` command. Heavy libraries are imported inside the subcommand that needs them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from kodek.errors import KodekError


class CliError(KodekError):
    """An error the user can fix: printed as one line, exit status 2."""


DATA_HELP = "sample | bigos | bigos:CONFIG | folder:PATH (audio files + transcripts.tsv; see README)"


def _count(minimum: int):
    """An argparse type: an integer of at least ``minimum`` (a negative --listen must not mean 'all but one')."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


# Arguments that name a folder kodek writes into, by subcommand (a file there is refused before any work).
OUTPUT_FOLDERS = ("out", "results", "runs", "run")


def _check_outputs(args: argparse.Namespace) -> None:
    names = [n for n in OUTPUT_FOLDERS if isinstance(getattr(args, n, None), str)]
    if args.command == "run-request":
        names.append("tokens")
    if args.command == "submit":  # its --out is the request file
        names = []
    for name in names:
        path = Path(getattr(args, name))
        if path.exists() and not path.is_dir():
            raise CliError(f"--{name} {path}: is a file; name a folder (it is created if missing)")


def _check_devices(args: argparse.Namespace) -> None:
    """A CUDA device asked for where torch sees none is refused before any model is built."""
    for name in ("device", "model_device"):
        device = getattr(args, name, None)
        if not isinstance(device, str) or not device.startswith("cuda"):
            continue
        import torch

        if not torch.cuda.is_available():
            raise CliError(f"--{name.replace('_', '-')} {device}: no CUDA device here (torch sees none); use cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise CliError(f"--{name.replace('_', '-')} {device}: only {torch.cuda.device_count()} CUDA device(s)")


def _codec_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="build the architecture from its config with seeded random weights (offline; "
        "marked as such in every output, never a real score)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")


def _lm_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--codec", required=True, help="codec id of the token dataset")
    parser.add_argument("--tokens", required=True, help="token folder or Hub dataset repo (ORG/NAME)")
    parser.add_argument(
        "--config",
        default="bielik-1.5b",
        help="a shipped config (bielik-1.5b, bielik-11b, tiny-test: offline) or a YAML path (default bielik-1.5b)",
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--revision", help="revision of a Hub token dataset")
    parser.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_codecs_list(args: argparse.Namespace) -> int:
    from kodek.codecs.registry import availability, registry

    reg = registry()
    rows = []
    for entry in reg.entries.values():
        spec, state = entry.spec, availability(entry)
        rows.append(
            {
                **spec.to_dict(),
                "availability": state.status,
                "availability_reason": state.reason,
                "environment": entry.env,
                "source": entry.source,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    width = max(len(row["id"]) for row in rows) + 1
    header = f"{'codec id':<{width}} {'kind':<10} {'rate':>6} {'fps':>8} {'K':>3} {'kbps':>8}  availability"
    print(header)
    print("-" * len(header))
    for row in rows:
        reason = f" ({row['availability_reason']})" if args.verbose and row["availability_reason"] else ""
        print(
            f"{row['id']:<{width}} {row['kind']:<10} {row['sample_rate']:>6} {row['frame_rate']:>8.5g} "
            f"{row['num_codebooks']:>3} {row['bitrate_bps'] / 1000:>8.2f}  {row['availability']}{reason}"
        )
    for error in reg.load_errors:
        print(f"warning: {error}", file=sys.stderr)
    return 0


def cmd_codecs_show(args: argparse.Namespace) -> int:
    from kodek.codecs.registry import availability, registry

    entry = registry().get(args.codec)
    state = availability(entry)
    print(
        json.dumps(
            {
                **entry.spec.to_dict(),
                "availability": state.status,
                "availability_reason": state.reason,
                "factory": entry.factory_name,
                "source": entry.source,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def _codec_settings(args: argparse.Namespace):
    """The codec settings of a command's arguments (``--kmeans``: where SSL codecs find their centroids)."""
    from kodek.codecs import CodecSettings

    return CodecSettings(
        device=args.device, seed=args.seed, random_weights=args.random_weights, kmeans=args.kmeans, float64=args.float64
    )


def cmd_tokenize(args: argparse.Namespace) -> int:
    from kodek.codecs import build_codec
    from kodek.data.source import load_source
    from kodek.tokenize.pipeline import parse_shard, tokenize

    shard = parse_shard(args.shard)
    codec = build_codec(args.codec, _codec_settings(args))
    for split in args.split:
        source = load_source(args.data, split, token=args.token, revision=args.revision)
        stats = tokenize(
            codec,
            source,
            Path(args.out),
            shard=shard,
            batch_seconds=args.batch_seconds,
            max_batch=args.max_batch,
            limit=args.limit,
        )
        print(stats.summary())
        if source.failures:
            print(
                f"  {len(source.failures)} of the {source.utterances_total} utterances {source.label} lists not loaded:"
            )
        for failure in [*source.failures, *stats.failures]:
            print(f"  failed: {failure['audioname']}: {failure['reason']}")
    print(f"load with: datasets.load_dataset({str(args.out)!r}, {args.codec!r}, split=...)")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from kodek.hub import publish_folder

    result = publish_folder(Path(args.folder), args.repo, create_pr=args.pr, private=args.private, message=args.message)
    print(result.summary())
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from kodek.metrics.registry import DEFAULT_METRICS, get_metric
    from kodek.metrics.score import score
    from kodek.tokenize.reader import open_tokens

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else list(DEFAULT_METRICS)
    for name in metrics:  # before any work: an unknown name is one line listing the valid ones
        get_metric(name)
    tokens = open_tokens(args.tokens, args.codec, revision=args.revision, token=args.token)
    data = score(
        tokens,
        Path(args.out),
        split=args.split,
        metrics=metrics,
        workers=args.workers,
        device=args.device,
        model_device=args.model_device,
        asr_model=args.asr_model,
        speaker_model=args.speaker_model,
        normalisation=args.normalisation,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        limit=args.limit,
        token=args.token,
        listen=args.listen,
    )
    print(f"{args.codec}: {data['dataset']['utterances']} utterances scored")
    for name, metric in data["metrics"].items():
        rec, gt = metric.get("rec") or {}, metric.get("gt")
        mean = "n/a" if rec.get("mean") is None else f"{rec['mean']:.3f}"
        line = f"  {name}: {mean} (n={rec.get('n', 0)}, failed={rec.get('failed', 0)}, missing={rec.get('missing', 0)})"
        if gt:
            line += f"; GT {'n/a' if gt['mean'] is None else format(gt['mean'], '.3f')} (n={gt['n']})"
        print(line + (f"  [{metric['why']}]" if metric.get("why") else ""))
    counts = data["failures"].get("utterances")
    if counts:
        stages = ", ".join(f"{k} {v}" for k, v in counts["by_stage"].items() if v)
        print(
            f"  utterances: {counts['scored']} of {counts['source']} scored"
            + (f" (not scored: {stages})" if stages else "")
        )
    if data.get("delay_ms") is not None:
        print(f"  delay compensated: {data['delay_ms']:.2f} ms")
    print(f"results: {Path(args.out) / args.codec}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from kodek.leaderboard import app_path, server_flags

    app = app_path()
    env = dict(os.environ)
    if args.results:
        env["KODEK_RESULTS"] = str(Path(args.results).resolve())
    else:
        env.pop("KODEK_RESULTS", None)
        env["KODEK_RESULTS_REPO"] = args.repo
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *server_flags(),
    ]
    print(
        f"leaderboard on http://{args.address}:{args.port} (results from {args.results or args.repo}); Ctrl+C stops it"
    )
    return subprocess.call(command, env=env)


def cmd_submit(args: argparse.Namespace) -> int:
    from kodek.submit.request import submit

    out = Path(args.out or f"kodek-request-{args.codec}.json")
    done = submit(
        args.codec,
        contact=args.contact,
        license=args.license,
        description=args.description or "",
        out=out,
        repo=args.repo,
        random_weights=args.random_weights,
        seed=args.seed,
    )
    for check in done.checks:
        print(check.line())
    print(f"request: {done.path}")
    if done.pr_url:
        print(f"opened as a pull request: {done.pr_url}")
    elif not args.repo:
        print("send it: kodek submit ... --repo ORG/REQUESTS (opens a pull request), or open one with this file")
    return 0


def cmd_run_request(args: argparse.Namespace) -> int:
    from kodek.submit.run import RunSettings, read_request, run_request

    if bool(args.request) == bool(args.repo):
        raise CliError("give a request file, or --repo ORG/NAME --pr N")
    request = read_request(args.request, repo=args.repo, pr=args.pr, token=args.token)
    label = args.label or (f"{args.repo} pull request {args.pr}" if args.repo else str(args.request))
    settings = RunSettings(
        data=args.data,
        split=args.split,
        random_weights=args.random_weights,
        seed=args.seed,
        limit=args.limit,
        workers=args.workers,
        listen=args.listen,
        source_label=label,
        revision=args.revision,
    )
    report = run_request(
        request,
        Path(args.results),
        Path(args.tokens),
        settings,
        install=args.install,
        publish_repo=args.publish,
        token=args.token,
    )
    for check in report.checks:
        print(check.line())
    print(f"results: {report.results}")
    if report.published:
        print(report.published)
    return 0


def cmd_publish_results(args: argparse.Namespace) -> int:
    from kodek.submit.publish import publish_results

    result = publish_results(
        Path(args.results),
        args.repo,
        codecs=args.codec,
        create_pr=args.pr,
        allow_random_weights=args.allow_random_weights,
    )
    print(result.summary())
    return 0


def cmd_bench_tokenize(args: argparse.Namespace) -> int:
    from kodek.bench import bench_tokenize

    report = bench_tokenize(
        args.codec,
        data=args.data,
        split=args.split,
        random_weights=args.random_weights,
        batch_seconds=args.batch_seconds,
        max_batch=args.max_batch,
        repeat=args.repeat,
        device=args.device,
        kmeans=args.kmeans,
    )
    _print_report(report, args.json)
    return 0


def cmd_bench_score(args: argparse.Namespace) -> int:
    from kodek.metrics.bench import bench_score

    report = bench_score(
        repeat_data=args.repeat_data,
        speaker_model=args.speaker_model,
        device=args.model_device,
        repeat=args.repeat,
        target_utterances=args.target_utterances,
        target_hours=args.target_hours,
    )
    _print_report(report, args.json)
    return 0


def _lm_config(args: argparse.Namespace):
    """The run config: a YAML file or a shipped config's name, with ``--set key.sub=value`` overrides."""
    import yaml

    from kodek.lm.config import load_config

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set {item!r}: expected KEY=VALUE, e.g. training.max_steps=200")
        overrides[key.strip()] = yaml.safe_load(value)
    return load_config(args.config, overrides)


def _lm_session(args: argparse.Namespace, config):
    import os

    from kodek.lm.session import open_session

    device = args.device
    if device == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per process under accelerate / torchrun
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    return open_session(config, args.tokens, args.codec, device=device, token=args.token, revision=args.revision)


def _lm_run_dir(args: argparse.Namespace, config) -> Path:
    return Path(args.run) if args.run else Path(args.runs) / args.codec / config.name


def cmd_lm_train(args: argparse.Namespace) -> int:
    from kodek.lm.train import train

    config = _lm_config(args)
    report = train(_lm_session(args, config), _lm_run_dir(args, config), progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_lm_eval(args: argparse.Namespace) -> int:
    from kodek.lm.evaluation import evaluate

    config = _lm_config(args)
    data = evaluate(_lm_session(args, config), _lm_run_dir(args, config), Path(args.out), progress=not args.quiet)
    print(f"{args.codec} on {data['llm']['id']}: {data['dataset']['utterances']} {data['dataset']['split']} utterances")
    for name, metric in data["metrics"].items():
        values = ", ".join(
            f"{c} {'n/a' if metric.get(c) is None else format(metric[c], '.3f')}" for c in ("prior", "init", "trained")
        )
        print(f"  {name}: {values}")
    adapter = data["adapter"]
    print(
        f"  adapter: {adapter['projector_params']} projector parameters (the same for every codec) + "
        f"{adapter['embedding_params']} in the code embedding tables; {data['failures']['count']} utterances "
        f"not scored; comparability key {data['comparability_key']}"
    )
    if data["random_weights"]:
        print("  (random weights: a pipeline check, not a score)")
    print(f"results: {Path(args.out) / args.codec}")
    return 0


def cmd_lm_speech(args: argparse.Namespace) -> int:
    from kodek.lm.speech_lm import train_and_score
    from kodek.tokenize.reader import open_tokens

    config = _lm_config(args)
    tokens = open_tokens(args.tokens, args.codec, revision=args.revision, token=args.token)
    data = train_and_score(tokens, Path(args.out), config, device=args.device, progress=not args.quiet)
    metric = data["metrics"]["bits_per_second"]
    print(
        f"{args.codec}: bits per second of test audio: trained {metric['trained']:.1f}, "
        f"unigram {metric['unigram']:.1f}, uniform (bitrate) {metric['uniform']:.1f}"
    )
    info = data["speech_lm"]
    print(
        f"  {data['dataset']['utterances']} test utterances, {data['failures']['count']} not scored; "
        f"{info['core_params']} core parameters (the same for every codec) + {info['vocabulary_params']} in the "
        f"code tables and heads; comparability key {data['comparability_key']}"
    )
    print(f"results: {Path(args.out) / args.codec}")
    return 0


def cmd_bench_lm(args: argparse.Namespace) -> int:
    from kodek.lm.bench import bench_lm

    report = bench_lm(
        _lm_config(args), args.tokens, args.codec, device=args.device, repeat=args.repeat, train_hours=args.train_hours
    )
    _print_report(report, args.json)
    return 0


def cmd_publish_space(args: argparse.Namespace) -> int:
    from kodek.leaderboard.publish import publish_space

    result = publish_space(
        args.repo,
        source=Path(args.source),
        metrics_org=args.metrics_org,
        wheel=Path(args.wheel) if args.wheel else None,
        private=args.private,
        token=args.token,
    )
    print(result.summary())
    return 0


def cmd_bench_leaderboard(args: argparse.Namespace) -> int:
    from kodek.leaderboard.bench import bench_leaderboard

    report = bench_leaderboard(
        Path(args.results) if args.results else None,
        codecs=args.codecs,
        subsets=args.subsets,
        repeat=args.repeat,
        screenshots=Path(args.screenshots) if args.screenshots else None,
    )
    _print_report(report, args.json)
    return 0


def _print_report(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


def cmd_kmeans_fit(args: argparse.Namespace) -> int:
    from kodek.codecs.ssl import MODELS, codec_id
    from kodek.kmeans import fit

    if args.codec:
        name = args.codec
    elif args.model:
        if args.model not in MODELS:
            raise CliError(f"unknown SSL model {args.model!r}; known: {', '.join(MODELS)}")
        name = codec_id(args.model, args.layer or MODELS[args.model].layer, args.k)
    else:
        raise CliError("name the quantiser: --codec ID, or --model NAME [--layer L] --k K")
    folder = fit(
        name,
        args.data,
        args.split,
        Path(args.out),
        max_hours=args.max_hours,
        random_weights=args.random_weights,
        seed=args.seed,
        device=args.device,
        token=args.token,
    )
    print(f"{name}: centroids in {folder}")
    print(f"use with: kodek tokenize --codec {name} --kmeans {args.out} ...")
    return 0


def _env_settings(args: argparse.Namespace):
    from kodek.envs import EnvSettings

    return EnvSettings(cache=Path(args.cache) if args.cache else None)


def _env_for(name: str):
    """An environment by its name or by a family that runs in it."""
    from kodek.codecs.registry import registry
    from kodek.envs import ENVIRONMENTS, EnvError, get_env

    if name in ENVIRONMENTS:
        return get_env(name)
    envs = {entry.env for entry in registry().entries.values() if entry.spec.family == name and entry.env}
    if not envs:
        families = sorted({e.spec.family for e in registry().entries.values() if e.env})
        raise EnvError(
            f"no isolated environment for {name!r}: environments {', '.join(sorted(ENVIRONMENTS))}; "
            f"families that run in one: {', '.join(families)}"
        )
    return get_env(envs.pop())


def cmd_env_build(args: argparse.Namespace) -> int:
    from kodek.envs import build, env_path, record

    settings = _env_settings(args)
    for name in args.name:
        env = _env_for(name)
        print(f"building environment {env.name} ({env.description}) in {env_path(env, settings)}", file=sys.stderr)
        folder = build(env, settings, force=args.force, quiet=args.quiet)
        facts = record(env, settings) or {}
        print(
            f"{env.name}: ready in {folder} (installed in {facts.get('install_seconds', 0):.0f} s, "
            f"{facts.get('size_bytes', 0) / 1e9:.1f} GB, {len(facts.get('packages', []))} packages)"
        )
    return 0


def cmd_env_list(args: argparse.Namespace) -> int:
    from kodek.codecs.registry import registry
    from kodek.envs import ENVIRONMENTS, env_path, record

    settings = _env_settings(args)
    rows = []
    for env in ENVIRONMENTS.values():
        facts = record(env, settings)
        rows.append(
            {
                "name": env.name,
                "hash": env.hash,
                "python": env.python,
                "families": sorted({e.spec.family for e in registry().entries.values() if e.env == env.name}),
                "description": env.description,
                "built": facts is not None,
                "path": str(env_path(env, settings)),
                "size_bytes": facts["size_bytes"] if facts else None,
                "install_seconds": facts["install_seconds"] if facts else None,
                "requirements": list(env.requirements) + [f"{r} (--no-deps)" for r in env.no_deps],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = (
            f"built, {row['size_bytes'] / 1e9:.1f} GB, installed in {row['install_seconds']:.0f} s"
            if row["built"]
            else f"not built (kodek env build {row['name']})"
        )
        print(f"{row['name']}  [{', '.join(row['families'])}]  python {row['python']}  {state}")
        print(f"    {row['description']}")
        print(f"    {row['path']}")
        if args.verbose:
            print(f"    {' '.join(row['requirements'])}")
    return 0


def cmd_bench_env(args: argparse.Namespace) -> int:
    from kodek.codecs.bench_env import bench_env

    result = bench_env(
        args.codec, seconds=args.seconds, batch=args.batch, repeat=args.repeat, random_weights=args.random_weights
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['codec']} in environment {result['environment']}: {result['batch']} x {args.seconds:g} s")
    for name in ("encode", "decode"):
        row = result[name]
        ratio = f"{100 * row['overhead_ratio']:.2f} %" if row["overhead_ratio"] is not None else "n/a"
        print(
            f"  {name}: call {row['call_s']:.3f} s = model {row['model_s']:.3f} s + "
            f"worker overhead {row['overhead_s'] * 1000:.1f} ms ({ratio} of the model's time)"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from kodek.demo import run_demo

    return run_demo(Path(args.out), split=args.split, codecs=args.codec, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kodek", description="Speech tokenizers on Polish speech (BIGOS-v2).")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    codecs = sub.add_parser("codecs", help="the registered codecs")
    codecs = codecs.add_subparsers(dest="codecs_command", required=True)
    listing = codecs.add_parser("list", help="every registered codec id with its facts and availability")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    # SUPPRESS: without -v here, the global `kodek -v codecs list` keeps its value
    listing.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="say why a codec is not available"
    )
    listing.set_defaults(func=cmd_codecs_list)
    show = codecs.add_parser("show", help="one codec's spec as JSON")
    show.add_argument("codec")
    show.set_defaults(func=cmd_codecs_show)

    tok = sub.add_parser("tokenize", help="encode a split into a token dataset (Hub layout)")
    tok.add_argument("--codec", required=True)
    tok.add_argument("--data", default="sample", help=DATA_HELP + " (default: sample)")
    tok.add_argument("--split", nargs="+", default=["test"], help="one or more splits (default: test)")
    tok.add_argument("--out", required=True, help="output folder (Hub layout; shared by several codecs)")
    tok.add_argument("--shard", default="0/1", help="I/N: process shard I of N (array jobs)")
    tok.add_argument(
        "--batch-seconds", type=_positive_float, help="padded audio seconds per batch (default: by device)"
    )
    tok.add_argument("--max-batch", type=_count(1), help="utterances per batch (default: 4 on CPU, 64 on GPU)")
    tok.add_argument(
        "--limit", type=_count(1), help="only the first N utterances (smoke tests; a later full run completes them)"
    )
    tok.add_argument("--revision", default="main", help="BIGOS-v2 revision")
    tok.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    tok.add_argument(
        "--kmeans",
        help="SSL codecs: folder or Hub dataset repo with kmeans/<codec_id>/centroids.npy "
        "(default: the KODEK_KMEANS environment variable, if set)",
    )
    tok.add_argument(
        "--float64",
        action="store_true",
        help="compute in float64: causal codecs (EnCodec) then encode padded batches exactly as one by one; "
        "otherwise neural codecs are encoded one utterance at a time",
    )
    _codec_args(tok)
    tok.set_defaults(func=cmd_tokenize)

    pub = sub.add_parser("publish", help="upload a token folder to a Hub dataset repo in one commit")
    pub.add_argument("folder")
    pub.add_argument("--repo", required=True, help="ORG/NAME")
    pub.add_argument("--pr", action="store_true", help="open a pull request instead of committing to main")
    pub.add_argument("--private", action="store_true", help="create the repo private")
    pub.add_argument("--message", help="commit message")
    pub.set_defaults(func=cmd_publish)

    sc = sub.add_parser("score", help="decode tokens and score them against the original audio")
    sc.add_argument("--tokens", required=True, help="token folder or Hub dataset repo id")
    sc.add_argument("--codec", required=True)
    sc.add_argument("--out", required=True, help="results folder")
    sc.add_argument("--split", help="default: test if present")
    sc.add_argument("--metrics", help="comma-separated (default: all of " + _metric_names() + ")")
    sc.add_argument("--asr-model", help="Whisper or CTC model: Hub id[@revision] or folder (default: whisper-large-v3)")
    sc.add_argument("--speaker-model", help="*ForXVector Hub id[@revision] or folder, or 'resemblyzer'")
    sc.add_argument(
        "--normalisation",
        default="all",
        choices=["none", "lowercase", "punctuation", "all"],
        help="Polish transcript normalisation for WER/CER (diacritics always kept; default: all)",
    )
    sc.add_argument("--cache-dir", help="transcript/embedding cache (default: $KODEK_CACHE or ~/.cache/kodek)")
    sc.add_argument("--workers", type=_count(1), help="metric processes (default: all cores)")
    sc.add_argument("--device", default="cpu", help="torch device of the codec's decoder")
    sc.add_argument("--model-device", help="torch device of the speaker/ASR models (default: cuda if present)")
    sc.add_argument("--limit", type=_count(1))
    sc.add_argument("--revision", help="revision of a Hub token repo")
    sc.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    sc.add_argument(
        "--listen",
        type=_count(0),
        default=3,
        help="keep the first N reconstructions as FLAC for the leaderboard (default 3)",
    )
    sc.set_defaults(func=cmd_score)

    lb = sub.add_parser("leaderboard", help="open the Streamlit leaderboard on local results (or a results repo)")
    source = lb.add_mutually_exclusive_group(required=True)
    source.add_argument("--results", help="results folder")
    source.add_argument("--repo", help="results dataset repo on the Hub (ORG/NAME)")
    lb.add_argument("--port", type=int, default=8501)
    lb.add_argument("--address", default="127.0.0.1")
    lb.set_defaults(func=cmd_leaderboard)

    sm = sub.add_parser("submit", help="check a codec registered by an entry point and write (or send) its request")
    sm.add_argument("--codec", required=True)
    sm.add_argument("--contact", required=True, help="e-mail, Hub user name or https URL")
    sm.add_argument("--license", help="default: the spec's licence")
    sm.add_argument("--description", help="a few words about the codec")
    sm.add_argument("--out", help="request file (default: kodek-request-ID.json)")
    sm.add_argument("--repo", help="requests repo on the Hub (ORG/NAME): open the request as a pull request")
    sm.add_argument("--random-weights", action="store_true", help="run the checks with random weights (offline)")
    sm.add_argument("--seed", type=int, default=0)
    sm.set_defaults(func=cmd_submit)

    rr = sub.add_parser("run-request", help="maintainers: check, tokenize and score a codec request")
    rr.add_argument("request", nargs="?", help="a request file (or use --repo and --pr)")
    rr.add_argument("--repo", help="the requests repo (ORG/NAME)")
    rr.add_argument("--pr", type=int, help="the pull request of --repo that holds the request")
    rr.add_argument("--results", required=True, help="results folder")
    rr.add_argument("--tokens", default="request-tokens", help="token folder (default: request-tokens)")
    rr.add_argument("--data", default="bigos", help=DATA_HELP + " (default: bigos)")
    rr.add_argument("--split", default="test")
    rr.add_argument("--limit", type=_count(1), help="only the first N utterances (smoke tests)")
    rr.add_argument(
        "--install",
        action="store_true",
        help="install the requested package and version into its own virtual environment and run it there, "
        "without the Hub token (environments under $KODEK_CACHE/requests)",
    )
    rr.add_argument("--revision", default="main", help="revision of the data source (default main)")
    rr.add_argument("--label", help=argparse.SUPPRESS)  # where the request came from, for the isolated run
    rr.add_argument("--publish", metavar="ORG/NAME", help="then upload the codec's results to this results repo")
    rr.add_argument("--workers", type=_count(1))
    rr.add_argument("--listen", type=_count(0), default=3, help="listening examples kept (default 3)")
    rr.add_argument("--random-weights", action="store_true", help="random weights (pipeline checks, never scores)")
    rr.add_argument("--seed", type=int, default=0)
    rr.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    rr.set_defaults(func=cmd_run_request)

    pr = sub.add_parser("publish-results", help="validate results and upload them to a results repo")
    pr.add_argument("results", help="results folder")
    pr.add_argument("--repo", required=True, help="ORG/NAME")
    pr.add_argument("--codec", action="append", help="only these codec ids (repeatable; default: all)")
    pr.add_argument("--pr", action="store_true", help="open a pull request instead of committing to main")
    pr.add_argument("--allow-random-weights", action="store_true", help="upload random-weight runs too")
    pr.set_defaults(func=cmd_publish_results)

    ps = sub.add_parser(
        "publish-space", help="maintainers: publish the leaderboard Space and the metric modules with this kodek"
    )
    ps.add_argument("--repo", required=True, help="the leaderboard Space (ORG/NAME)")
    ps.add_argument("--source", default=".", help="the kodek checkout to build and publish (default: .)")
    ps.add_argument("--metrics-org", help="where the metric modules go (default: the Space's organisation)")
    ps.add_argument("--wheel", help="a kodek wheel already built (default: build one from --source)")
    ps.add_argument("--private", action="store_true")
    ps.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    ps.set_defaults(func=cmd_publish_space)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    bt = bench.add_parser("tokenize", help="pipeline vs pure forward, batched vs one-by-one")
    bt.add_argument("--codec", required=True)
    bt.add_argument("--data", default="sample", help=DATA_HELP + " (default: sample)")
    bt.add_argument("--split", default="test")
    bt.add_argument("--batch-seconds", type=float, help="default: by device, as kodek tokenize")
    bt.add_argument("--max-batch", type=int, help="default: by device, as kodek tokenize")
    bt.add_argument("--repeat", type=int, default=3, help="timings are the best of N runs (default 3)")
    bt.add_argument("--random-weights", action="store_true")
    bt.add_argument("--device", default="cpu")
    bt.add_argument("--kmeans", help="SSL codecs: where their fitted centroids are (default: KODEK_KMEANS, if set)")
    bt.add_argument("--json", action="store_true")
    bt.set_defaults(func=cmd_bench_tokenize)

    bs = bench.add_parser("score", help="utterances/s of PESQ+STOI+speaker similarity, 1 worker vs all cores")
    bs.add_argument("--repeat-data", type=int, default=4, help="copies of the bundled sample's test split (default 4)")
    bs.add_argument(
        "--speaker-model",
        help="default: microsoft/wavlm-base-plus-sv if cached, else its architecture with random weights "
        "('random' forces that)",
    )
    bs.add_argument("--model-device", help="torch device of the speaker model (default: cuda if present)")
    bs.add_argument("--repeat", type=int, default=2, help="timings are the best of N runs (default 2)")
    bs.add_argument("--target-utterances", type=int, help="project the time for this many utterances")
    bs.add_argument("--target-hours", type=float, help="project the time for this many hours of audio")
    bs.add_argument("--json", action="store_true")
    bs.set_defaults(func=cmd_bench_score)

    lm = sub.add_parser("lm", help="SpeechLLM: codec tokens into a frozen LLM through a trained adapter")
    lm = lm.add_subparsers(dest="lm_command", required=True)
    helps = {
        "train": "train the adapter on the train split (early stopping on validation; resumable)",
        "eval": "transcript perplexity and bits per character on test: prior, init and trained adapter",
        "speech": "speech-only LM on the codes: bits per second of test audio",
    }
    for name, func in (("train", cmd_lm_train), ("eval", cmd_lm_eval), ("speech", cmd_lm_speech)):
        cmd = lm.add_parser(name, help=helps[name])
        _lm_args(cmd)
        if name != "speech":
            cmd.add_argument("--runs", default="lm-runs", help="run folders: RUNS/<codec>/<config> (default lm-runs)")
            cmd.add_argument("--run", help="this run folder instead of RUNS/<codec>/<config>")
        if name != "train":
            cmd.add_argument("--out", default="results", help="results folder (default results)")
        cmd.set_defaults(func=func)
    bl = bench.add_parser("lm", help="adapter training throughput vs the frozen LLM's own forward+backward")
    _lm_args(bl)
    bl.add_argument("--repeat", type=int, default=3, help="timings are the best of N runs (default 3)")
    bl.add_argument(
        "--train-hours",
        type=float,
        help="project the wall time for a train split of this many hours (default: the tokens')",
    )
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(func=cmd_bench_lm)

    bb = bench.add_parser(
        "leaderboard", help="page loads and widget changes in headless Chromium, against a hello-world page"
    )
    bb.add_argument("--results", help="a results folder (default: synthetic results, --codecs x --subsets)")
    bb.add_argument("--codecs", type=int, default=50)
    bb.add_argument("--subsets", type=int, default=12)
    bb.add_argument("--repeat", type=int, default=5, help="page loads per view (medians; default 5)")
    bb.add_argument("--screenshots", metavar="DIR", help="also save every view at 1400 and 800 px wide here")
    bb.add_argument("--json", action="store_true")
    bb.set_defaults(func=cmd_bench_leaderboard)

    km = sub.add_parser("kmeans", help="k-means quantisers of the SSL tokenizers")
    km = km.add_subparsers(dest="kmeans_command", required=True)
    kf = km.add_parser("fit", help="fit an SSL model's layer-L k-means on Polish training audio")
    kf.add_argument("--codec", help="an SSL codec id, e.g. hubert-base-l9-k500")
    kf.add_argument("--model", help="or the SSL model (hubert-base, mhubert-147, wav2vec2-base, xlsr-300m, ...)")
    kf.add_argument("--layer", type=int, help="transformer layer (default: the model's)")
    kf.add_argument("--k", type=int, default=500, help="number of clusters (default 500)")
    kf.add_argument("--data", default="bigos", help=DATA_HELP + " (default: bigos)")
    kf.add_argument("--split", default="train")
    kf.add_argument("--max-hours", type=float, help="fit on a random subset of at most this much audio")
    kf.add_argument("--out", required=True, help="folder that receives kmeans/<codec_id>/")
    kf.add_argument("--token", help="Hub token (default: the usual Hub login / HF_TOKEN)")
    _codec_args(kf)
    kf.set_defaults(func=cmd_kmeans_fit)

    be = bench.add_parser("env", help="a codec in its isolated environment: worker overhead vs the model's own time")
    be.add_argument("--codec", required=True)
    be.add_argument("--seconds", type=float, default=4.0, help="length of the longest utterance (default 4)")
    be.add_argument("--batch", type=int, default=4)
    be.add_argument("--repeat", type=int, default=3, help="timings are the best of N runs (default 3)")
    be.add_argument("--random-weights", action="store_true")
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=cmd_bench_env)

    env = sub.add_parser("env", help="isolated environments of codec families with conflicting pins")
    env = env.add_subparsers(dest="env_command", required=True)
    eb = env.add_parser("build", help="build the environment of a family (or by its name) with uv")
    eb.add_argument("name", nargs="+", help="family (e.g. xcodec2) or environment name (e.g. torch-audio)")
    eb.add_argument("--force", action="store_true", help="rebuild even if it is there")
    eb.add_argument("--quiet", action="store_true", help="no uv output")
    el = env.add_parser("list", help="declared environments: families, built or not, size, install time")
    el.add_argument("--json", action="store_true")
    for command in (eb, el):
        command.add_argument("--cache", help="folder of the environments (default: KODEK_ENV_CACHE or the user cache)")
    eb.set_defaults(func=cmd_env_build)
    el.set_defaults(func=cmd_env_list)

    demo = sub.add_parser("demo", help="tokenize + score the bundled sample with every codec that runs here")
    demo.add_argument("--out", default="demo-out")
    demo.add_argument("--split", default="test")
    demo.add_argument("--codec", action="append", help="only these codec ids (repeatable)")
    demo.add_argument("--workers", type=int)
    demo.set_defaults(func=cmd_demo)
    return parser


def _metric_names() -> str:
    from kodek.metrics.registry import METRICS

    return ",".join(METRICS)


def _version() -> str:
    from kodek import __version__

    return f"kodek {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    import logging
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `kodek codecs list | head` ends quietly

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        _check_outputs(args)
        _check_devices(args)
        return int(args.func(args) or 0)
    except KodekError as error:
        print(f"kodek: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kodek: interrupted (a rerun with the same arguments resumes)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
