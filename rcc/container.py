"""The container every rcc bitstream travels in, and the :class:`Message` a channel returns.

Layout (all integers LEB128 varints unless stated)::

    magic        3 bytes  b"RCC"
    version      1 byte   FORMAT_VERSION
    method       1 byte   METHODS[name]
    params       count, then that many unsigned integers (the method's parameters)
    seed         the shared-randomness seed
    shape        ndim, then each dimension
    payload_bits exact length of the payload bit string
    payload      ceil(payload_bits / 8) bytes, zero-padded at the end
    crc32        4 bytes, little-endian, CRC-32 of everything before it

Only ``payload_bits`` is the message proper (what a channel's ``num_bits`` counts); the rest is
the header and checksum, reported separately as ``overhead_bits`` and never hidden.
Anything that does not check out raises :class:`rcc.DecodeError` with the reason.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from .coding import decode_varint, encode_varint
from .errors import DecodeError

__all__ = ["Message", "Container", "pack", "unpack", "FORMAT_VERSION", "METHODS"]

MAGIC = b"RCC"
FORMAT_VERSION = 1
METHODS = {"uq": 1, "pfr": 2, "orc": 3, "mrc": 4, "hybrid": 5, "uq_stream": 6, "chunked": 16}
_METHOD_NAMES = {v: k for k, v in METHODS.items()}
_MAX_PARAMS = 64
_MAX_NDIM = 32
_MAX_SIZE = 2**40


@dataclass(frozen=True)
class Container:
    """The parsed fields of a blob (see the module docstring)."""

    method: str
    params: tuple[int, ...]
    seed: int
    shape: tuple[int, ...]
    payload: bytes
    payload_bits: int


def pack(c: Container) -> bytes:
    """Serialise a :class:`Container` to bytes (header, payload, CRC-32)."""
    if c.method not in METHODS:
        raise ValueError(f"unknown method {c.method!r}")
    if len(c.payload) != (c.payload_bits + 7) // 8:
        raise ValueError("payload length does not match payload_bits")
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out.append(METHODS[c.method])
    out += encode_varint(len(c.params))
    for v in c.params:
        out += encode_varint(v)
    out += encode_varint(c.seed)
    out += encode_varint(len(c.shape))
    for n in c.shape:
        out += encode_varint(n)
    out += encode_varint(c.payload_bits)
    out += c.payload
    out += zlib.crc32(bytes(out)).to_bytes(4, "little")
    return bytes(out)


def unpack(blob, expect_method: str | None = None) -> Container:
    """Parse and check a blob; raises :class:`rcc.DecodeError` with the reason if anything is off."""
    if isinstance(blob, (bytearray, memoryview)):
        blob = bytes(blob)
    if not isinstance(blob, bytes):
        raise DecodeError(f"expected bytes, got {type(blob).__name__}")
    if len(blob) < len(MAGIC) + 2 + 4:
        raise DecodeError(f"blob of {len(blob)} bytes is too short to be an rcc message")
    if blob[:3] != MAGIC:
        raise DecodeError("not an rcc bitstream (bad magic bytes)")
    if blob[3] != FORMAT_VERSION:
        raise DecodeError(f"format version {blob[3]} is not supported (this is version {FORMAT_VERSION})")
    body, crc = blob[:-4], int.from_bytes(blob[-4:], "little")
    if zlib.crc32(body) != crc:
        raise DecodeError("checksum mismatch: the blob is corrupted or truncated")
    method = _METHOD_NAMES.get(body[4])
    if method is None:
        raise DecodeError(f"unknown method code {body[4]}")
    if expect_method is not None and method != expect_method:
        raise DecodeError(f"blob holds a {method!r} message, not {expect_method!r}")
    pos = 5
    nparams, pos = decode_varint(body, pos)
    if nparams > _MAX_PARAMS:
        raise DecodeError(f"{nparams} parameters is more than any method has")
    params = []
    for _ in range(nparams):
        v, pos = decode_varint(body, pos)
        params.append(v)
    seed, pos = decode_varint(body, pos)
    ndim, pos = decode_varint(body, pos)
    if ndim > _MAX_NDIM:
        raise DecodeError(f"ndim {ndim} is too large")
    shape = []
    for _ in range(ndim):
        n, pos = decode_varint(body, pos)
        shape.append(n)
    if int(np.prod(shape, dtype=object)) > _MAX_SIZE:
        raise DecodeError(f"shape {tuple(shape)} is too large")
    payload_bits, pos = decode_varint(body, pos)
    payload = body[pos:]
    if len(payload) != (payload_bits + 7) // 8:
        raise DecodeError(
            f"payload holds {len(payload)} bytes but the header announces {payload_bits} bits"
        )
    return Container(method, tuple(params), seed, tuple(shape), payload, payload_bits)


@dataclass(frozen=True, eq=False)
class Message:
    """What a channel's ``encode`` returns.

    Attributes
    ----------
    sample : np.ndarray, q's shape
        The sample the decoder will output, bit for bit.
    num_bits : int
        Exact length in bits of the payload (the message proper), which decodes on its own given
        the header fields.
    info : dict
        Diagnostics of the encoder: ``kl_bits``, the index, candidates scored, whether the run
        was truncated, and so on (per channel).

    ``to_bytes()`` gives the whole blob; ``total_bits`` is its length and ``overhead_bits`` the
    header and checksum share of it.
    """

    method: str
    params: tuple[int, ...]
    seed: int
    sample: np.ndarray
    payload: bytes
    num_bits: int
    info: dict = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return pack(
            Container(self.method, self.params, self.seed, tuple(self.sample.shape), self.payload, self.num_bits)
        )

    @property
    def total_bits(self) -> int:
        """Length in bits of ``to_bytes()``: payload, header and checksum."""
        return 8 * len(self.to_bytes())

    @property
    def overhead_bits(self) -> int:
        """Header and checksum bits (``total_bits - num_bits``, padding included)."""
        return self.total_bits - self.num_bits

    def __repr__(self) -> str:
        return (
            f"Message(method={self.method!r}, shape={self.sample.shape}, num_bits={self.num_bits}, "
            f"total_bits={self.total_bits}, info={self.info})"
        )
