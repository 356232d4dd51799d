"""Bit-granular prefix codes (every one rcc uses lives here), and the varints of the container header.

A message that carries one index (one PFR, ORC or MRC sample) is a few bits long. An ANS stream
would spend 32-bit words and about 16 bits of state on it, so single indices get a prefix code of
their own law, written bit by bit; streams of many symbols (UQ, chunked coding) go through
``constriction`` instead (see :mod:`rcc._ans`).

The codes, all most significant bit first through :class:`BitWriter` / :class:`BitReader`:

* truncated binary of ``k`` in ``[0, m)``: ``floor(log2 m)`` or one more bit
  (:func:`write_truncated_binary`); a Hybrid bin index and the Golomb remainder;
* Golomb(m) of ``n >= 0``: ``floor(n / m)`` in unary, the remainder in truncated binary;
* Elias gamma of ``n >= 1``: ``floor(log2 n)`` zeros, then ``n`` in binary (:func:`write_gamma`);
* the Zipf index code below; zigzag maps signed to unsigned integers (:func:`zigzag`);
* LEB128 varints (byte-granular, the container header: :func:`encode_varint`).

For callers that frame their own ANS streams (the diffusion file's data term), the stored form of
a constriction ``AnsCoder`` stream is public here too: :func:`stream_bytes` (little-endian words,
the top word without its zero high bytes), :func:`stream_decoder` (its inverse; a non-canonical
form is a DecodeError) and :func:`guard` (wraps a constriction call: its ``PanicException`` is a
BaseException and would escape ``except Exception``). They live in :mod:`rcc._ans`, the one
entropy-coding layer.

Index law of the Poisson functional representation (Li & El Gamal, "Strong functional
representation lemma and applications to coding theorems", 2018): the index K >= 1 of the
winning candidate is coded under a Zipf law P(K = k) ~ k^-(1 + 1/(kl + 1.53)). We code it in the
Elias style: the bit length L = floor(log2 K) under the geometric law that Zipf induces on L
(ratio 2^-(1/(kl + 1.53))), for which a Golomb code with integer parameter ``m`` is optimal, then
the L mantissa bits of K uniformly. The code is a pure function of the integer ``m``, so no float
computed by encoder and decoder can desynchronise it; its length is
``L + floor(L / m) + 1 + ceil-or-floor(log2 m)`` bits. Since L <= 63, ``m`` is capped at
:data:`MAX_GOLOMB` = 64, where the code of L is a flat 7 bits (a larger m would only cost more),
so an index below 2**64 codes at any KL; :func:`check_golomb_param` is the one range check.
"""

from __future__ import annotations

import math

import numpy as np

from ._ans import guard, stream_bytes, stream_decoder
from .errors import DecodeError

__all__ = [
    "stream_bytes",
    "stream_decoder",
    "guard",
    "BitWriter",
    "BitReader",
    "write_truncated_binary",
    "read_truncated_binary",
    "truncated_binary_bits",
    "write_gamma",
    "read_gamma",
    "zigzag",
    "unzigzag",
    "golomb_param_for_kl",
    "check_golomb_param",
    "write_zipf_index",
    "read_zipf_index",
    "zipf_index_bits",
    "MAX_GOLOMB",
    "encode_varint",
    "decode_varint",
]

#: Largest bit length of an index the readers accept (indices are below 2**64).
MAX_INDEX_BITS = 64
#: Largest Golomb parameter: bit lengths L < 64 all fit in the remainder of Golomb(64).
MAX_GOLOMB = 64


class BitWriter:
    """Accumulates bits, most significant first; ``getvalue()`` returns (bytes, num_bits)."""

    def __init__(self) -> None:
        self._value = 0
        self._nbits = 0

    def write(self, value: int, nbits: int) -> None:
        """Append the ``nbits`` low bits of ``value`` (an int with 0 <= value < 2**nbits)."""
        if nbits < 0 or value < 0 or value >> nbits:
            raise ValueError(f"cannot write {value} in {nbits} bits")
        self._value = (self._value << nbits) | value
        self._nbits += nbits

    def write_unary(self, n: int) -> None:
        """``n`` one-bits then a zero-bit."""
        self.write(((1 << n) - 1) << 1, n + 1)

    @property
    def num_bits(self) -> int:
        return self._nbits

    def getvalue(self) -> tuple[bytes, int]:
        pad = -self._nbits % 8
        nbytes = (self._nbits + pad) // 8
        return (self._value << pad).to_bytes(nbytes, "big"), self._nbits


