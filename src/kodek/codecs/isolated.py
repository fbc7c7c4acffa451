"""A codec that runs in its own environment: a numpy ``Codec`` proxy in front of a worker process.

The proxy starts ``python -m kodek.codecs.worker`` with the environment's interpreter and streams
each padded batch to it (:mod:`kodek.envs.protocol`: raw arrays over pipes), so the pipeline and the
scorer see the same ``Codec`` protocol as for any other family. kodek's own package is put on the
worker's import path by a symlink to it alone (nothing else of the main environment leaks in).

A worker that dies or does not answer in time is killed and reported as a ``CodecError`` that names
the codec, the environment and the batch; the pipeline then retries one utterance at a time and
records the ones that still fail, so no row is lost. The next call starts a fresh worker.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs import base
from kodek.codecs.base import CodecError
from kodek.codecs.spec import CodecSpec
from kodek.envs import EnvSettings, EnvSpec, interpreter
from kodek.envs.protocol import read_message, write_message

log = logging.getLogger(__name__)


class WorkerTimeout(CodecError):
    pass


class WorkerDied(CodecError):
    pass


class Worker:
    """One worker process and the pipes to it."""

    def __init__(self, python: Path, paths: list[Path]) -> None:
        import kodek

        self.home = Path(tempfile.mkdtemp(prefix="kodek-worker-"))
        (self.home / "kodek").symlink_to(Path(kodek.__file__).resolve().parent, target_is_directory=True)
        child_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        child_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [self.home, *paths])
        self.process = subprocess.Popen(
            [str(python), "-m", "kodek.codecs.worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=child_env,
            cwd=self.home,
        )
        self.stderr: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=self._drain, daemon=True).start()
        self._finalizer = weakref.finalize(self, _stop, self.process, self.home)

    def _drain(self) -> None:
        for line in iter(self.process.stderr.readline, b""):  # type: ignore[union-attr]
            text = line.decode(errors="replace").rstrip()
            self.stderr.append(text)
            log.debug("worker: %s", text)

    def call(
        self, header: dict[str, Any], arrays: list[np.ndarray], timeout: float
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        try:
            write_message(self.process.stdin, header, arrays)  # type: ignore[arg-type]
        except (BrokenPipeError, OSError) as error:
            raise WorkerDied(self.exit_description()) from error
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]

        def read_into(view: memoryview) -> None:
            done = 0
            while done < len(view):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise WorkerTimeout(f"no answer within {timeout:.0f} s")
                count = os.readv(fd, [view[done:]])
                if count == 0:
                    raise WorkerDied(self.exit_description())
                done += count

        return read_message(read_into)

    def exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "closed its pipe"
        time.sleep(0.05)  # let the drain thread take the last lines
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        last = next((line for line in reversed(self.stderr) if line.strip()), "")
        return f"{how}; its last message: {last}" if last else how

    def stop(self, *, hung: bool = False) -> None:
        """Ask the worker to exit; a hung one is killed at once (it would not read the request)."""
        if hung and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._finalizer()


def _stop(process: subprocess.Popen, home: Path) -> None:
    if process.poll() is None:
        try:
            write_message(process.stdin, {"op": "close"})  # type: ignore[arg-type]
            process.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe:
            pipe.close()
    shutil.rmtree(home, ignore_errors=True)


class IsolatedCodec:
    """The ``Codec`` protocol, served by ``factory`` (``"module:callable"``) running inside ``env``."""

    def __init__(
        self,
        spec: CodecSpec,
        env: EnvSpec,
        factory: str,
        *,
        random_weights: bool = False,
        seed: int = 0,
        settings: EnvSettings | None = None,
    ) -> None:
        self.spec = spec
        self.env = env
        self.factory = factory
        self.random_weights = random_weights
        self.seed = seed
        self.settings = settings or EnvSettings()
        self.device = "cpu"
        self._dtype: str | None = None
        self._frames: dict[int, int] = {}
        self.last_worker_seconds = 0.0  # the model's own time in the last encode/decode (worker side)
        self._python = interpreter(env, self.settings)
        self._worker: Worker | None = None
        self.facts = self._start()

    # --- the worker's lifecycle -------------------------------------------------------------
    def _start(self) -> dict[str, Any]:
        self._worker = Worker(self._python, list(self.settings.extra_paths))
        request = {
            "op": "build",
            "factory": self.factory,
            "spec": self.spec.to_dict(),
            "random_weights": self.random_weights,
            "seed": self.seed,
        }
        facts = self._call(request, [], "building the model", self.settings.start_timeout_s, restart=False)
        if self.device != "cpu" or self._dtype:
            self._call({"op": "to", "device": self.device, "dtype": self._dtype}, [], "moving the model", 600)
        return facts

    def _call(
        self, header: dict[str, Any], arrays: list[np.ndarray], what: str, timeout: float, *, restart: bool = True
    ) -> tuple[dict[str, Any], list[np.ndarray]] | dict[str, Any]:
        if restart and (self._worker is None or self._worker.process.poll() is not None):
            self.facts = self._start()
        worker = self._worker
        assert worker is not None
        try:
            reply, results = worker.call(header, arrays, timeout)
        except (WorkerTimeout, WorkerDied) as error:
            worker.stop(hung=isinstance(error, WorkerTimeout))
            self._worker = None
            state = "did not answer in time (hung), killed it" if isinstance(error, WorkerTimeout) else "died"
            raise type(error)(
                f"{self.spec.id}: worker in environment {self.env.name} {state} while {what}: {error}"
            ) from None
        if not reply.pop("ok"):
            kind = getattr(base, reply.get("kind") or "", None)
            error_type = kind if isinstance(kind, type) and issubclass(kind, CodecError) else CodecError
            message = reply["error"]
            raise error_type(message if message.startswith(self.spec.id) else f"{self.spec.id}: {message}")
        return (reply, results) if header["op"] in ("encode", "decode") else reply

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    @property
    def worker_pid(self) -> int | None:
        return self._worker.process.pid if self._worker else None

    def _timeout(self, samples: int) -> float:
        return self.settings.call_timeout_s + self.settings.timeout_per_audio_s * samples / self.spec.sample_rate

    # --- the Codec protocol -----------------------------------------------------------------
    @property
    def pad_multiple(self) -> int:
        return int(self.facts["pad_multiple"])

    @property
    def batch_invariant(self) -> bool:
        return bool(self.facts["batch_invariant"])

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.asarray(lengths, dtype=np.int64)
        what = f"encoding {len(lengths)} utterance(s) of {lengths.sum() / self.spec.sample_rate:.1f} s"
        reply, (codes, frames) = self._call(
            {"op": "encode"}, [np.asarray(waves, np.float32), lengths], what, self._timeout(int(np.size(waves)))
        )
        self.last_worker_seconds = float(reply["seconds"])
        return codes, frames

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame_lengths = np.asarray(frame_lengths, dtype=np.int64)
        seconds = frame_lengths.sum() / self.spec.frame_rate
        samples = int(np.shape(codes)[0] * np.shape(codes)[-1] / self.spec.frame_rate * self.spec.sample_rate)
        reply, (waves, lengths) = self._call(
            {"op": "decode"},
            [np.asarray(codes, np.int64), frame_lengths],
            f"decoding {len(frame_lengths)} utterance(s) of {seconds:.1f} s",
            self._timeout(samples),
        )
        self.last_worker_seconds = float(reply["seconds"])
        return waves, lengths

    def num_frames(self, num_samples: int) -> int:
        if num_samples not in self._frames:
            reply = self._call({"op": "num_frames", "samples": [num_samples]}, [], "counting frames", 60)
            self._frames[num_samples] = reply["frames"][0]
        return self._frames[num_samples]

    def to(self, device: str, dtype: Any = None) -> IsolatedCodec:
        """Move the worker's model; ``dtype`` (``torch.float64`` or its name) as for torch codecs."""
        name = None if dtype is None else str(dtype).removeprefix("torch.")
        self._call({"op": "to", "device": device, "dtype": name}, [], f"moving the model to {device}", 600)
        self.device, self._dtype = device, name or self._dtype
        return self

    def num_parameters(self) -> int:
        return int(self.facts["num_parameters"])

    def save_artefacts(self, out: Path) -> None:
        """Nothing beyond the codes: the worker's model is named by its spec and checkpoint."""

    def describe(self) -> dict[str, Any]:
        """The worker codec's facts plus the environment it ran in."""
        from kodek.envs import record

        facts = record(self.env, self.settings) or {}
        return {
            **self.facts.get("describe", {}),
            "environment": {
                "name": self.env.name,
                "hash": self.env.hash,
                "python": self.facts.get("python"),
                "packages": [p for p in facts.get("packages", []) if _is_key_package(p)],
            },
        }


