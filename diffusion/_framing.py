"""Byte-level framing of the diffusion file (private): the error types, the bounded reader of
fields, the file's CRC-32 and the per-step checks (docs/format.md, "The diffusion file")."""
from __future__ import annotations

import numbers
import struct
import zlib

import numpy as np

from rcc import DecodeError
from rcc.coding import decode_varint, encode_varint

#: Bytes of the per-step check.
CHECK_BYTES = 2


class CodecError(DecodeError):
    """Malformed, truncated or corrupted file, or the wrong model.

    A subclass of ``rcc.DecodeError`` (itself a ValueError).
    """


class _Truncated(CodecError):
    """The bytes end inside a field (a prefix of a file ends here)."""


def _raise(msg: str):
    raise CodecError(msg)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _put_varint(out: bytearray, v: int) -> None:
    out += encode_varint(v)


class _Reader:
    def __init__(self, buf: bytes, end: int):
        self.buf, self.pos, self.end = buf, 0, end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Truncated(f"file truncated: need {n} bytes at offset {self.pos}, have {self.end - self.pos}")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(b)

    def varint(self) -> int:
        tail = self.buf[self.pos : min(self.end, self.pos + 10)]
        if len(tail) < 10 and all(b & 0x80 for b in tail):
            raise _Truncated(f"file truncated: it ends inside a varint at offset {self.pos}")
        try:
            v, self.pos = decode_varint(self.buf[: self.end], self.pos)
        except DecodeError as err:
            _raise(f"{err} at offset {self.pos}")
        return v


def _crc(fingerprint: int, body) -> int:
    return zlib.crc32(bytes(body), zlib.crc32(struct.pack("<I", fingerprint))) & 0xFFFFFFFF


class _Checks:
    """The per-step checks: a running CRC32 over the fingerprint and the file bytes covered so far
    (:meth:`feed`); :meth:`check` folds in a latent without changing the running state."""

    def __init__(self, fingerprint: int, head: bytes):
        self.state = zlib.crc32(bytes(head), zlib.crc32(struct.pack("<I", fingerprint)))

    def feed(self, b) -> None:
        self.state = zlib.crc32(bytes(b), self.state)

    def check(self, z) -> bytes:
        """The 2-byte check of latent ``z`` (float64 (N, D)) after the bytes fed so far."""
        z = np.ascontiguousarray(np.asarray(z, dtype="<f8"))
        return struct.pack("<H", zlib.crc32(z.tobytes(), self.state) & 0xFFFF)
