"""kodek: a benchmark of speech tokenizers on Polish speech (BIGOS-v2)."""

__version__ = "0.1.0"
