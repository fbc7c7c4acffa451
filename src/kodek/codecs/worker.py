"""The worker: runs one codec inside its environment and answers kodek's requests over stdin/stdout.

Started by ``kodek.codecs.isolated`` as ``python -m kodek.codecs.worker PARENT_PID``. It imports only
light kodek modules (spec, protocol) and the family's module named in the ``build`` request.
Its own stdout is moved to stderr first, so that nothing a library prints can corrupt the protocol.
It exits when its input closes or its parent dies (checked every second, also while it computes),
so a killed kodek leaves no worker behind.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import traceback
from typing import Any

import numpy as np

from kodek.envs.protocol import read_message, stream_reader, write_message


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(1.0)


def _torch_dtype(name: str | None) -> Any:
    if name is None:
        return None
    import torch

    return getattr(torch, name.removeprefix("torch."))


class Server:
    def __init__(self) -> None:
        self.codec: Any = None

    def handle(self, header: dict[str, Any], arrays: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        op = header["op"]
        if op == "build":
            from kodek.codecs.spec import CodecSpec

            module_name, _, attr = header["factory"].partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            spec = CodecSpec.from_dict(header["spec"])
            self.codec = factory(spec, random_weights=header["random_weights"], seed=header["seed"])
            self.codec.seed = header["seed"]
            return self.facts(), []
        if op == "to":
            dtype = _torch_dtype(header.get("dtype"))
            if dtype is None:
                self.codec.to(header["device"])
            else:
                self.codec.to(header["device"], dtype)
            return {}, []
        if op == "encode":
            tick = time.perf_counter()
            codes, frames = self.codec.encode(arrays[0], arrays[1])
            seconds = time.perf_counter() - tick  # the model's own time, for the overhead benchmark
            return {"seconds": seconds}, [np.asarray(codes, dtype=np.int64), np.asarray(frames, dtype=np.int64)]
        if op == "decode":
            tick = time.perf_counter()
            waves, lengths = self.codec.decode(arrays[0], arrays[1])
            seconds = time.perf_counter() - tick
            return {"seconds": seconds}, [np.asarray(waves, dtype=np.float32), np.asarray(lengths, dtype=np.int64)]
        if op == "num_frames":
            return {"frames": [int(self.codec.num_frames(int(n))) for n in header["samples"]]}, []
        if op == "crash":  # lets the tests see what a dying model looks like
            os._exit(int(header.get("code", 1)))
        raise ValueError(f"unknown request {op!r}")

    def facts(self) -> dict[str, Any]:
        codec = self.codec
        describe = codec.describe() if hasattr(codec, "describe") else {}
        return {
            "pad_multiple": int(codec.pad_multiple),
            "batch_invariant": bool(codec.batch_invariant),
            "num_parameters": int(codec.num_parameters()),
            "describe": describe,
            "python": sys.version.split()[0],
        }


def main() -> None:
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    out = os.fdopen(os.dup(1), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    read_into = stream_reader(requests)
    server = Server()
    while True:
        try:
            header, arrays = read_message(read_into)
        except EOFError:
            header = {"op": "close"}
        if header.get("op") == "close":
            # Every answer is written: leave without tearing down the model object by object (seconds for GBs)
            sys.stderr.flush()
            os._exit(0)
        try:
            reply, results = server.handle(header, arrays)
            write_message(out, {"ok": True, **reply}, results)
        except Exception as error:
            traceback.print_exc()
            kind = next((k.__name__ for k in type(error).__mro__ if k.__module__.startswith("kodek.")), "")
            message = str(error) if kind else f"{type(error).__name__}: {error}"
            write_message(out, {"ok": False, "kind": kind, "error": message})


if __name__ == "__main__":
    main()
