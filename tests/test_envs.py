"""Isolated codec environments: building them, the worker protocol, crashes, hangs and orphans.

A light environment (numpy only, built once per session with uv) runs a toy codec whose module lives
in a temporary folder put on the worker's import path, as a third-party codec's source would be.
The toy codec crashes on a sample of +1 and hangs on a sample of -1, so the tests can see what a
dying or hung model looks like from kodek's side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from kodek.codecs.base import CodecError
from kodek.codecs.isolated import IsolatedCodec, WorkerDied, WorkerTimeout
from kodek.codecs.spec import CodecSpec
from kodek.envs import EnvError, EnvSettings, EnvSpec, build, interpreter, is_built, record
from kodek.envs.protocol import read_message, stream_reader, write_message

from conftest import make_source, wav_bytes

LIGHT = EnvSpec("light-test", (f"numpy=={np.__version__}",), description="numpy only")

TOY = CodecSpec(
    id="toy-isolated",
    family="toy",
    kind="classic",
    sample_rate=16_000,
    frame_rate=4_000.0,
    num_codebooks=1,
    codebook_size=256,
    checkpoint=None,
    license="mit",
)

TOY_MODULE = textwrap.dedent(
    '''
    import os, time
    import numpy as np

    class Toy:
        """8-bit codes of every 4th sample; a sample of +1 kills the process, -1 hangs it."""
        batch_invariant = True
        pad_multiple = 4

        def __init__(self, spec, random_weights, seed):
            self.spec, self.random_weights, self.seed = spec, random_weights, seed

        def encode(self, waves, lengths):
            if (waves >= 1.0).any():
                os._exit(7)
            if (waves <= -1.0).any():
                time.sleep(3600)
            if np.isnan(waves).any():
                raise ValueError("NaN in the input")
            codes = np.clip(np.round(waves[:, ::4] * 127) + 128, 0, 255).astype(np.int64)
            return codes[:, None, :], -(-np.asarray(lengths) // 4)

        def decode(self, codes, frames):
            waves = np.repeat((codes[:, 0, :] - 128) / 127, 4, axis=1).astype(np.float32)
            return waves, np.asarray(frames) * 4

        def to(self, device, dtype=None):
            return self

        def num_parameters(self):
            return 0

        def num_frames(self, n):
            return -(-n // 4)

        def describe(self):
            return {"random_weights": self.random_weights, "toy": True}

    def build(spec, *, random_weights=False, seed=0):
        return Toy(spec, random_weights, seed)
    '''
)


@pytest.fixture(scope="session")
def light_settings(tmp_path_factory):
    """The light environment, built once per session (uv's own cache makes a rebuild take about a second)."""
    root = tmp_path_factory.mktemp("envs")
    (root / "src").mkdir()
    (root / "src" / "toy_codec.py").write_text(TOY_MODULE)
    settings = EnvSettings(cache=root / "cache", extra_paths=(root / "src",), call_timeout_s=30.0)
    try:
        build(LIGHT, settings, quiet=True)
    except EnvError as error:
        pytest.skip(f"cannot build an environment here: {error}")
    return settings


@pytest.fixture
def toy(light_settings):
    codec = IsolatedCodec(TOY, LIGHT, "toy_codec:build", random_weights=True, settings=light_settings)
    yield codec
    codec.close()


def expected_codes(waves: np.ndarray) -> np.ndarray:
    return np.clip(np.round(waves[:, ::4] * 127) + 128, 0, 255).astype(np.int64)[:, None, :]


@pytest.mark.parametrize(
    "arrays",
    [
        [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([5, 7], dtype=np.int64)],
        [np.zeros((0, 3), dtype=np.int16), np.array(2.5), np.array([[True, False]])],
        [],
    ],
)
def test_messages_carry_arrays_exactly(arrays):
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as out:
        write_message(out, {"op": "x", "n": 1}, arrays)
    with os.fdopen(read_fd, "rb") as source:
        header, received = read_message(stream_reader(source))
    assert header == {"op": "x", "n": 1}
    assert len(received) == len(arrays)
    for sent, got in zip(arrays, received, strict=True):
        assert got.dtype == sent.dtype and got.shape == sent.shape
        np.testing.assert_array_equal(got, sent)


def test_object_arrays_are_refused():
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as out, pytest.raises(TypeError):
        write_message(out, {}, [np.array([{"a": 1}], dtype=object)])
    os.close(read_fd)


def test_the_folder_follows_the_pins_and_the_cache_setting(tmp_path, monkeypatch):
    other = EnvSpec("light-test", (f"numpy=={np.__version__}", "soxr"))
    assert other.hash != LIGHT.hash and other.folder_name.startswith("light-test-")
    assert EnvSettings(cache=tmp_path).cache_dir == tmp_path
    monkeypatch.setenv("KODEK_ENV_CACHE", str(tmp_path / "from-env"))
    assert EnvSettings().cache_dir == tmp_path / "from-env"
    assert EnvSettings(cache=tmp_path).cache_dir == tmp_path  # the explicit setting wins
    monkeypatch.delenv("KODEK_ENV_CACHE")
    import platformdirs

    assert EnvSettings().cache_dir == Path(platformdirs.user_cache_dir("kodek")) / "envs"


def test_an_unbuilt_environment_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(EnvError, match="kodek env build light-test"):
        interpreter(LIGHT, EnvSettings(cache=tmp_path))


def test_a_build_records_what_it_installed(light_settings):
    assert is_built(LIGHT, light_settings)
    facts = record(LIGHT, light_settings)
    assert f"numpy=={np.__version__}" in facts["packages"]
    assert facts["hash"] == LIGHT.hash and facts["size_bytes"] > 1_000_000 and facts["install_seconds"] >= 0
    # the environment holds numpy only: kodek's other dependencies stay out of it
    python = interpreter(LIGHT, light_settings)
    done = subprocess.run([python, "-c", "import pyarrow"], capture_output=True, check=False)
    assert done.returncode != 0


def test_the_proxy_streams_batches_to_the_worker(toy):
    rng = np.random.default_rng(0)
    waves = (0.5 * rng.uniform(-1, 1, (3, 40))).astype(np.float32)
    lengths = np.array([40, 33, 17])
    codes, frames = toy.encode(waves, lengths)
    np.testing.assert_array_equal(codes, expected_codes(waves))
    np.testing.assert_array_equal(frames, [10, 9, 5])
    rec, rec_lengths = toy.decode(codes, frames)
    np.testing.assert_allclose(rec[:, ::4], (codes[:, 0] - 128) / 127, atol=1e-7)
    np.testing.assert_array_equal(rec_lengths, [40, 36, 20])
    assert toy.pad_multiple == 4 and toy.batch_invariant and toy.num_frames(17) == 5
    assert toy.describe()["toy"] and toy.describe()["environment"]["name"] == "light-test"


def test_a_codec_error_in_the_worker_is_a_codec_error_here(toy):
    waves = np.full((1, 8), np.nan, dtype=np.float32)
    with pytest.raises(CodecError, match=r"toy-isolated: ValueError: NaN in the input"):
        toy.encode(waves, np.array([8]))
    pid = toy.worker_pid
    toy.encode(np.zeros((1, 8), np.float32), np.array([8]))
    assert toy.worker_pid == pid  # the worker survived a Python error


def test_a_crashed_worker_names_the_codec_and_the_batch_and_restarts(toy):
    waves = np.zeros((2, 16000), dtype=np.float32)
    waves[1, 5] = 1.0
    first = toy.worker_pid
    with pytest.raises(WorkerDied) as caught:
        toy.encode(waves, np.array([16000, 8000]))
    message = str(caught.value)
    assert message.startswith("toy-isolated: worker in environment light-test died while encoding 2 utterance(s)")
    assert "exit code 7" in message and "\n" not in message
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)
    codes, _ = toy.encode(waves[:1], np.array([16000]))  # a fresh worker takes the next call
    assert toy.worker_pid != first and codes.shape == (1, 1, 4000)


