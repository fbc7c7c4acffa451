"""Submitting a codec: ``kodek submit`` (authors), ``kodek run-request`` and ``kodek publish-results`` (maintainers).

An author publishes a Python package that registers the codec through the
``kodek.codecs`` entry-point group. ``kodek submit --codec ID`` checks it locally
(spec facts, a round trip on the bundled sample, batched encoding equal to one by
one) and writes a request JSON, or opens it as a pull request on the requests
repo. A maintainer's ``kodek run-request`` checks the request against the
installed package, tokenizes and scores, and writes (or publishes) the results
that the leaderboard then shows.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kodek import audio, submissions
from kodek.errors import KodekError

PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_SPLIT = "test"


class SubmitError(KodekError, RuntimeError):
    pass


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        return f"[{'ok' if self.passed else 'FAILED'}] {self.name}" + (f": {self.detail}" if self.detail else "")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- local checks ---------------------------------------------------------------------------------------


def check_spec(entry) -> Check:
    """Facts a spec must state for its results to be comparable and reproducible."""
    spec = entry.spec
    problems = []
    if entry.source == "kodek":
        problems.append("built into kodek (nothing to submit)")
    if spec.unsupported:
        problems.append(f"marked unsupported: {spec.unsupported}")
    if not spec.license:
        problems.append("no licence")
    if spec.bitrate_bps <= 0 or spec.frame_rate <= 0:
        problems.append("bitrate and frame rate must be positive")
    if spec.checkpoint is not None and not PINNED_REVISION.match(spec.checkpoint.revision):
        problems.append(f"checkpoint revision {spec.checkpoint.revision!r} is not a pinned 40-hex commit")
    detail = "; ".join(problems) or (
        f"{spec.kind}, {spec.sample_rate} Hz, {spec.frame_rate:g} frames/s, "
        f"{spec.num_codebooks} codebooks, {spec.bitrate_bps / 1000:g} kbps"
    )
    return Check("spec facts", not problems, detail)


def _sample_waves(sample_rate: int, limit: int | None) -> list[np.ndarray]:
    from kodek.data.source import load_source

    rows = load_source("sample", DEFAULT_SPLIT).dataset
    count = len(rows) if limit is None else min(limit, len(rows))
    return [audio.load_audio(rows[i]["audio"]["bytes"], sample_rate)[0] for i in range(count)]


def check_round_trip(codec, waves: list[np.ndarray]) -> tuple[Check, Any, Any]:
    """Encode the sample in one padded batch: codes in range, frame counts and rate as declared; decode back."""
    from kodek.codecs.base import check_codes

    spec = codec.spec
    batch, lengths = audio.pad_batch(waves, codec.pad_multiple)
    codes, frames = codec.encode(batch, lengths)
    check_codes(codes, spec)
    hop = spec.sample_rate / spec.frame_rate
    for n, f in zip(lengths, frames, strict=True):
        expected = n / hop
        if abs(f - expected) > 2 + 0.01 * expected:
            raise SubmitError(f"{int(n)} samples gave {int(f)} frames; the spec's frame rate says about {expected:.0f}")
    measured = float(frames.sum() / (lengths.sum() / spec.sample_rate))
    detail = f"{len(waves)} utterances, {measured:.2f} frames/s measured"
    if spec.has_decoder:
        out, out_lengths = codec.decode(codes, frames)
        if not np.isfinite(out).all():
            raise SubmitError("the decoded audio has NaN or inf samples")
        for n, m in zip(lengths, out_lengths, strict=True):
            if abs(int(m) - int(n)) > max(2 * hop, 0.05 * n):
                raise SubmitError(f"{int(n)} samples decoded to {int(m)}")
        detail += ", decoded lengths match"
    else:
        detail += " (no decoder: encode only)"
    return Check("round trip on the bundled sample", True, detail), codes, frames


def check_batched(codec, waves: list[np.ndarray], codes: np.ndarray, frames: np.ndarray) -> Check:
    """Every utterance encoded alone gives the codes it got inside the padded batch."""
    name = "batched == one-by-one"
    if not codec.batch_invariant:
        return Check(name, True, "the codec declares batch_invariant=False: kodek encodes it one utterance at a time")
    equal = total = 0
    for k, wave in enumerate(waves):
        single, f = codec.encode(*audio.pad_batch([wave], codec.pad_multiple))
        a, b = single[0, :, : f[0]], codes[k, :, : frames[k]]
        if a.shape != b.shape:
            return Check(name, False, f"utterance {k}: {a.shape[1]} frames alone, {b.shape[1]} in the batch")
        equal += int((a == b).sum())
        total += a.size
    share = equal / total if total else 1.0
    return Check(name, share == 1.0, f"{share:.4%} of codes equal")


def local_checks(codec_id: str, *, random_weights: bool = False, seed: int = 0, limit: int | None = None):
    """Run every check on a registered codec; returns (registry entry, checks)."""
    from kodek.codecs import build_codec
    from kodek.codecs.registry import registry

    entry = registry().get(codec_id)
    checks = [check_spec(entry)]
    if not checks[0].passed:
        return entry, checks
    try:
        codec = build_codec(codec_id, random_weights=random_weights, seed=seed)
    except KodekError as error:
        return entry, [*checks, Check("build", False, str(error))]
    checks.append(
        Check("build", True, f"{codec.num_parameters():,} parameters" + (" (random weights)" * random_weights))
    )
    waves = _sample_waves(codec.spec.sample_rate, limit)
    try:
        check, codes, frames = check_round_trip(codec, waves)
    except (KodekError, ValueError) as error:
        return entry, [*checks, Check("round trip on the bundled sample", False, str(error))]
    checks += [check, check_batched(codec, waves, codes, frames)]
    return entry, checks


# -- the request ------------------------------------------------------------------------------------------


def distribution_facts(entry) -> tuple[str, str, str | None]:
    """(package, version, 'name = module:attr') of the distribution that registered ``entry``."""
    from kodek.codecs.registry import ENTRY_POINT_GROUP

    dist = importlib.metadata.distribution(entry.source)
    points = [p for p in dist.entry_points if p.group == ENTRY_POINT_GROUP]
    point = f"{points[0].name} = {points[0].value}" if len(points) == 1 else None
    return dist.metadata["Name"], dist.version, point


def make_request(entry, checks: list[Check], *, contact: str, license: str | None = None, description: str = ""):
    """The request JSON for a checked codec (validated; raises SubmitError with every problem)."""
    from kodek import __version__
    from kodek.provenance import now

    package, version, point = distribution_facts(entry)
    spec = entry.spec
    data: dict[str, Any] = {
        "request_version": submissions.REQUEST_VERSION,
        "codec_id": spec.id,
        "package": package,
        "version": version,
        "checkpoint": {"repo": spec.checkpoint.repo, "revision": spec.checkpoint.revision} if spec.checkpoint else None,
        "license": license or spec.license,
        "contact": contact,
        "spec": json.loads(spec.to_json()),
        "checks": {c.name: {"passed": c.passed, "detail": " ".join(c.detail.split())[:500]} for c in checks},
        "kodek_version": __version__,
        "submitted_via": "cli",
        "date": now(),
    }
    if point:
        data["entry_point"] = point
    if description:
        data["description"] = description
    errors = submissions.validate_request(data, taken=submissions.builtin_codec_ids())
    if errors:
        raise SubmitError("the request is not valid:\n  " + "\n  ".join(errors))
    return data


@dataclass
class Submitted:
    request: dict[str, Any]
    checks: list[Check]
    path: Path | None = None
    pr_url: str | None = None


def submit(
    codec_id: str,
    *,
    contact: str,
    license: str | None = None,
    description: str = "",
    out: Path | None = None,
    repo: str | None = None,
    random_weights: bool = False,
    seed: int = 0,
    token: str | bool | None = None,
) -> Submitted:
    """Check a codec, write its request to ``out`` and/or open it as a pull request on ``repo``."""
    entry, checks = local_checks(codec_id, random_weights=random_weights, seed=seed)
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n  ".join(c.line() for c in checks)
        raise SubmitError(f"{codec_id} did not pass the local checks; no request written:\n  {lines}")
    request = make_request(entry, checks, contact=contact, license=license, description=description)
    done = Submitted(request, checks)
    content = submissions.request_bytes(request)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
        done.path = out
    if repo is not None:
        from kodek.hub import HubError, open_request

        try:
            published = open_request(
                content,
                submissions.request_path(codec_id),
                repo,
                message=f"Request: benchmark {codec_id} ({request['package']} {request['version']})",
                token=token,
            )
        except HubError as error:
            raise SubmitError(f"could not open the pull request (the request is in {out}): {error}") from None
        done.pr_url = published.pr_url
    return done


# -- maintainers: run a request ------------------------------------------------------------------------------


def read_request(
    source: str, *, repo: str | None = None, pr: int | None = None, token: str | bool | None = None
) -> dict[str, Any]:
    """A validated request from a file, or from pull request ``pr`` of the requests repo ``repo``."""
    taken = submissions.builtin_codec_ids()
    if repo is not None:
        path, content = _request_from_pr(repo, pr, token)
    else:
        try:
            with open(source, "rb") as file:  # no more than the limit is read
                path, content = source, file.read(submissions.MAX_REQUEST_BYTES + 1)
        except OSError as error:
            raise SubmitError(f"cannot read the request: {error}") from error
    data, errors = submissions.parse_request(content, taken=taken)
    if errors:
        raise SubmitError(f"{path}: invalid request:\n  " + "\n  ".join(errors))
    if repo is not None and path != submissions.request_path(data["codec_id"]):
        raise SubmitError(f"{path}: holds a request for {data['codec_id']!r}")
    return data


def _request_from_pr(repo: str, pr: int | None, token: str | bool | None) -> tuple[str, bytes]:
    from kodek.hub import request_files

    if pr is None:
        raise SubmitError("--repo needs --pr N: the pull request that holds the request")
    files = request_files(repo, pr, max_bytes=submissions.MAX_REQUEST_BYTES, token=token)  # HubError: one line
    if len(files) != 1:
        raise SubmitError(f"{repo} pull request {pr} changes {len(files)} request files; expected exactly one")
    path, content = next(iter(files.items()))
    if content is None:
        raise SubmitError(f"{path}: larger than {submissions.MAX_REQUEST_BYTES} bytes")
    return path, content


def install_command(request: dict[str, Any], python: str | Path = sys.executable) -> list[str]:
    return [str(python), "-m", "pip", "install", f"{request['package']}=={request['version']}"]


# Where the maintainer's Hub credentials live; none of them reaches a submission's code.
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN")
# Reads the installed distribution's own metadata, inside the isolated environment.
_DIST_FACTS = """
import importlib.metadata, json, sys
dist = importlib.metadata.distribution(sys.argv[1])
points = [f"{p.name} = {p.value}" for p in dist.entry_points if p.group == sys.argv[2]]
print(json.dumps({"name": dist.metadata["Name"], "version": dist.version, "entry_points": points}))
"""


def check_entry_point(request: dict[str, Any], name: str, version: str, points: list[str]) -> Check:
    """The request's package, version and entry point are the installed distribution's own (its metadata)."""
    from kodek.codecs.registry import ENTRY_POINT_GROUP

    problems = []
    if canonical(name) != canonical(request["package"]):
        problems.append(f"the installed distribution is {name!r}, not {request['package']!r}")
    if version != request["version"]:
        problems.append(f"{name} {version} is installed; the request names {request['version']}")
    if not points:
        problems.append(f"{name} declares no {ENTRY_POINT_GROUP} entry point")
    wanted = request.get("entry_point")
    if wanted is not None and " ".join(wanted.split()) not in points:
        problems.append(f"the request's entry point {wanted!r} is not one {name} declares ({'; '.join(points)})")
    detail = "; ".join(problems) or f"{name} {version}: {'; '.join(points)}"
    return Check("entry point", not problems, detail)


def credential_free_env(home: Path, *, offline: bool) -> dict[str, str]:
    """The environment a submission's code runs in: no Hub token variable, no stored token file."""
    env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES}
    env["HF_TOKEN_PATH"] = str(home / "no-token")
    env["HF_STORED_TOKENS_PATH"] = str(home / "no-stored-tokens")
    env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    env["VIRTUAL_ENV"] = str(home)
    env["PATH"] = f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if offline:
        env["HF_HUB_OFFLINE"] = "1"  # the source audio is already in the cache; nothing else is fetched
    return env


