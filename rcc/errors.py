"""Errors raised by rcc, and the guard that turns a foreign library's failure into one."""

from __future__ import annotations

__all__ = ["DecodeError", "guard"]


class DecodeError(ValueError):
    """A bitstream is malformed, truncated, corrupted, of another format version, or does not
    match the prior / seed it is decoded with. A subclass of ``ValueError``."""


def guard(what: str, fn, *args, error: type[Exception] = DecodeError):
    """``fn(*args)``, with any failure re-raised as ``error(what failed: ...)``.

    Wrap every ``constriction`` call with it: constriction's ``PanicException`` derives from
    ``BaseException`` and escapes ``except Exception``. Encoders pass ``error=ValueError``.
    """
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - constriction's PanicException is a BaseException
        raise error(f"{what} failed: {type(exc).__name__}: {exc}") from None
