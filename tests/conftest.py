"""Test session set-up: offline Hub environment, a local test Hub server, shared fixtures.

The Hub clients read HF_ENDPOINT/HF_HOME at import time, so they are set in
``pytest_configure``, before any test module imports huggingface_hub, datasets or
transformers. Every Hub call of the suite goes to the local test server on
127.0.0.1: a ``from_pretrained`` of a real checkpoint fails at once instead of
reaching out. Runs that select the ``weights`` or ``network`` markers keep the
user's Hub (endpoint, cache, token): those tests load real checkpoints.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubserver import HubServer, free_port

_HOME = Path(tempfile.mkdtemp(prefix="kodek-tests-"))
_PORT = free_port()


def _selects_real_hub(markexpr: str) -> bool:
    """`pytest -m weights` or `-m network`: those tests need the real Hub (or the user's Hub cache)."""
    return re.search(r"(?<!not )\b(weights|network)\b", markexpr) is not None


def pytest_configure(config):
    """Runs before any test module imports huggingface_hub, datasets or transformers."""
    if _selects_real_hub(config.option.markexpr or ""):
        return  # the user's endpoint, cache and token
    os.environ.update(
        {
            "HF_ENDPOINT": f"http://127.0.0.1:{_PORT}",
            "HF_HOME": str(_HOME / "hf-home"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "TQDM_DISABLE": "1",
        }
    )
    os.environ.pop("HF_TOKEN", None)
    os.environ.pop("HF_HUB_OFFLINE", None)


@pytest.fixture(scope="session")
def hub():
    """The local test Hub server all Hub clients of the session talk to."""
    with HubServer(_HOME / "hub-store", port=_PORT) as server:
        yield server


@pytest.fixture(scope="session")
def sample_test():
    from kodek.data.source import load_source

    return load_source("sample", "test")


@pytest.fixture(scope="session")
def encodec_random(random_codec):
    """EnCodec 6 kbps with seeded random weights (codebooks seeded from data)."""
    return random_codec("encodec-24khz-6kbps")


@pytest.fixture
def tone():
    """A 1 s gliding tone at 16 kHz."""
    t = np.arange(16_000) / 16_000
    return (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32)


def wav_bytes(wave: np.ndarray, rate: int = 16_000, subtype: str = "FLOAT") -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def make_source(items: list[tuple[str, bytes]], split: str = "test", subset: str = "synthetic"):
    """A Source in the BIGOS schema from (audioname, audio file bytes) pairs."""
    import datasets

    from kodek.data.source import Source

    rows = {
        "audioname": [name for name, _ in items],
        "dataset": [subset] * len(items),
        "split": [split] * len(items),
        "speaker_id": ["spk"] * len(items),
        "ref_orig": [f"zdanie {i}" for i in range(len(items))],
        "audio": [{"bytes": data, "path": None} for _, data in items],
        "audio_duration_seconds": [1.0] * len(items),
    }
    dataset = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(decode=False))
    return Source("synthetic", None, split, dataset)


def kill_at_the_second_part(monkeypatch):
    """A resumable run (the scorer, the tokenizer) dies, as if killed, when it writes its second part: the first
    part stays on disk. Returns a function that puts the real part writer back, for the resumed run."""
    from kodek.files import PartStore

    real = PartStore.write
    calls = {"n": 0}

    def dies_at_the_second_part(self, table):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, table)

    monkeypatch.setattr(PartStore, "write", dies_at_the_second_part)
    return lambda: monkeypatch.setattr(PartStore, "write", real)


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest registers the page as ``__main__``; forkserver workers started later by the
    scorer would re-import it. Put the real ``__main__`` back after every test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


def built_env(env) -> Path:
    """An isolated codec environment's folder, built once per machine into the user cache (seconds with uv's
    cache warm, minutes cold); the test skips, saying why, where it cannot be built (no package registry)."""
    from kodek.envs import EnvError, build

    try:
        return build(env, quiet=True)
    except EnvError as error:
        pytest.skip(f"the {env.name} environment cannot be built here: {error}")


@pytest.fixture(scope="session")
def random_codec():
    """``random_codec(codec_id)``: a random-weight codec built once per session (ids that share a model share it)."""
    from kodek.codecs import build_codec

    built: dict = {}

    def get(codec_id: str):
        if codec_id not in built:
            built[codec_id] = build_codec(codec_id, random_weights=True)
        return built[codec_id]

    return get


@contextlib.contextmanager
def started_together(builders: dict[str, Callable[[], Any]]) -> Iterator[dict[str, Any]]:
    """Codecs of isolated environments (name -> how to build it), built at once and stopped together at the end.

    Each worker imports torch and builds its model in a process of its own, so two of them start in about the time
    of one on a 2-core machine; they are stopped when the test module is done with them (each holds GBs: kept for
    the whole session, they add up past the memory of a small machine)."""
    from concurrent.futures import ThreadPoolExecutor

    from kodek.codecs.registry import registry

    registry()  # the entry points are read once, before the threads
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(build) for name, build in builders.items()}
    built = {name: future.result() for name, future in futures.items() if future.exception() is None}
    try:
        failed = next((future.exception() for future in futures.values() if future.exception()), None)
        if failed is not None:
            raise failed
        yield built
    finally:
        for codec in built.values():
            codec.close()


