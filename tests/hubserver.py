"""A local test Hub server: the subset of the Hugging Face Hub HTTP API that the real clients use.

``huggingface_hub`` (create_repo, upload_folder/create_commit with LFS, create_pr,
hf_hub_download, snapshot_download, list/tree/paths-info/refs/commits,
discussions) and ``datasets`` (``load_dataset("ns/name", config)``, streaming
included, through HfFileSystem range reads) run against it end to end, on
127.0.0.1 only. Standard library only; storage in a folder.

Clients read ``HF_ENDPOINT``/``HF_HOME`` at import time: set ``HF_ENDPOINT`` to
``http://127.0.0.1:<port>`` (see :func:`free_port`) and ``HF_HUB_DISABLE_XET=1``
before importing them, then start the server on that port.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (
    ".parquet",
    ".arrow",
    ".bin",
    ".safetensors",
    ".pt",
    ".ckpt",
    ".npy",
    ".npz",
    ".tar",
    ".gz",
    ".tgz",
    ".zip",
    ".wav",
    ".flac",
    ".mp3",
    ".ogg",
    ".pkl",
)
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def free_port() -> int:
    """A free TCP port on 127.0.0.1, to fix HF_ENDPOINT before the clients are imported."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class Entry:
    sha256: str
    size: int
    lfs: bool

    def oid(self, content: bytes) -> str:
        return self.sha256 if self.lfs else git_oid(content)


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, Entry]