def isolated_install(request: dict[str, Any], root: Path) -> tuple[Path, Check]:
    """Install the requested package into its own virtual environment under ``root`` (the shared libraries
    of this environment stay visible underneath, never written to); returns its Python and the entry-point check."""
    import site
    import sysconfig

    from kodek.codecs.registry import ENTRY_POINT_GROUP

    home = root / f"{canonical(request['package'])}-{request['version']}"
    python = home / "bin" / "python"
    env = credential_free_env(home, offline=False)
    if not python.exists():
        _run([sys.executable, "-m", "venv", "--without-pip", str(home)], "creating the environment", env)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "", env)
    shared = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    overlay = "".join(f"import site; site.addsitedir({d!r})\n" for d in dict.fromkeys(shared))
    Path(purelib.strip(), "_kodek_shared.pth").write_text(overlay, encoding="utf-8")
    _run(install_command(request, python), f"installing {request['package']}=={request['version']}", env)
    facts = json.loads(_run([str(python), "-c", _DIST_FACTS, request["package"], ENTRY_POINT_GROUP], "", env))
    return python, check_entry_point(request, facts["name"], facts["version"], facts["entry_points"])


def _run(command: list[str], what: str, env: dict[str, str]) -> str:
    """Run a command; a failure is one line (the last line the command printed about it)."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise SubmitError(f"{what or command[0]} failed: {last}")
    return done.stdout


def installed_entry(request: dict[str, Any]):
    """The registry entry of the requested codec, checked against the request's package, version and spec."""
    from kodek.codecs.registry import registry

    codec_id = request["codec_id"]
    reg = registry()
    if codec_id not in reg.entries:
        errors = "; ".join(reg.load_errors)
        hint = f" (entry point errors: {errors})" if errors else ""
        raise SubmitError(
            f"{codec_id} is not registered here: install {request['package']}=={request['version']} first"
            f" (or pass --install){hint}"
        )
    entry = reg.entries[codec_id]
    if canonical(entry.source) != canonical(request["package"]):
        raise SubmitError(f"{codec_id} is registered by {entry.source!r}, not by {request['package']!r}")
    from kodek.codecs.registry import ENTRY_POINT_GROUP

    dist = importlib.metadata.distribution(entry.source)
    points = [f"{p.name} = {p.value}" for p in dist.entry_points if p.group == ENTRY_POINT_GROUP]
    check = check_entry_point(request, dist.metadata["Name"], dist.version, points)
    if not check.passed:
        raise SubmitError(f"{codec_id}: {check.detail}")
    spec = json.loads(entry.spec.to_json())
    if request.get("spec") is not None and request["spec"] != spec:
        changed = sorted(k for k in set(spec) | set(request["spec"]) if spec.get(k) != request["spec"].get(k))
        raise SubmitError(f"the installed spec of {codec_id} differs from the request's in: {', '.join(changed)}")
    checkpoint = request.get("checkpoint")
    if checkpoint and entry.spec.checkpoint and checkpoint["revision"] != entry.spec.checkpoint.revision:
        raise SubmitError(f"{codec_id}: the installed package pins another checkpoint revision than the request")
    return entry


