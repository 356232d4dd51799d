"""Errors raised by rcc (the guard around constriction's failures lives in :mod:`rcc._ans`)."""

from __future__ import annotations

__all__ = ["DecodeError"]


class DecodeError(ValueError):
    """A bitstream is malformed, truncated, corrupted, of another format version, or does not
    match the prior / seed it is decoded with. A subclass of ``ValueError``."""
