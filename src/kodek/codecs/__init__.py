"""Codecs: the spec, the protocol, the registry and one module per family."""

from kodek.codecs.base import Codec, CodecError, CodecSettings, UnknownCodecError
from kodek.codecs.registry import CodecEntry, availability, build_codec, get_spec, registry
from kodek.codecs.spec import Checkpoint, CodecSpec

__all__ = [
    "Checkpoint",
    "Codec",
    "CodecEntry",
    "CodecError",
    "CodecSettings",
    "CodecSpec",
    "UnknownCodecError",
    "availability",
    "build_codec",
    "get_spec",
    "registry",
]