@dataclass
class RunReport:
    codec_id: str
    checks: list[Check]
    results: Path
    published: str | None = None


def run_request(
    request: dict[str, Any],
    results: Path,
    tokens: Path,
    *,
    data: str = "bigos",
    split: str = DEFAULT_SPLIT,
    random_weights: bool = False,
    seed: int = 0,
    limit: int | None = None,
    install: bool = False,
    publish_repo: str | None = None,
    workers: int | None = None,
    listen: int = 3,
    source_label: str = "file",
    token: str | bool | None = None,
    revision: str = "main",
) -> RunReport:
    """Check, tokenize, score and record one request; publish the results when asked."""
    from kodek import results as results_io
    from kodek.codecs import build_codec
    from kodek.data.source import load_source
    from kodek.metrics.score import score
    from kodek.tokenize.pipeline import tokenize
    from kodek.tokenize.reader import open_tokens

    if install:
        return _run_isolated(
            request,
            results,
            tokens,
            data=data,
            split=split,
            random_weights=random_weights,
            seed=seed,
            limit=limit,
            publish_repo=publish_repo,
            workers=workers,
            listen=listen,
            source_label=source_label,
            token=token,
            revision=revision,
        )
    entry = installed_entry(request)
    codec_id = entry.spec.id
    _, checks = local_checks(codec_id, random_weights=random_weights, seed=seed)
    if not all(c.passed for c in checks):
        raise SubmitError(f"{codec_id} fails the checks:\n  " + "\n  ".join(c.line() for c in checks))
    codec = build_codec(codec_id, random_weights=random_weights, seed=seed)
    source = load_source(data, split, token=token, revision=revision)
    tokenize(codec, source, tokens, limit=limit, progress=False)
    scored = score(open_tokens(tokens, codec_id), results, split=split, workers=workers, listen=listen, progress=False)
    scored["request"] = {
        "codec_id": codec_id,
        "package": request["package"],
        "version": request["version"],
        "entry_point": request.get("entry_point"),
        "source": source_label,
        "checks": {c.name: asdict(c) for c in checks},
    }
    results_io.write_results(results, scored)
    report = RunReport(codec_id, checks, results_io.results_path(results, codec_id, "reconstruction"))
    if publish_repo:
        report.published = publish_results(results, publish_repo, codecs=[codec_id], token=token).summary()
    return report


