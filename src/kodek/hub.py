"""All Hugging Face Hub I/O of kodek: repo ids, upload, download, pull requests.

The token comes from the usual Hub environment (``HF_TOKEN``, ``hf auth login``)
and is never printed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kodek.errors import KodekError

# The Hub's own rule for a namespace or a name: letters, digits, '-', '_', '.'; starting and ending with a
# letter or digit; no '--' or '..'; at most 96 characters; a name never ends in '.git'.
_PART = r"(?!.*(?:--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?"
REPO_ID = re.compile(rf"^{_PART}/(?!.*\.git$){_PART}$")
NEVER_PUBLISHED = [".kodek-work/**", "**/.kodek-work/**", ".kodek.lock", "**/.*.tmp-*"]


class HubError(KodekError, RuntimeError):
    pass


def check_repo_id(repo: str) -> str:
    if not REPO_ID.match(repo):
        raise HubError(
            f"invalid Hub repo id {repo!r}: expected ORG/NAME (letters, digits, '-', '_', '.'; "
            "no '--' or '..', no leading or trailing '-' or '.', no '.git' at the end)"
        )
    return repo


def _transport_error() -> type[Exception]:
    """The HTTP client's base error class (huggingface_hub's client raises it for connection failures)."""
    try:
        import httpx2 as httpx
    except ImportError:  # older huggingface_hub releases use httpx
        import httpx
    return httpx.HTTPError


def _explain(error: BaseException, endpoint: str) -> str:
    """What a Hub client failure means for the user, in one line."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, and this needs the Hub"
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status == 401:
            return "the Hub refused the credentials: log in again (`hf auth login`) or pass another --token"
        if status == 403:
            return "the token has no access to this repo: use a token with write access, or ask for access"
        if status is not None and status >= 500:
            return f"the Hub answered HTTP {status} (a server error): try again later"
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"cannot reach the Hub at {endpoint} ({reason}); check the network or HF_ENDPOINT"


@contextlib.contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Turn a Hub client failure into one line that says what failed and what to do."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        yield
    except KodekError:
        raise
    except LocalEntryNotFoundError as error:  # the Hub failed and nothing is cached: the cause says why
        raise HubError(f"{what}: {_explain(error.__cause__ or error, endpoint)}") from None
    except (HfHubHTTPError, OfflineModeIsEnabled, _transport_error(), ConnectionError, TimeoutError) as error:
        raise HubError(f"{what}: {_explain(error, endpoint)}") from None


@dataclass
class Published:
    repo: str
    revision: str  # the commit now at the head of the target ref
    changed: bool  # False when the content was already there (no commit made)
    pr_url: str | None = None

    def summary(self) -> str:
        if not self.changed:
            return f"{self.repo}: already up to date at {self.revision[:12]} (nothing to publish)"
        where = f"pull request {self.pr_url}" if self.pr_url else f"commit {self.revision[:12]}"
        return f"{self.repo}: published as {where}"


def publish_folder(
    folder: Path,
    repo: str,
    *,
    repo_type: str = "dataset",
    create_pr: bool = False,
    private: bool = False,
    message: str | None = None,
    token: str | bool | None = None,
    patterns: list[str] | None = None,
) -> Published:
    """Create the repo if needed and upload ``folder`` in one commit (or one pull request).

    Re-publishing identical content makes no commit: the client compares file
    hashes with the Hub's before committing. ``patterns`` uploads only the files
    that match them.
    """
    from huggingface_hub import HfApi

    check_repo_id(repo)
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder}: no such folder")
    api = HfApi(token=token)
    with hub_errors(f"publishing {folder} to {repo}"):
        api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True)
        before = api.repo_info(repo, repo_type=repo_type).sha
        info = api.upload_folder(
            repo_id=repo,
            repo_type=repo_type,
            folder_path=folder,
            commit_message=message or f"kodek: upload {folder.name}",
            create_pr=create_pr,
            allow_patterns=patterns,
            ignore_patterns=NEVER_PUBLISHED,
        )
    pr_url = getattr(info, "pr_url", None)
    changed = bool(pr_url) or info.oid != before
    return Published(repo, info.oid, changed, pr_url)