@dataclass
class Repo:
    type: str
    id: str
    private: bool = False
    gated: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "main", "refs/pr/1" -> commit sha
    discussions: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=_now)


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class HubServer:
    """``with HubServer(tmp_path) as hub: ...`` -- ``hub.url`` is the endpoint."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, users: dict[str, str] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.users = users or {}
        self.unhandled: list[str] = []  # "METHOD path" of requests no route matched
        # Faults a test can switch on: every request answered with this HTTP status, or "drop" (the
        # connection closed without an answer, as a server that went away); tokens answered with 401.
        self.fault: int | str | None = None
        self.refused_tokens: set[str] = set()
        self.lock = threading.RLock()
        self._counter = itertools.count(1)
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests --------------------------------------------------------------------

    def set_gated(self, repo_type: str, repo_id: str, gated: bool = True) -> None:
        with self.lock:
            self._repo(repo_type, repo_id).gated = gated

    def add_files(
        self, repo_type: str, repo_id: str, files: dict[str, bytes], message: str = "add files", revision: str = "main"
    ) -> str:
        """Commit ``files`` directly (creating the repo if needed); returns the commit sha."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self._create(repo_type, repo_id, private=False)
            changes = {path: self._store(data, lfs=_is_lfs(path, data)) for path, data in files.items()}
            return self._commit(repo, revision, message, "", changes, set())

    # -- storage ----------------------------------------------------------------------------------

    def _store(self, data: bytes, *, lfs: bool) -> Entry:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / digest
        if not path.exists():
            path.write_bytes(data)
        return Entry(digest, len(data), lfs)

    def _read(self, entry: Entry) -> bytes:
        return (self.blobs / entry.sha256).read_bytes()

    def _create(self, repo_type: str, repo_id: str, *, private: bool) -> Repo:
        repo = Repo(repo_type, repo_id, private=private)
        self.repos[(repo_type, repo_id)] = repo
        files = {".gitattributes": self._store(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", lfs=False)}
        self._commit(repo, "main", "initial commit", "", files, set())
        return repo

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository Not Found: {repo_type}s/{repo_id}")
        return repo

    def _resolve(self, repo: Repo, revision: str) -> Commit:
        sha = repo.refs.get(revision) or repo.refs.get(revision.removeprefix("refs/heads/"))
        if sha is None and revision in repo.commits:
            sha = revision
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo.commits[sha]

    def _commit(
        self, repo: Repo, ref: str, title: str, message: str, changes: dict[str, Entry], deleted: set[str]
    ) -> str:
        parent = repo.refs.get(ref)
        files = dict(repo.commits[parent].files) if parent else {}
        for path in deleted:
            files = {p: e for p, e in files.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
        files.update(changes)
        sha = hashlib.sha1(f"{repo.id}{parent}{title}{next(self._counter)}{time.time()}".encode()).hexdigest()
        repo.commits[sha] = Commit(sha, parent, title, message, _now(), files)
        repo.refs[ref] = sha
        return sha


def _is_lfs(path: str, sample: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or b"\0" in sample[:512]


# -- HTTP ------------------------------------------------------------------------------------------

REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
API = rf"^/api/(?P<type>models|datasets|spaces)/{REPO}"
RESOLVE = re.compile(rf"^/(?P<prefix>datasets/|spaces/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/api/whoami-v2$"), "whoami"),
    ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("GET", re.compile(rf"{API}(?:/revision/(?P<rev>[^/]+))?$"), "repo_info"),
    ("GET", re.compile(rf"{API}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), "tree"),
    ("POST", re.compile(rf"{API}/paths-info/(?P<rev>[^/]+)$"), "paths_info"),
    ("GET", re.compile(rf"{API}/refs$"), "refs"),
    ("GET", re.compile(rf"{API}/commits/(?P<rev>[^/]+)$"), "commits"),
    ("POST", re.compile(rf"{API}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"{API}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("GET", re.compile(rf"{API}/discussions$"), "discussions"),
    ("GET", re.compile(rf"{API}/discussions/(?P<num>\d+)$"), "discussion"),
    ("POST", re.compile(rf"{API}/discussions/(?P<num>\d+)/(?P<action>status|merge)$"), "discussion_change"),
    ("POST", re.compile(rf"^/(?P<prefix>datasets/|spaces/)?{REPO}\.git/info/lfs/objects/batch$"), "lfs_batch"),
    ("PUT", re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$"), "lfs_put"),
    ("GET", RESOLVE, "resolve"),
    ("HEAD", RESOLVE, "resolve"),
]
PUBLIC = {"whoami", "create_repo", "validate_yaml", "lfs_put"}  # no per-repo gate


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _dispatch(self, method: str) -> None:
            if hub.fault == "drop":
                self.close_connection = True
                return
            auth = self.headers.get("Authorization", "")
            if isinstance(hub.fault, int) or auth[7:] in hub.refused_tokens:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status = hub.fault if isinstance(hub.fault, int) else 401
                self._error(HubError(status, None, "Internal Error" if status >= 500 else "Invalid credentials"))
                return
            parts = urlsplit(self.path)
            self.query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            for verb, pattern, action in ROUTES:
                match = pattern.match(parts.path)
                if verb == method and match:
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    try:
                        with hub.lock:
                            if action not in PUBLIC:
                                self._gate(args)
                            getattr(self, f"do_{action}")(**args)
                    except HubError as error:
                        self._error(error)
                    return
            hub.unhandled.append(f"{method} {self.path}")
            self._error(HubError(404, None, f"no route for {method} {parts.path}"))

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        # -- plumbing ----------------------------------------------------------------------

        @property
        def user(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return None
            return hub.users.get(auth[7:], "kodek-tester")

        def _gate(self, args: dict[str, str]) -> None:
            repo_type = _type(args)
            repo = hub.repos.get((repo_type, f"{args['ns']}/{args['name']}"))
            if repo is not None and repo.gated and self.user is None:
                raise HubError(401, "GatedRepo", "Access to this gated repo is restricted; log in to access it.")

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), headers)

        def _error(self, error: HubError) -> None:
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._json({"error": error.message}, error.status, headers)

        def _repo_of(self, args: dict[str, str]) -> Repo:
            return hub._repo(_type(args), f"{args['ns']}/{args['name']}")

        def _base(self, repo: Repo) -> str:
            return f"{hub.url}/{PREFIX[repo.type]}{repo.id}"

        # -- endpoints -----------------------------------------------------------------------

        def do_whoami(self) -> None:
            if self.user is None:
                raise HubError(401, None, "Invalid credentials in Authorization header")
            self._json(
                {
                    "type": "user",
                    "name": self.user,
                    "fullname": self.user,
                    "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
                }
            )

        def do_create_repo(self) -> None:
            payload = json.loads(self.body or b"{}")
            repo_type = payload.get("type") or "model"
            namespace = payload.get("organization") or self.user or "kodek-tester"
            repo_id = f"{namespace}/{payload['name']}"
            url = f"{hub.url}/{PREFIX[repo_type]}{repo_id}"
            if (repo_type, repo_id) in hub.repos:
                self._json({"error": "You already created this repo", "url": url}, 409)
                return
            hub._create(repo_type, repo_id, private=payload.get("visibility") == "private" or payload.get("private"))
            self._json({"url": url, "name": repo_id})

        def do_validate_yaml(self) -> None:
            self._json({"errors": [], "warnings": []})

        def do_repo_info(self, type: str, ns: str, name: str, rev: str = "main") -> None:
            repo = self._repo_of(locals())
            commit = hub._resolve(repo, rev)
            siblings = []
            for path, entry in sorted(commit.files.items()):
                sibling: dict[str, Any] = {"rfilename": path, "size": entry.size}
                if entry.lfs:
                    sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": 134}
                siblings.append(sibling)
            self._json(
                {
                    "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24],
                    "id": repo.id,
                    "author": repo.id.split("/")[0],
                    "sha": commit.sha,
                    "lastModified": commit.date,
                    "createdAt": repo.created,
                    "private": bool(repo.private),
                    "gated": "auto" if repo.gated else False,
                    "disabled": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "siblings": siblings,
                    "cardData": None,
                }
            )

        def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
            entry = commit.files[path]
            data: dict[str, Any] = {
                "type": "file",
                "oid": entry.oid(hub._read(entry)),
                "size": entry.size,
                "path": path,
            }
            if entry.lfs:
                data["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
            if expand:
                data["lastCommit"] = {"id": commit.sha, "title": commit.title, "date": commit.date}
            return data

        def _folder(self, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
            data: dict[str, Any] = {
                "type": "directory",
                "oid": hashlib.sha1(path.encode()).hexdigest(),
                "size": 0,
                "path": path,
            }
            if expand:
                data["lastCommit"] = {"id": commit.sha, "title": commit.title, "date": commit.date}
            return data

        def do_tree(self, type: str, ns: str, name: str, rev: str, path: str = "") -> None:
            repo = self._repo_of(locals())
            commit = hub._resolve(repo, rev)
            recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
            expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
            prefix = path.strip("/") + "/" if path.strip("/") else ""
            if prefix and not any(p.startswith(prefix) for p in commit.files):
                raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}")
            files, folders = [], set()
            for file in sorted(commit.files):
                if not file.startswith(prefix):
                    continue
                rest = file[len(prefix) :].split("/")
                for depth in range(1, len(rest)):
                    if recursive or depth == 1:
                        folders.add(prefix + "/".join(rest[:depth]))
                if recursive or len(rest) == 1:
                    files.append(self._entry(repo, commit, file, expand))
            self._json([self._folder(commit, f, expand) for f in sorted(folders)] + files)

        def do_paths_info(self, type: str, ns: str, name: str, rev: str) -> None:
            repo = self._repo_of(locals())
            commit = hub._resolve(repo, rev)
            form = parse_qs(self.body.decode())
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
            out = []
            for path in form.get("paths", []):
                path = path.strip("/")
                if path in commit.files:
                    out.append(self._entry(repo, commit, path, expand))
                elif any(p.startswith(path + "/") for p in commit.files):
                    out.append(self._folder(commit, path, expand))
            self._json(out)

        def do_refs(self, type: str, ns: str, name: str) -> None:
            repo = self._repo_of(locals())
            branches = [
                {"name": r, "ref": f"refs/heads/{r}", "targetCommit": s}
                for r, s in repo.refs.items()
                if not r.startswith("refs/")
            ]
            prs = [{"name": r, "ref": r, "targetCommit": s} for r, s in repo.refs.items() if r.startswith("refs/pr/")]
            converts = [
                {"name": r.split("/")[-1], "ref": r, "targetCommit": s}
                for r, s in repo.refs.items()
                if r.startswith("refs/convert/")
            ]
            self._json({"branches": branches, "converts": converts, "tags": [], "pullRequests": prs})

        def do_commits(self, type: str, ns: str, name: str, rev: str) -> None:
            repo = self._repo_of(locals())
            commit: Commit | None = hub._resolve(repo, rev)
            out = []
            while commit is not None:
                out.append(
                    {
                        "id": commit.sha,
                        "title": commit.title,
                        "message": commit.message,
                        "date": commit.date,
                        "authors": [{"user": "kodek-tester"}],
                    }
                )
                commit = repo.commits.get(commit.parent) if commit.parent else None
            self._json(out)

        def do_preupload(self, type: str, ns: str, name: str, rev: str) -> None:
            repo = self._repo_of(locals())
            try:
                files = hub._resolve(repo, rev).files
            except HubError:
                files = {}  # a new branch: nothing to compare with
            out = []
            for item in json.loads(self.body)["files"]:
                sample = base64.b64decode(item.get("sample", ""))
                lfs = _is_lfs(item["path"], sample) or item.get("size", 0) > 10_000_000
                existing = files.get(item["path"])
                oid = existing.oid(hub._read(existing)) if existing else None
                out.append(
                    {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
                )
            self._json({"files": out})

        def do_lfs_batch(self, ns: str, name: str, prefix: str = "") -> None:
            repo_type = {"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix]
            hub._repo(repo_type, f"{ns}/{name}")
            payload = json.loads(self.body)
            objects = []
            for obj in payload["objects"]:
                item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
                if not (hub.blobs / obj["oid"]).exists():
                    item["actions"] = {"upload": {"href": f"{hub.url}/lfs-upload/{obj['oid']}", "header": {}}}
                objects.append(item)
            self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

        def do_lfs_put(self, oid: str) -> None:
            if hashlib.sha256(self.body).hexdigest() != oid:
                raise HubError(400, None, "LFS upload does not match its oid")
            (hub.blobs / oid).write_bytes(self.body)
            self._send(200, b"")

        def do_commit(self, type: str, ns: str, name: str, rev: str) -> None:
            repo = self._repo_of(locals())
            lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
            header = next(line["value"] for line in lines if line["key"] == "header")
            changes: dict[str, Entry] = {}
            deleted: set[str] = set()
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    data = base64.b64decode(value["content"])
                    changes[value["path"]] = hub._store(data, lfs=False)
                elif key == "lfsFile":
                    if not (hub.blobs / value["oid"]).exists():
                        raise HubError(400, None, f"LFS object {value['oid']} was not uploaded")
                    changes[value["path"]] = Entry(value["oid"], int(value.get("size") or 0), True)
                elif key in ("deletedFile", "deletedFolder"):
                    deleted.add(value["path"])
            base = hub._resolve(repo, rev)
            pr_url = None
            ref = rev if rev.startswith("refs/pr/") else rev.removeprefix("refs/heads/")
            if self.query.get("create_pr", ["0"])[0] == "1":
                num = len(repo.discussions) + 1
                ref = f"refs/pr/{num}"
                repo.refs[ref] = base.sha
                repo.discussions.append(
                    {
                        "num": num,
                        "title": header["summary"],
                        "status": "open",
                        "isPullRequest": True,
                        "createdAt": _now(),
                        "base": base.sha,
                        "author": {"name": self.user or "kodek-tester"},
                        "target": rev,
                    }
                )
                pr_url = f"{self._base(repo)}/discussions/{num}"
            sha = hub._commit(repo, ref, header["summary"], header.get("description", ""), changes, deleted)
            self._json(
                {
                    "commitOid": sha,
                    "commitUrl": f"{self._base(repo)}/commit/{sha}",
                    "pullRequestUrl": pr_url,
                    "success": True,
                }
            )

        def _discussion(self, repo: Repo, item: dict[str, Any]) -> dict[str, Any]:
            keys = ("num", "title", "status", "isPullRequest", "createdAt", "author")
            return {**{k: item[k] for k in keys}, "repo": {"name": repo.id, "type": repo.type}}

        def do_discussions(self, type: str, ns: str, name: str) -> None:
            repo = self._repo_of(locals())
            status = self.query.get("status", ["all"])[0]
            kind = self.query.get("type", ["all"])[0]
            items = [
                self._discussion(repo, d)
                for d in reversed(repo.discussions)
                if status in ("all", d["status"]) and kind in ("all", "pull_request")
            ]
            self._json({"discussions": items, "count": len(items), "start": 0, "numClosedDiscussions": 0})

        def _get_discussion(self, repo: Repo, num: str) -> dict[str, Any]:
            index = int(num) - 1
            if not 0 <= index < len(repo.discussions):
                raise HubError(404, None, f"discussion {num} not found")
            return repo.discussions[index]

        def do_discussion(self, type: str, ns: str, name: str, num: str) -> None:
            repo = self._repo_of(locals())
            item = self._get_discussion(repo, num)
            changes = {"base": f"refs/heads/{item['target']}"}
            if item.get("mergeCommitId"):
                changes["mergeCommitId"] = item["mergeCommitId"]
            self._json(
                {**self._discussion(repo, item), "events": [], "changes": changes, "filesWithConflicts": [], "diff": ""}
            )

        def do_discussion_change(self, type: str, ns: str, name: str, num: str, action: str) -> None:
            repo = self._repo_of(locals())
            item = self._get_discussion(repo, num)
            if action == "merge":
                head = repo.commits[repo.refs[f"refs/pr/{item['num']}"]]
                base = repo.commits[item["base"]]
                changed = {p: e for p, e in head.files.items() if base.files.get(p) != e}
                removed = set(base.files) - set(head.files)
                item["mergeCommitId"] = hub._commit(
                    repo, item["target"], f"Merge pull request #{num}", "", changed, removed
                )
                item["status"] = "merged"
            else:
                item["status"] = json.loads(self.body or b"{}").get("status", item["status"])
            event = {
                "id": f"evt{num}{item['status']}",
                "type": "status-change",
                "createdAt": _now(),
                "author": {"name": self.user or "kodek-tester"},
                "data": {"status": item["status"]},
            }
            self._json({"newStatus": event})

        def do_resolve(self, ns: str, name: str, rev: str, path: str, prefix: str = "") -> None:
            repo_type = {"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix]
            repo = hub._repo(repo_type, f"{ns}/{name}")
            commit = hub._resolve(repo, rev)
            entry = commit.files.get(path)
            if entry is None:
                raise HubError(404, "EntryNotFound", f"{path} does not exist at {rev}")
            data = hub._read(entry)
            headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{entry.oid(data)}"', "Accept-Ranges": "bytes"}
            if entry.lfs:
                headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
            status = 200
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes="):
                start_text, _, end_text = ranged[6:].partition("-")
                if start_text:
                    start = int(start_text)
                    end = min(int(end_text), len(data) - 1) if end_text else len(data) - 1
                else:  # a suffix range: the last N bytes
                    start, end = max(0, len(data) - int(end_text)), len(data) - 1
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start : end + 1], 206
            self._send(status, data, headers, content_type="application/octet-stream")

    return Handler


def _type(args: dict[str, str]) -> str:
    if "type" in args:
        return args["type"][:-1]
    return {"": "model", "datasets/": "dataset", "spaces/": "space"}[args.get("prefix", "")]


__all__ = ["HubServer", "free_port", "git_oid"]