def test_a_hung_worker_is_killed_after_the_timeout(light_settings):
    settings = EnvSettings(
        cache=light_settings.cache, extra_paths=light_settings.extra_paths, call_timeout_s=0.5, timeout_per_audio_s=0
    )
    codec = IsolatedCodec(TOY, LIGHT, "toy_codec:build", settings=settings)
    pid = codec.worker_pid
    waves = np.zeros((1, 16), dtype=np.float32)
    waves[0, 3] = -1.0
    with pytest.raises(WorkerTimeout, match=r"toy-isolated: worker in environment light-test did not answer in time"):
        codec.encode(waves, np.array([16]))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    codec.close()


def test_no_row_is_lost_when_the_worker_dies(toy, tmp_path):
    """The pipeline retries a failed batch one utterance at a time and records the one that kills the worker."""
    t = np.arange(8000) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    bad = tone.copy()
    bad[100] = 1.0
    items = [(f"utt-{i}", wav_bytes(bad if i == 2 else tone)) for i in range(4)]
    from kodek.tokenize.pipeline import tokenize

    stats = tokenize(toy, make_source(items), tmp_path, progress=False)
    assert stats.rows_written == 3
    assert [f["audioname"] for f in stats.failures] == ["utt-2"]
    assert "toy-isolated" in stats.failures[0]["reason"] and "died" in stats.failures[0]["reason"]