def download_folder(
    repo: str,
    *,
    repo_type: str = "dataset",
    revision: str | None = None,
    patterns: list[str] | None = None,
    token: str | bool | None = None,
) -> Path:
    from huggingface_hub import snapshot_download

    check_repo_id(repo)
    with hub_errors(f"downloading {repo}"):
        return Path(
            snapshot_download(repo, repo_type=repo_type, revision=revision, allow_patterns=patterns, token=token)
        )


# -- results and requests repos (the leaderboard's data and its submissions) -------------------------

RESULTS_JSON = "*/*.json"
REQUESTS_DIR = "requests"


def download_results(repo: str, *, revision: str | None = None, token: str | bool | None = None) -> Path:
    """The results JSON files of a results repo (no per-utterance tables, no audio), from the local cache."""
    return download_folder(repo, revision=revision, patterns=[RESULTS_JSON], token=token)


def list_repo_files(
    repo: str, *, revision: str | None = None, repo_type: str = "dataset", token: str | bool | None = None
) -> list[str]:
    from huggingface_hub import HfApi

    check_repo_id(repo)
    with hub_errors(f"listing {repo}"):
        return HfApi(token=token).list_repo_files(repo, repo_type=repo_type, revision=revision)


def download_file(
    repo: str, path: str, *, revision: str | None = None, repo_type: str = "dataset", token: str | bool | None = None
) -> Path:
    from huggingface_hub import hf_hub_download

    check_repo_id(repo)
    with hub_errors(f"downloading {path} from {repo}"):
        return Path(hf_hub_download(repo, path, repo_type=repo_type, revision=revision, token=token))


def open_request(
    content: bytes, path_in_repo: str, repo: str, *, message: str, token: str | bool | None = None
) -> Published:
    """Open a pull request that adds one request file to the requests repo (created if needed)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    check_repo_id(repo)
    api = HfApi(token=token)
    with hub_errors(f"opening a pull request on {repo}"):
        api.create_repo(repo, repo_type="dataset", exist_ok=True)
        info = api.create_commit(
            repo,
            [CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=content)],
            commit_message=message,
            repo_type="dataset",
            create_pr=True,
        )
    return Published(repo, info.oid, True, info.pr_url)


def request_files(repo: str, pr: int, *, max_bytes: int, token: str | bool | None = None) -> dict[str, bytes | None]:
    """The request files a pull request of the requests repo adds or changes: path -> content.

    A file larger than ``max_bytes`` is not downloaded: its content is None.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import EntryNotFoundError

    check_repo_id(repo)
    api = HfApi(token=token)
    revision = f"refs/pr/{int(pr)}"

    def tree(rev: str | None) -> dict[str, tuple[int, str]]:
        try:
            items = api.list_repo_tree(repo, REQUESTS_DIR, recursive=True, revision=rev, repo_type="dataset")
            return {f.path: (f.size, f.blob_id) for f in items if getattr(f, "size", None) is not None}
        except EntryNotFoundError:
            return {}

    with hub_errors(f"{repo} pull request {pr}"):
        base, head = tree(None), tree(revision)
    changed: dict[str, bytes | None] = {}
    for path, (size, blob) in sorted(head.items()):
        if not path.endswith(".json") or base.get(path, (None, None))[1] == blob:
            continue
        too_big = size > max_bytes
        changed[path] = None if too_big else download_file(repo, path, revision=revision, token=token).read_bytes()
    return changed


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub endpoint answers at all (the demo goes offline at once when not)."""
    import os
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(f"{endpoint}/api/whoami-v2", timeout=timeout)
    except urllib.error.HTTPError:
        return True  # it answered (401 without a token)
    except OSError:
        return False
    return True
