"""A SIGKILLed ``kodek score`` leaves no worker or forkserver process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _session_members(session: int) -> list[int]:
    """Pids of the live (not zombie) processes in ``session``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == session:  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s  # how long to wait for processes, not a speed limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_scorer_leaves_no_orphans(tmp_path, sample_test):
    from kodek.codecs import build_codec
    from kodek.tokenize.pipeline import tokenize

    tokenize(build_codec("mulaw-8khz"), sample_test, tmp_path / "tokens", progress=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "kodek", "score", "--tokens", str(tmp_path / "tokens"), "--codec", "mulaw-8khz"]
    command += ["--out", str(tmp_path / "results"), "--metrics", "pesq_wb,stoi,estoi", "--workers", "2"]
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # The scorer, its forkserver and at least one worker running.
        started = _wait_for(lambda: len(_session_members(process.pid)) >= 3 or process.poll() is not None, 300)
        assert started and process.poll() is None, process.stderr.read().decode()[-2000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert _wait_for(lambda: not _session_members(process.pid), 60), _session_members(process.pid)
    finally:
        for pid in _session_members(process.pid):
            os.kill(pid, signal.SIGKILL)