class BitReader:
    """Reads the first ``num_bits`` bits of ``data``, most significant first.

    Reading past ``num_bits`` raises :class:`rcc.DecodeError`.
    """

    def __init__(self, data: bytes, num_bits: int | None = None) -> None:
        total = 8 * len(data)
        if num_bits is None:
            num_bits = total
        if not 0 <= num_bits <= total:
            raise DecodeError(f"payload claims {num_bits} bits but holds {total}")
        self._value = int.from_bytes(data, "big") >> (total - num_bits)
        self._pad = int.from_bytes(data, "big") & ((1 << (total - num_bits)) - 1)
        self._nbits = num_bits
        self._pos = 0

    @property
    def remaining(self) -> int:
        return self._nbits - self._pos

    def read(self, nbits: int) -> int:
        if nbits > self.remaining:
            raise DecodeError("payload ends in the middle of a code word (truncated or corrupted)")
        self._pos += nbits
        return (self._value >> (self._nbits - self._pos)) & ((1 << nbits) - 1)

    def read_unary(self, limit: int) -> int:
        """Count one-bits up to the terminating zero; more than ``limit`` ones is a DecodeError."""
        n = 0
        while self.read(1):
            n += 1
            if n > limit:
                raise DecodeError(f"unary code longer than {limit}: corrupted payload")
        return n

    def finish(self) -> None:
        """Check that every payload bit was read and the padding bits are zero."""
        if self.remaining:
            raise DecodeError(f"{self.remaining} payload bits left unread: corrupted payload")
        if self._pad:
            raise DecodeError("non-zero padding bits: corrupted payload")


# ----------------------------------------------------------------------------------------------
# Golomb-coded bit length + uniform mantissa: the Zipf index code
# ----------------------------------------------------------------------------------------------


def golomb_param_for_kl(kl_bits: float) -> int:
    """Golomb parameter ``m`` for the bit length of a PFR index when the KL is ``kl_bits``.

    The Zipf law with exponent 1 + 1/(kl + 1.53) makes L = floor(log2 K) about geometric with
    ratio rho = 2^(-1/(kl + 1.53)); the Golomb parameter optimal for that geometric law is
    ceil(-log(1 + rho) / log(rho)) (Gallager & van Voorhis, 1975), capped at
    :data:`MAX_GOLOMB` (reached at about 62 bits of KL).
    """
    if not math.isfinite(kl_bits) or kl_bits < 0:
        raise ValueError(f"kl_bits must be finite and >= 0; got {kl_bits}")
    rho = 2.0 ** (-1.0 / (kl_bits + 1.53))
    return min(MAX_GOLOMB, max(1, math.ceil(-math.log(1.0 + rho) / math.log(rho) - 1e-9)))


def write_truncated_binary(w: BitWriter, k: int, m: int) -> None:
    """Truncated binary code of ``k`` in ``[0, m)``, ``m >= 1``: the first ``2**(b+1) - m``
    values in ``b = floor(log2 m)`` bits, the others in ``b + 1`` (no bits for m = 1)."""
    if not 0 <= k < m:
        raise ValueError(f"truncated binary: k must be in [0, {m}); got {k}")
    b = m.bit_length() - 1
    cut = (1 << (b + 1)) - m
    if k < cut:
        w.write(k, b)
    else:
        w.write(k + cut, b + 1)


def read_truncated_binary(rd: BitReader, m: int) -> int:
    """Inverse of :func:`write_truncated_binary`: a value in ``[0, m)``."""
    b = m.bit_length() - 1
    cut = (1 << (b + 1)) - m
    k = rd.read(b)
    if k >= cut:
        k = ((k << 1) | rd.read(1)) - cut
    return k


def truncated_binary_bits(k: int, m: int) -> int:
    """Length in bits of the truncated binary code of ``k`` in ``[0, m)`` (log2 m if m = 2**b)."""
    b = m.bit_length() - 1
    return b if k < (1 << (b + 1)) - m else b + 1


def _write_golomb(w: BitWriter, n: int, m: int) -> None:
    q, r = divmod(n, m)
    w.write_unary(q)
    write_truncated_binary(w, r, m)


