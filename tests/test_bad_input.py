"""Bad input, as a user with messy data meets it: every case ends in one clear line, a counted failure with its
reason, or a refusal before any work; never a traceback, a lost row or a row matched with another's audio."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from kodek import files
from kodek.cli import main
from kodek.codecs import build_codec
from kodek.codecs.init import calibration_audio
from kodek.tokenize import layout, pipeline
from kodek.tokenize.pipeline import TokenizeError, tokenize

from conftest import make_source, wav_bytes

SUBSET = "pwr-azon_read-20"
HEADER = ["audioname", "split", "dataset", "speaker_id", "ref_orig", "audiopath_bigos"]  # no durations: computed


def _wav(i: int) -> bytes:
    return wav_bytes(calibration_audio(16_000, 0.5 + 0.1 * i, seed=i), subtype="PCM_16")


GOOD = [f"{SUBSET}-test-{i:04d}" for i in range(3)]
# kind -> TSV lines (bytes) and archive members of the bad rows; each kind sits between good rows
BAD: dict[str, tuple[list[bytes], dict[str, bytes]]] = {
    "quote": ([f'quoted\ttest\t{SUBSET}\ts1\t"Cytat" na początku\tquoted.wav'.encode()], {"quoted": _wav(5)}),
    "latin2": (
        [f"latin2\ttest\t{SUBSET}\ts3\t".encode() + "zażółć".encode("iso-8859-2") + b"\tlatin2.wav"],
        {"latin2": _wav(4)},
    ),
    "unreadable": (
        [f"not-audio\ttest\t{SUBSET}\ts5\tnieczytelny plik\tnot-audio.wav".encode()],
        {"not-audio": b"this is not audio at all" * 40},
    ),
    "missing": ([f"not-in-archive\ttest\t{SUBSET}\ts6\tbrak pliku\tnot-in-archive.wav".encode()], {}),
    "truncated": (
        [f"truncated\ttest\t{SUBSET}\ts7\tucięty plik\ttruncated.wav".encode()],
        {"truncated": _wav(6)[: len(_wav(6)) // 2]},
    ),
    "duplicate": (
        [f"dup\ttest\t{SUBSET}\ts8\tpierwszy\tdup.wav".encode(), f"dup\ttest\t{SUBSET}\ts9\tdrugi\tdup.wav".encode()],
        {"dup": _wav(7)},
    ),
}


def _subset(kinds: list[str]) -> dict[str, bytes]:
    """A BIGOS-v2 subset in the raw layout (TSV + tar.gz, no durations): good rows with bad ones between them."""
    audio = {name: _wav(i) for i, name in enumerate(GOOD)}
    lines = ["\t".join(HEADER).encode()]
    for i, name in enumerate(GOOD):
        lines.append(f"{name}\ttest\t{SUBSET}\ts{i}\tdobre zdanie {i}\t{name}.wav".encode())
        for kind in kinds[i :: len(GOOD)]:
            lines += BAD[kind][0]
            audio |= BAD[kind][1]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in audio.items():
            info = tarfile.TarInfo(f"test/{name}.wav")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {
        "pl-asr-bigos-v2.py": b"# script\n",
        f"data/{SUBSET}/test.tsv": b"\n".join(lines) + b"\n",
        f"data/{SUBSET}/test.tar.gz": archive.getvalue(),
    }


@pytest.fixture(scope="module")
def bigos_with(hub):
    """``bigos_with(*kinds)``: the loaded split of a subset served by the test Hub with those bad rows."""
    from kodek.data.bigos import load_bigos

    def load(*kinds: str):
        repo = f"kodek-test/bigos-{'-'.join(kinds)}"
        hub.add_files("dataset", repo, _subset(list(kinds)), "subset with bad rows")
        return load_bigos(SUBSET, "test", repo=repo, token="t")

    return load


def _texts(split) -> dict[str, str]:
    return dict(zip(split.dataset["audioname"], split.dataset["ref_orig"], strict=True))


def _failed(split) -> dict[str, str]:
    return {f["audioname"]: f["reason"] for f in split.failures}


def test_a_transcript_starting_with_a_quote_stays_in_its_own_row(bigos_with):
    texts = _texts(bigos_with("quote"))
    assert texts["quoted"] == '"Cytat" na początku'
    assert texts[GOOD[1]] == "dobre zdanie 1" and len(texts) == 4  # the rows after it, not swallowed


def test_a_non_utf8_row_is_reported_and_the_rest_loads(bigos_with):
    split = bigos_with("latin2")
    assert sorted(_texts(split)) == GOOD
    assert "test.tsv line 3: not UTF-8 (byte 0xbf" in _failed(split)["latin2"]


def test_an_unreadable_file_without_durations_is_a_counted_failure(bigos_with):
    split = bigos_with("unreadable")
    assert sorted(_texts(split)) == GOOD and "cannot read the audio" in _failed(split)["not-audio"]


def test_audio_missing_from_the_archive_is_a_counted_load_failure(bigos_with):
    split = bigos_with("missing")
    assert sorted(_texts(split)) == GOOD
    failure = next(f for f in split.failures if f["audioname"] == "not-in-archive")
    assert failure["stage"] == "load" and failure["dataset"] == SUBSET and "not in the archive" in failure["reason"]


def test_duplicate_audionames_are_refused_never_cross_matched():
    items = [("a", _wav(0)), ("dup", _wav(1)), ("b", _wav(2)), ("dup", _wav(3))]
    source = make_source(items)
    assert source.dataset["audioname"] == ["a", "b"]  # neither copy can be scored against the other's audio
    assert [f["audioname"] for f in source.failures] == ["dup", "dup"]
    assert all("names 2 utterances" in f["reason"] and f["stage"] == "load" for f in source.failures)
    assert source.utterances_total == 4


def test_a_truncated_wav_is_refused_and_the_token_meta_counts_every_failure(bigos_with, tmp_path):
    from kodek.data.source import Source

    kinds = ["quote", "latin2", "unreadable", "missing", "truncated", "duplicate"]
    split = bigos_with(*kinds)
    source = Source("bigos", SUBSET, "test", split.dataset, "x/y", split.revision, "other", failures=split.failures)
    stats = tokenize(build_codec("identity-16khz"), source, tmp_path, progress=False)
    assert {f["audioname"]: f["stage"] for f in stats.failures} == {"truncated": "load"}
    assert "truncated WAV: the header announces" in stats.failures[0]["reason"]
    meta = json.loads((tmp_path / "data/identity-16khz/codec.json").read_text())
    assert meta["source"]["utterances_total"] == 3 + 7
    failed = sorted(f["audioname"] for f in meta["failures"])
    assert failed == ["dup", "dup", "latin2", "not-audio", "not-in-archive", "truncated"]
    assert all(set(f) >= {"audioname", "dataset", "stage", "reason"} and f["stage"] == "load" for f in meta["failures"])
    rows = pq.read_table(layout.split_files(tmp_path, "identity-16khz", "test")[0])
    assert sorted(rows["audioname"].to_pylist()) == sorted([*GOOD, "quoted"])
    assert rows.num_rows + len(meta["failures"]) == meta["source"]["utterances_total"]


# -- run folders ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seven():
    return make_source([(f"utt-{i}", wav_bytes(calibration_audio(16_000, 0.4 + 0.1 * i, seed=i))) for i in range(7)])


def test_a_limit_run_is_completed_by_the_full_run(tmp_path, seven):
    codec = build_codec("identity-16khz")
    tokenize(codec, seven, tmp_path, limit=3, progress=False)
    meta = json.loads((tmp_path / "data/identity-16khz/codec.json").read_text())
    assert meta["splits"]["test"]["partial"] is True
    stats = tokenize(codec, seven, tmp_path, progress=False)
    assert not stats.already_complete and stats.rows_resumed == 3 and stats.rows_written == 4
    rows = pq.read_table(layout.split_files(tmp_path, "identity-16khz", "test")[0])
    assert rows["audioname"].to_pylist() == [f"utt-{i}" for i in range(7)]
    meta = json.loads((tmp_path / "data/identity-16khz/codec.json").read_text())
    assert meta["splits"]["test"]["partial"] is False


def test_one_shard_scheme_per_folder_and_an_incomplete_set_never_loads_as_complete(tmp_path, seven):
    from kodek.tokenize.reader import TokensError, open_tokens

    codec = build_codec("identity-16khz")
    tokenize(codec, seven, tmp_path, shard=(0, 3), progress=False)
    with pytest.raises(TokenizeError, match=r"holds test in 3 shards; this run asks for 2"):
        tokenize(codec, seven, tmp_path, shard=(1, 2), progress=False)
    with pytest.raises(TokensError, match=r"incomplete: 1 of 3 shards finished"):
        open_tokens(tmp_path, "identity-16khz").table("test")
    assert "identity-16khz" not in (tmp_path / "README.md").read_text().split("---")[1]  # not offered to load
    tokenize(codec, seven, tmp_path, shard=(1, 3), progress=False)
    tokenize(codec, seven, tmp_path, shard=(2, 3), progress=False)
    assert open_tokens(tmp_path, "identity-16khz").table("test").num_rows == 7


def test_a_torn_last_line_of_the_failure_log_is_survived(tmp_path, monkeypatch):
    items = [("bad-1", b"not audio" * 50), ("ok-1", wav_bytes(calibration_audio(16_000, 0.5))), ("bad-2", b"x" * 99)]
    source = make_source(items)
    real = pipeline._encode_items
    calls = {"n": 0}

    def dies_on_the_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_encode_items", dies_on_the_second_chunk)
    codec = build_codec("identity-16khz")
    with pytest.raises(KeyboardInterrupt):
        tokenize(codec, source, tmp_path, chunk_size=1, progress=False)
    log = tmp_path / layout.WORK_DIR / "identity-16khz" / "test-00000-of-00001" / "failures.jsonl"
    with open(log, "a") as handle:
        handle.write('{"_index": 2, "audioname": "bad-2", "rea')  # killed mid-write
    monkeypatch.setattr(pipeline, "_encode_items", real)
    stats = tokenize(codec, source, tmp_path, chunk_size=1, progress=False)
    assert sorted(f["audioname"] for f in stats.failures) == ["bad-1", "bad-2"] and stats.rows_written == 1


def _session_members(sid: int) -> list[int]:
    """Processes of a session (what a killed command's children stay in unless they leave it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    members.append(int(entry.name))
            except OSError:  # gone meanwhile
                pass
    return members


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_killing_tokenize_leaves_no_process_behind(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    command = [sys.executable, "-m", "kodek", "tokenize", "--codec", "opus-6kbps", "--out", str(tmp_path)]
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    meta = tmp_path / "data" / "opus-6kbps" / "codec.json"
    while process.poll() is None and not meta.is_file():  # killed while it encodes
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for _ in range(100):  # a child that outlives its parent keeps the session
        if not _session_members(process.pid):
            break
        time.sleep(0.1)
    assert not _session_members(process.pid)


# -- the Hub -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["bad-token", 500, "drop"])
def test_hub_errors_are_one_line(hub, tmp_path, capsys, monkeypatch, fault):
    (tmp_path / "a.txt").write_text("x")
    monkeypatch.setenv("HF_TOKEN", "refused" if fault == "bad-token" else "t")
    hub.refused_tokens.add("refused")
    hub.fault = None if fault == "bad-token" else fault
    try:
        code = main(["publish", str(tmp_path), "--repo", "kodek-test/faults"])
        assert code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("kodek: error: publishing")
        expected = {"bad-token": "refused the credentials", 500: "HTTP 500", "drop": "cannot reach the Hub"}
        assert expected[fault] in err
        for command in (
            ["score", "--tokens", "kodek-test/faults", "--codec", "opus-6kbps", "--out", str(tmp_path / "r")],
            ["tokenize", "--codec", "opus-6kbps", "--data", f"bigos:{SUBSET}", "--out", str(tmp_path / "t")],
        ):
            code = main(command)
            err = capsys.readouterr().err
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    finally:
        hub.fault = None
        hub.refused_tokens.clear()


@pytest.mark.parametrize("repo", ["org/a--b", "org/name-", "org/name.", "org/name.git", "-org/name", "org/.name"])
def test_repo_ids_the_hub_refuses_are_refused_first(repo):
    from kodek.hub import HubError, check_repo_id

    with pytest.raises(HubError, match="invalid Hub repo id"):
        check_repo_id(repo)


def test_repo_ids_the_hub_accepts_pass():
    from kodek.hub import check_repo_id

    for repo in ("amu-cai/pl-asr-bigos-v2", "org/name.v1", "A_b/c-d_e.f"):
        assert check_repo_id(repo) == repo


# -- other user errors --------------------------------------------------------------------------------------


def test_cuda_without_cuda_is_one_line(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["tokenize", "--codec", "opus-6kbps", "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kodek: error: --device cuda: no CUDA device") and err.count("\n") == 1


def test_out_pointing_at_a_file_is_refused_before_any_work(capsys, tmp_path):
    file = tmp_path / "results.json"
    file.write_text("{}")
    assert main(["tokenize", "--codec", "opus-6kbps", "--out", str(file)]) == 2
    assert main(["score", "--tokens", str(tmp_path), "--codec", "opus-6kbps", "--out", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.count("is a file; name a folder") == 2 and "Traceback" not in err


@pytest.mark.parametrize("argument", [["--listen", "-1"], ["--limit", "0"], ["--workers", "0"]])
def test_negative_counts_are_refused(capsys, tmp_path, argument):
    with pytest.raises(SystemExit) as exit:
        main(["score", "--tokens", str(tmp_path), "--codec", "opus-6kbps", "--out", str(tmp_path), *argument])
    assert exit.value.code == 2 and "or more" in capsys.readouterr().err


def test_files_are_written_with_the_users_umask(tmp_path, seven):
    old = os.umask(0o022)
    try:
        tokenize(build_codec("identity-16khz"), seven, tmp_path, limit=2, progress=False)
        files.write_json(tmp_path / "results" / "x.json", {"a": 1})
    finally:
        os.umask(old)
    for path in ("data/identity-16khz/codec.json", "README.md", "results/x.json"):
        assert (tmp_path / path).stat().st_mode & 0o777 == 0o644, path
    for path in layout.split_files(tmp_path, "identity-16khz", "test"):
        assert path.stat().st_mode & 0o777 == 0o644


# -- own recordings ---------------------------------------------------------------------------------------------


def test_a_folder_of_recordings_is_a_data_source_for_tokenize_and_score(tmp_path, capsys):
    folder = tmp_path / "my-recordings"
    (folder / "clips").mkdir(parents=True)
    rows = ["path\ttext\tspeaker_id"]
    for i in range(3):
        (folder / "clips" / f"c{i}.wav").write_bytes(_wav(i))
        rows.append(f"clips/c{i}.wav\tzdanie numer {i}\tspk{i % 2}")
    rows.append("clips/missing.wav\tbrak\tspk0")
    (folder / "transcripts.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    tokens, results = tmp_path / "tokens", tmp_path / "results"
    assert main(["tokenize", "--codec", "identity-16khz", "--data", f"folder:{folder}", "--out", str(tokens)]) == 0
    printed = capsys.readouterr().out
    assert "1 of the 4 utterances" in printed and "failed: clips/missing: clips/missing.wav: no such file" in printed
    meta = json.loads((tokens / "data/identity-16khz/codec.json").read_text())
    assert meta["source"]["utterances_total"] == 4
    assert [f["audioname"] for f in meta["failures"]] == ["clips/missing"]
    args = ["--tokens", str(tokens), "--codec", "identity-16khz", "--out", str(results), "--workers", "1"]
    assert main(["score", *args, "--metrics", "pesq_wb,stoi", "--listen", "0"]) == 0
    data = json.loads((results / "identity-16khz" / "reconstruction.json").read_text())
    assert data["dataset"]["utterances"] == 3 and data["metrics"]["stoi"]["rec"]["mean"] > 0.999
    (folder / "clips" / "c0.wav").write_bytes(_wav(9))  # the folder changes under the tokens
    assert main(["score", *args, "--metrics", "stoi", "--listen", "0"]) == 2
    assert "changed since the tokens were made" in capsys.readouterr().err


def test_the_sample_failures_field_is_empty_but_present(tmp_path, sample_test):
    tokenize(build_codec("identity-16khz"), sample_test, tmp_path, limit=1, progress=False)
    meta = json.loads((tmp_path / "data/identity-16khz/codec.json").read_text())
    assert meta["failures"] == [] and meta["source"]["utterances_total"] == len(sample_test.dataset)
    assert np.isfinite(meta["splits"]["test"]["utterances_total"])