def _is_key_package(requirement: str) -> bool:
    name = requirement.split("==")[0].lower()
    return name in {
        "torch",
        "torchaudio",
        "transformers",
        "numpy",
        "bigcodec",
        "semanticodec",
        "timm",
        "dualcodec",
        "stable-codec",
        "stable-audio-tools",
    }


def snapshot(spec: CodecSpec) -> tuple[Path, str]:
    """The spec's checkpoint as a local folder (downloaded, or from the Hub cache offline) and the commit
    it resolved to. Used inside workers; a revision that is a branch is resolved here and recorded."""
    from huggingface_hub import snapshot_download

    ckpt = spec.checkpoint
    assert ckpt is not None
    try:
        folder = Path(snapshot_download(ckpt.repo, revision=ckpt.revision))
    except Exception as error:  # the Hub client raises many kinds: offline, gated, missing revision
        short = f"weights {ckpt.repo}@{ckpt.revision[:12]} could not be loaded ({type(error).__name__}; offline?)"
        raise base.WeightsUnavailableError(
            f"{spec.id}: cannot load weights {ckpt.repo}@{ckpt.revision[:12]} ({type(error).__name__}: {error}). "
            f"Run where the Hugging Face Hub is reachable, e.g. `kodek tokenize --codec {spec.id} --data bigos "
            "--split test --out DIR`, or pass --random-weights for an offline run of the architecture.",
            short=short,
        ) from None
    return folder, folder.name  # snapshots/<commit>