@contextlib.contextmanager
def random_codecs(env, codec_ids) -> Iterator[dict[str, Any]]:
    """``started_together`` for registered codecs of the isolated environment ``env``, with random weights (the
    environment is built first, or the tests skip and say why)."""
    from kodek.codecs import build_codec

    built_env(env)
    with started_together({i: functools.partial(build_codec, i, random_weights=True) for i in codec_ids}) as codecs:
        yield codecs


# -- set-ups started ahead of their tests ---------------------------------------------------------------------

_AHEAD: dict[str, Callable[[], contextlib.AbstractContextManager]] = {}
_head_start: HeadStart | None = None


def started_ahead(setup: Callable[[], contextlib.AbstractContextManager]):
    """A module fixture named as ``setup`` (a function that returns a context manager yielding the fixture's value)
    whose set-up runs mostly in other processes: isolated-environment workers, the authors' reference runs, a
    two-process training run. Once the session's tests are collected, the set-ups they need start in the
    background, so that they overlap the tests that run before them."""
    _AHEAD[setup.__name__] = setup

    @pytest.fixture(scope="module", name=setup.__name__)
    def fixture():
        with _head_start.take(setup.__name__) as value:
            yield value

    return fixture


class HeadStart:
    """Enters ``started_ahead`` set-ups on a background thread, one at a time, in the order the tests first need
    them, with at most ``held`` entered and not yet released (each can hold GBs). A set-up the tests reach first is
    entered in their own thread."""

    def __init__(self, names: list[str], held: int = 2) -> None:
        self.pending = list(names)
        self.free = held
        self.entered: dict[str, tuple[contextlib.AbstractContextManager | None, Any, BaseException | None]] = {}
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._ahead, name="head-start", daemon=True)
        self.thread.start()

    def _claim(self, name: str) -> bool:
        """Under the lock: take ``name`` off the pending list (and a slot) if nobody has started it."""
        if name not in self.pending:
            return False
        self.pending.remove(name)
        self.free -= 1
        return True

    def _enter(self, name: str) -> None:
        try:
            setup = _AHEAD[name]()
            outcome = (setup, setup.__enter__(), None)
        except BaseException as error:  # a skip (environment cannot be built) or a failure: the tests report it
            outcome = (None, None, error)
        with self.changed:
            self.entered[name] = outcome
            self.changed.notify_all()

    def _ahead(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: not self.pending or self.free > 0)
                if not self.pending:
                    return
                name = self.pending[0]
                self._claim(name)
            self._enter(name)

    @contextlib.contextmanager
    def take(self, name: str) -> Iterator[Any]:
        with self.changed:
            here = self._claim(name)
        if here:
            self._enter(name)
        with self.changed:
            self.changed.wait_for(lambda: name in self.entered)
            setup, value, error = self.entered.pop(name)
        try:
            if error is not None:
                raise error
            yield value
        finally:
            try:
                if setup is not None:
                    setup.__exit__(None, None, None)
            finally:
                with self.changed:
                    self.free += 1
                    self.changed.notify_all()

    def close(self) -> None:
        """At the end of the session: start nothing more; release what no test took (a test run cut short)."""
        with self.changed:
            self.pending.clear()
            self.changed.notify_all()
        self.thread.join()
        for setup, _, _ in self.entered.values():
            if setup is not None:
                setup.__exit__(None, None, None)


def pytest_collection_finish(session):
    global _head_start
    items = [] if session.config.option.collectonly else session.items
    needed = dict.fromkeys(name for item in items for name in item.fixturenames if name in _AHEAD)
    _head_start = HeadStart(list(needed))


def pytest_sessionfinish(session):
    if _head_start is not None:
        _head_start.close()


def padding_changes_codes(codec, seconds=(0.6, 0.3), seed: int = 1) -> bool:
    """Whether a padded batch changes the shorter item's codes, computed in float64 (so round-off
    cannot explain a difference): true for codecs that must be encoded one utterance at a time."""
    import torch

    from kodek.audio import pad_batch
    from kodek.codecs.init import calibration_audio

    rate = codec.spec.sample_rate
    waves = [calibration_audio(rate, s, seed=seed + k) for k, s in enumerate(seconds)]
    codec.to("cpu", torch.float64)
    try:
        batched, frames = codec.encode(*pad_batch(waves, codec.pad_multiple))
        single, f = codec.encode(*pad_batch(waves[1:], codec.pad_multiple))
    finally:
        codec.to("cpu", torch.float32)
    return bool((single[0, :, : f[0]] != batched[1, :, : frames[1]]).any())