def _read_golomb(rd: BitReader, m: int, limit: int) -> int:
    n = rd.read_unary(limit // m + 1) * m + read_truncated_binary(rd, m)
    if n > limit:
        raise DecodeError(f"index bit length {n} exceeds {limit}: corrupted payload")
    return n


def check_golomb_param(m, *, error: type[Exception] = ValueError) -> int:
    """``m`` if it is an int in ``[1, MAX_GOLOMB]``, else ``error`` naming it. Decoders reading
    ``m`` from a header pass ``error=DecodeError``."""
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= MAX_GOLOMB:
        raise error(f"Golomb parameter m must be an int in [1, {MAX_GOLOMB}]; got {m!r}")
    return m


def write_zipf_index(w: BitWriter, k: int, m: int) -> None:
    """Write index ``k >= 1`` (< 2**64): Golomb(m) code of floor(log2 k), then its mantissa."""
    check_golomb_param(m)
    k = int(k)
    if not 1 <= k < 2**MAX_INDEX_BITS:
        raise ValueError(f"index must be in [1, 2**64); got {k}")
    nbits = k.bit_length() - 1
    _write_golomb(w, nbits, m)
    w.write(k - (1 << nbits), nbits)


def read_zipf_index(rd: BitReader, m: int) -> int:
    """Inverse of :func:`write_zipf_index`; raises DecodeError on malformed input (an ``m``
    out of range included: it comes from a header)."""
    check_golomb_param(m, error=DecodeError)
    nbits = _read_golomb(rd, m, MAX_INDEX_BITS - 1)
    return (1 << nbits) | rd.read(nbits)


def zipf_index_bits(k, m: int):
    """Length in bits of the code of index ``k`` (int or integer array) with parameter ``m``."""
    check_golomb_param(m)
    k = np.asarray(k, dtype=np.uint64)
    nbits = np.minimum(np.floor(np.log2(k.astype(np.float64))), 63).astype(np.int64)
    # float log2 can round up just below a power of two: correct with exact integer checks
    nbits = np.where((np.uint64(1) << nbits.astype(np.uint64)) > k, nbits - 1, nbits)
    q, r = np.divmod(nbits, m)
    if m > 1:
        b = (m - 1).bit_length()
        rem = np.where(r < (1 << b) - m, b - 1, b)
    else:
        rem = 0
    return q + 1 + rem + nbits


# ----------------------------------------------------------------------------------------------
# Elias gamma and zigzag
# ----------------------------------------------------------------------------------------------


def write_gamma(w: BitWriter, n: int) -> None:
    """Elias gamma code of ``n >= 1``: floor(log2 n) zeros, then n in binary (2 floor(log2 n) + 1 bits)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"Elias gamma codes integers >= 1; got {n}")
    nbits = n.bit_length()
    w.write(0, nbits - 1)
    w.write(n, nbits)


def read_gamma(rd: BitReader, max_bits: int = 64) -> int:
    """Inverse of :func:`write_gamma` for values below ``2**max_bits``; a longer code is a DecodeError."""
    zeros = 0
    while rd.read(1) == 0:
        zeros += 1
        if zeros >= max_bits:
            raise DecodeError("Elias gamma code too long: corrupted payload")
    return (1 << zeros) | rd.read(zeros)


def zigzag(v):
    """Signed to unsigned: 0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ...; an int, or elementwise on
    an int64 array (|v| < 2**62)."""
    if isinstance(v, np.ndarray):
        return np.where(v >= 0, 2 * v, -2 * v - 1)
    v = int(v)
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(z):
    """Inverse of :func:`zigzag` for ``z >= 0`` (an int or an int64 array)."""
    if isinstance(z, np.ndarray):
        return np.where(z & 1, -((z + 1) >> 1), z >> 1)
    z = int(z)
    return z >> 1 if z % 2 == 0 else -((z + 1) >> 1)


# ----------------------------------------------------------------------------------------------
# Variable-length unsigned integers (container header)
# ----------------------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """LEB128 encoding of an unsigned integer below 2**64."""
    value = int(value)
    if not 0 <= value < 2**64:
        raise ValueError(f"varint must be in [0, 2**64); got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a LEB128 unsigned integer at ``pos``; returns (value, new_pos). DecodeError if bad."""
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise DecodeError("header ends inside a varint (truncated)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise DecodeError("overlong varint (a trailing zero byte): malformed header")
            if value >= 2**64:
                raise DecodeError("varint exceeds 64 bits")
            return value, pos
    raise DecodeError("varint longer than 10 bytes")