def random_transformers_model(model_class: Any, config: Any) -> Any:
    """A transformers model of ``config`` with random weights from the current torch seed, initialised once.

    The plain constructor fills every tensor twice: torch's defaults, then the model's own ``_init_weights``
    (transformers' scheme, also what ``from_pretrained`` gives missing weights). Built without storage first
    (meta device), the model gets only the second: seconds less for w2v-BERT 2.0's 580 M parameters. For the
    pinned X-Codec2, NeuCodec and w2v-BERT 2.0 models, every tensor was checked to be filled by that pass.
    """
    import torch

    with torch.device("meta"):
        model = model_class(config)
    model = model.to_empty(device="cpu")
    model.init_weights()
    return model


class WorkerCodec(base.TorchModule, base.HopFacts):
    """Shared pieces of the torch codecs that run inside a worker (self-contained: no torch at import).

    Subclasses set ``hop_length`` and implement ``encode_one`` / ``decode_one`` on one utterance;
    batches are encoded item by item, trimmed to their true lengths, so a batch equals one-by-one
    encoding exactly (``batch_invariant``) whatever the model's receptive field.
    """

    batch_invariant = True

    def __init__(self, spec: CodecSpec, model: Any, *, random_weights: bool, seed: int = 0, **facts: Any) -> None:
        self.spec = spec
        self.model = model.eval()
        self.random_weights = random_weights
        self.seed = seed
        self.device = "cpu"
        self.facts = facts  # e.g. the resolved checkpoint commit

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.facts}

    def encode_one(self, wave: np.ndarray) -> np.ndarray:
        """One utterance ``[T]`` -> codes ``[K, F]``."""
        raise NotImplementedError

    def decode_one(self, codes: np.ndarray) -> np.ndarray:
        """Codes ``[K, F]`` -> wave ``[T]`` at ``spec.sample_rate``."""
        raise NotImplementedError

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            items = [self.encode_one(wave[: int(n)]) for wave, n in zip(waves, lengths, strict=True)]
        frames = np.array([item.shape[-1] for item in items], dtype=np.int64)
        codes = np.zeros((len(items), self.spec.num_codebooks, int(frames.max(initial=0))), dtype=np.int64)
        for i, item in enumerate(items):
            codes[i, :, : item.shape[-1]] = item
        return codes, frames

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            items = [self.decode_one(c[:, : int(f)]) for c, f in zip(codes, frame_lengths, strict=True)]
        lengths = np.array([len(item) for item in items], dtype=np.int64)
        waves = np.zeros((len(items), int(lengths.max(initial=0))), dtype=np.float32)
        for i, item in enumerate(items):
            waves[i, : len(item)] = item
        return waves, lengths
