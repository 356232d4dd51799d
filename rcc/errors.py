"""Errors raised by rcc."""

from __future__ import annotations

__all__ = ["DecodeError"]


class DecodeError(ValueError):
    """A bitstream is malformed, truncated, corrupted, of another format version, or does not
    match the prior / seed it is decoded with. A subclass of ``ValueError``."""