def _run_isolated(request: dict[str, Any], results: Path, tokens: Path, **options: Any) -> RunReport:
    """``run-request --install``: the submission is installed and run in its own environment, without the
    maintainer's Hub credentials; the source audio is fetched here first (with them) and read from the cache
    there. Only the publishing of the results, which runs none of the submission's code, uses the token."""
    import tempfile

    from kodek import results as results_io
    from kodek.data.source import load_source

    token = options["token"]
    source = load_source(options["data"], options["split"], token=token, revision=options["revision"])
    python, check = isolated_install(request, _environments_root())
    if not check.passed:
        raise SubmitError(f"{request['codec_id']}: {check.detail}")
    with tempfile.TemporaryDirectory(prefix="kodek-request-") as folder:
        path = Path(folder, "request.json")
        path.write_bytes(submissions.request_bytes(request))
        command = [str(python), "-m", "kodek", "run-request", str(path), "--results", str(results)]
        command += ["--tokens", str(tokens), "--data", options["data"], "--split", options["split"]]
        command += [
            "--listen",
            str(options["listen"]),
            "--seed",
            str(options["seed"]),
            "--label",
            options["source_label"],
        ]
        command += ["--revision", source.revision] * bool(source.revision)  # its audio is in the cache now
        command += ["--limit", str(options["limit"])] * (options["limit"] is not None)
        command += ["--workers", str(options["workers"])] * (options["workers"] is not None)
        command += ["--random-weights"] * bool(options["random_weights"])
        home = python.parent.parent
        done = subprocess.run(command, env=credential_free_env(home, offline=True))
    if done.returncode:
        raise SubmitError(
            f"the run in the isolated environment {home} failed (exit status {done.returncode}; see above)"
        )
    codec_id = request["codec_id"]
    report = RunReport(codec_id, [check], results_io.results_path(results, codec_id, "reconstruction"))
    if options["publish_repo"]:
        report.published = publish_results(results, options["publish_repo"], codecs=[codec_id], token=token).summary()
    return report


def _environments_root() -> Path:
    """Where ``run-request --install`` keeps one virtual environment per requested package and version."""
    base = os.environ.get("KODEK_CACHE") or Path.home() / ".cache" / "kodek"
    return Path(base) / "requests"


# -- maintainers: publish results --------------------------------------------------------------------------------


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
