"""``kodek submit``: check a codec, then write its request JSON and/or open it as a pull request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kodek import submissions
from kodek.submit import SubmitError
from kodek.submit.checks import Check, declared_entry_points, local_checks


def make_request(entry, checks: list[Check], *, contact: str, license: str | None = None, description: str = ""):
    """The request JSON for a checked codec (validated; raises SubmitError with every problem)."""
    from kodek import __version__
    from kodek.provenance import now

    package, version, points = declared_entry_points(entry.source)
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
    if len(points) == 1:  # named only when it is the package's one codec entry point
        data["entry_point"] = points[0]
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
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(submissions.request_bytes(request))
        done.path = out
    if repo is not None:
        from kodek.hub import HubError

        try:
            done.pr_url = submissions.send_request(request, repo, token=token).pr_url
        except HubError as error:
            raise SubmitError(f"could not open the pull request (the request is in {out}): {error}") from None
    return done
