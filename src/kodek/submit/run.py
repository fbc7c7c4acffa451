"""``kodek run-request``: a maintainer's run of a request. The request is checked against the installed package
(or installed into its own environment, without the maintainer's Hub credentials), the codec is checked,
tokenized and scored, and the results are written (and published when asked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kodek import submissions
from kodek.submit import SubmitError
from kodek.submit.checks import DEFAULT_SPLIT, Check, declared_entry_points, local_checks
from kodek.submit.publish import publish_results


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


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
# Reads the installed distribution's own metadata with the isolated environment's Python (kodek is visible there).
_DIST_FACTS = (
    "import json, sys; from kodek.submit.checks import declared_entry_points; "
    "print(json.dumps(declared_entry_points(sys.argv[1])))"
)


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
    name, version, points = json.loads(_run([str(python), "-c", _DIST_FACTS, request["package"]], "", env))
    return python, check_entry_point(request, name, version, points)


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
    check = check_entry_point(request, *declared_entry_points(entry.source))
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


@dataclass(frozen=True)
class RunSettings:
    """How a request is run; the same settings reach the isolated environment's own ``kodek run-request``."""

    data: str = "bigos"
    split: str = DEFAULT_SPLIT
    random_weights: bool = False
    seed: int = 0
    limit: int | None = None
    workers: int | None = None
    listen: int = 3
    source_label: str = "file"
    revision: str = "main"

    def arguments(self) -> list[str]:
        """These settings as ``kodek run-request`` options."""
        args = ["--data", self.data, "--split", self.split, "--listen", str(self.listen), "--seed", str(self.seed)]
        args += ["--label", self.source_label, "--revision", self.revision]
        args += ["--limit", str(self.limit)] * (self.limit is not None)
        args += ["--workers", str(self.workers)] * (self.workers is not None)
        return args + ["--random-weights"] * self.random_weights


def run_request(
    request: dict[str, Any],
    results: Path,
    tokens: Path,
    settings: RunSettings | None = None,
    *,
    install: bool = False,
    publish_repo: str | None = None,
    token: str | bool | None = None,
) -> RunReport:
    """Check, tokenize, score and record one request (in its own environment with ``install``); publish the
    results to ``publish_repo`` when given."""
    from kodek import results as results_io

    settings = settings or RunSettings()
    run = _run_isolated if install else _run_here
    checks = run(request, results, tokens, settings, token)
    codec_id = request["codec_id"]
    report = RunReport(codec_id, checks, results_io.results_path(results, codec_id, "reconstruction"))
    if publish_repo:
        report.published = publish_results(results, publish_repo, codecs=[codec_id], token=token).summary()
    return report


def _run_here(
    request: dict[str, Any], results: Path, tokens: Path, settings: RunSettings, token: str | bool | None
) -> list[Check]:
    """Check, tokenize and score the installed codec; its results record the request they answer."""
    from kodek.codecs import build_codec
    from kodek.data.source import load_source
    from kodek.metrics.score import score
    from kodek.tokenize.pipeline import tokenize
    from kodek.tokenize.reader import open_tokens

    codec_id = installed_entry(request).spec.id
    _, checks = local_checks(codec_id, random_weights=settings.random_weights, seed=settings.seed)
    if not all(c.passed for c in checks):
        raise SubmitError(f"{codec_id} fails the checks:\n  " + "\n  ".join(c.line() for c in checks))
    codec = build_codec(codec_id, random_weights=settings.random_weights, seed=settings.seed)
    source = load_source(settings.data, settings.split, token=token, revision=settings.revision)
    tokenize(codec, source, tokens, limit=settings.limit, progress=False)
    request_facts = {
        "codec_id": codec_id,
        "package": request["package"],
        "version": request["version"],
        "entry_point": request.get("entry_point"),
        "source": settings.source_label,
        "checks": {c.name: asdict(c) for c in checks},
    }
    score(
        open_tokens(tokens, codec_id),
        results,
        split=settings.split,
        workers=settings.workers,
        listen=settings.listen,
        progress=False,
        extra={"request": request_facts},
    )
    return checks


def _run_isolated(
    request: dict[str, Any], results: Path, tokens: Path, settings: RunSettings, token: str | bool | None
) -> list[Check]:
    """``run-request --install``: the submission is installed and run in its own environment, without the
    maintainer's Hub credentials; the source audio is fetched here first (with them) and read from the cache
    there. Only the publishing of the results, which runs none of the submission's code, uses the token."""
    import dataclasses
    import tempfile

    from kodek.data.source import load_source

    source = load_source(settings.data, settings.split, token=token, revision=settings.revision)
    python, check = isolated_install(request, _environments_root())
    if not check.passed:
        raise SubmitError(f"{request['codec_id']}: {check.detail}")
    there = dataclasses.replace(settings, revision=source.revision or settings.revision)  # its audio is cached now
    home = python.parent.parent
    with tempfile.TemporaryDirectory(prefix="kodek-request-") as folder:
        path = Path(folder, "request.json")
        path.write_bytes(submissions.request_bytes(request))
        command = [str(python), "-m", "kodek", "run-request", str(path), "--results", str(results)]
        command += ["--tokens", str(tokens), *there.arguments()]
        done = subprocess.run(command, env=credential_free_env(home, offline=True))
    if done.returncode:
        raise SubmitError(
            f"the run in the isolated environment {home} failed (exit status {done.returncode}; see above)"
        )
    return [check]


def _environments_root() -> Path:
    """Where ``run-request --install`` keeps one virtual environment per requested package and version."""
    base = os.environ.get("KODEK_CACHE") or Path.home() / ".cache" / "kodek"
    return Path(base) / "requests"
