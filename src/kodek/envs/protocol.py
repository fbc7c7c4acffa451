"""Framing of the messages between kodek and a codec worker: numpy arrays over pipes.

A message is an 8-byte little-endian length, a JSON header (which names each array's dtype and
shape) and the arrays' raw C-order bytes. No pickling: either side may run another Python or numpy.
Reads go straight into preallocated arrays, so a batch is copied once per direction.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

import numpy as np

LENGTH = struct.Struct("<Q")
ReadInto = Callable[[memoryview], None]  # fills the whole view or raises EOFError


def write_message(stream: BinaryIO, header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> None:
    arrays = [np.require(array, requirements="C") for array in arrays]  # keeps 0-d arrays 0-d
    if any(array.dtype.hasobject for array in arrays):
        raise TypeError("object arrays cannot cross the worker boundary")
    header = {**header, "arrays": [[array.dtype.str, list(array.shape)] for array in arrays]}
    data = json.dumps(header).encode()
    stream.write(LENGTH.pack(len(data)) + data)
    for array in arrays:
        if array.size:
            stream.write(array.reshape(-1).view(np.uint8).data)
    stream.flush()


def read_message(read_into: ReadInto) -> tuple[dict[str, Any], list[np.ndarray]]:
    size = bytearray(LENGTH.size)
    read_into(memoryview(size))
    data = bytearray(LENGTH.unpack(size)[0])
    read_into(memoryview(data))
    header = json.loads(data)
    arrays = []
    for dtype, shape in header.pop("arrays"):
        array = np.empty(shape, dtype=np.dtype(dtype))
        if array.size:
            read_into(memoryview(array.reshape(-1).view(np.uint8)))
        arrays.append(array)
    return header, arrays


def stream_reader(stream: BinaryIO) -> ReadInto:
    """``read_into`` for a blocking binary stream."""

    def read_into(view: memoryview) -> None:
        done = 0
        while done < len(view):
            count = stream.readinto(view[done:])  # type: ignore[attr-defined]
            if not count:
                raise EOFError("the other side closed the pipe")
            done += count

    return read_into