def test_a_worker_does_not_outlive_a_killed_parent(light_settings, tmp_path):
    src = str(light_settings.extra_paths[0])
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path[:0] = {[str(Path(__file__).parent)]!r}
        from test_envs import LIGHT, TOY
        from kodek.codecs.isolated import IsolatedCodec
        from kodek.envs import EnvSettings
        settings = EnvSettings(cache=Path({str(light_settings.cache)!r}), extra_paths=(Path({src!r}),))
        codec = IsolatedCodec(TOY, LIGHT, "toy_codec:build", settings=settings)
        print(codec.worker_pid, flush=True)
        import numpy as np
        codec.encode(np.full((1, 8), -1.0, np.float32), np.array([8]))  # the worker is busy (hangs) from here
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(worker, 0)  # running
    time.sleep(1.0)  # let the parent send the request that keeps the worker busy: only the watchdog can stop it
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(300):  # the worker checks its parent every second
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent")


def test_env_list_and_build_on_the_command_line(tmp_path, capsys):
    from kodek.cli import main

    assert main(["env", "list", "--json", "--cache", str(tmp_path)]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    torch_audio = rows["torch-audio"]
    assert not torch_audio["built"] and {"xcodec2", "neucodec", "bigcodec"} <= set(torch_audio["families"])
    assert "torch==2.11.0" in torch_audio["requirements"] and "torchaudio==2.11.0" in torch_audio["requirements"]
    # the authors' packages for the conformance tests: listed, no codec runs in them
    for name in ("moshi", "descript-dac"):
        assert rows[name]["families"] == [] and rows[name]["description"].startswith("test-only")
    assert main(["env", "list", "--cache", str(tmp_path)]) == 0
    assert "test-only: torch 2.9 + moshi 0.2.13" in capsys.readouterr().out
    assert main(["env", "build", "no-such-family", "--cache", str(tmp_path)]) == 2
    assert "no isolated environment for 'no-such-family'" in capsys.readouterr().err


def test_an_unbuilt_environment_shows_in_the_codec_list(tmp_path, monkeypatch):
    from kodek.codecs.registry import availability, build_codec, registry

    monkeypatch.setenv("KODEK_ENV_CACHE", str(tmp_path))
    state = availability(registry().get("xcodec2"))
    assert state.status == "needs-env" and state.env == "torch-audio" and state.runs_somewhere
    assert "kodek env build torch-audio" in state.reason
    with pytest.raises(EnvError, match="kodek env build torch-audio"):
        build_codec("xcodec2", random_weights=True)


def test_semanticodec_installs_from_a_pinned_github_commit_or_says_why(tmp_path, monkeypatch):
    from kodek.envs import SEMANTICODEC, SEMANTICODEC_COMMIT

    git_requirement = next(r for r in SEMANTICODEC.requirements if "git+" in r)
    assert git_requirement.endswith(f"@{SEMANTICODEC_COMMIT}") and len(SEMANTICODEC_COMMIT) == 40
    # GitHub made unreachable for git (as on a machine that only reaches the package registry)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "url.https://github.invalid/.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "https://github.com/")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # uv's first try at GitHub's files fails at once; no backed-off retries
    only_git = EnvSpec("semanticodec", (git_requirement,), needs=SEMANTICODEC.needs)
    with pytest.raises(EnvError) as caught:
        build(only_git, EnvSettings(cache=tmp_path), quiet=True)
    message = str(caught.value)
    assert message.startswith("building environment semanticodec failed at `")
    assert "needs access to GitHub" in message and "\n" not in message
    assert "`uv pip install`" in message
    assert not is_built(only_git, EnvSettings(cache=tmp_path))
    assert not [path for path in tmp_path.glob("semanticodec-*") if path.is_dir()]  # no half-built folder
