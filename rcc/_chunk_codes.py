"""Chunk codes: how :func:`rcc.compress` sends what each chunk's race chose (private).

A channel's :meth:`~rcc.channel.Channel.chunk_code` returns one of these. It owns the index law,
the header parameters the decoder needs (``params``) and how a chunk's sample is regenerated;
the chunk layout, the container and the ANS words are :mod:`rcc.chunked`'s. Per message:

* ``gather(records)``: the channel's per-chunk records (what ``select`` returned, one per
  chunk) packed into the code's own form;
* ``write(coder, packed, fields)``: push symbols onto the ANS coder (before the chunk sizes, so
  they are read after them) and write the preamble bits (after the layout bits) to ``fields``;
* ``read(rd, num_chunks, d)`` reads those bits and returns :class:`PendingIndices`, which decode
  the rest from the ANS coder once the sizes are read;
* ``regenerate(p, seed, sizes, packed)``: the (d,) sample; ``index(packed)``: the 1-based
  index of each chunk (for :class:`rcc.chunked.ChunkStats`);
* ``trivial_record(size)``: the record of a chunk where q equals p, if one is exact without a
  race (else None: the chunk is raced); ``max_size``: the most coordinates a chunk may hold.

The codes of the built-in channels:

* :class:`BitLengthCode` (PFR, ORC): the bit length L = floor(log2 K) of each 1-based index
  under an adaptive Krichevsky-Trofimov categorical over [L_min, L_min + L_span] (6 bits each in
  the preamble), then the L low bits of K as uniform pieces. Bit lengths concentrate near
  ``chunk_bits``, so the learned law costs a few bits per chunk.
* :class:`FixedWidthCode` (MRC): K - 1 in ceil(log2 N) bits, as uniform pieces.
* :class:`HybridCode` (Hybrid): the bin of every coordinate in the preamble (truncated binary
  codes of M bins, as a single hybrid message sends them), then the race indices as
  :class:`BitLengthCode`; chunks hold at most 64 coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._ans import decode_kt, decode_uniform_pieces, encode_kt, encode_uniform_pieces, join_mantissas, piece_widths, split_mantissas
from ._chunk_kernels import regenerate
from ._hybrid_kernels import hybrid_candidate
from .coding import BitReader, BitWriter, read_truncated_binary, write_truncated_binary
from .distributions import Distribution
from .errors import DecodeError
from .random import DOMAIN_HYBRID, seed_key, uniforms

__all__ = ["ChunkCode", "PendingIndices", "BitLengthCode", "FixedWidthCode", "HybridCode"]

_MAX_LBITS = 63  # indices are below 2**64


class PendingIndices(NamedTuple):
    """What the decoder learnt from a chunk code's preamble bits.

    ``least_bits``: bits of the ANS words the chunks' symbols take at least (bounds the chunk
    count by the payload before any work); ``uses_coder``: whether any symbol was pushed;
    ``decode(coder)``: the packed records (the form :meth:`ChunkCode.gather` makes).
    """

    least_bits: int
    uses_coder: bool
    decode: Callable[[object], object]


class ChunkCode:
    """Base of the chunk codes: what :func:`rcc.compress` asks of a channel's chunks."""

    params: tuple[int, ...] = ()
    #: Most coordinates per chunk (None: no limit).
    max_size: int | None = None

    def gather(self, records: list):
        raise NotImplementedError

    def write(self, coder, packed, fields: BitWriter) -> None:
        raise NotImplementedError

    def read(self, rd: BitReader, num_chunks: int, d: int) -> PendingIndices:
        """Read the preamble bits :meth:`write` wrote; DecodeError if they cannot be valid."""
        raise NotImplementedError

    def regenerate(self, p: Distribution, seed: int, sizes: np.ndarray, packed) -> np.ndarray:
        raise NotImplementedError

    def index(self, packed) -> np.ndarray:
        raise NotImplementedError

    def trivial_record(self, size: int):
        return None


class _SelectionCode(ChunkCode):
    """Records are 0-based candidate indices, packed as uint64 (C,); candidate K of chunk c is
    regenerated from the shared stream, and candidate 1 is exact where q equals p."""

    def gather(self, records: list) -> np.ndarray:
        return np.asarray(records, dtype=np.uint64)

    def regenerate(self, p: Distribution, seed: int, sizes: np.ndarray, packed: np.ndarray) -> np.ndarray:
        return regenerate(p, seed, sizes, packed + np.uint64(1))

    def index(self, packed: np.ndarray) -> np.ndarray:
        return packed + np.uint64(1)

    def trivial_record(self, size: int) -> int:
        return 0


class BitLengthCode(_SelectionCode):
    """Indices of unbounded (``max_index`` None, sent as 0) or bounded range, by bit length."""

    def __init__(self, max_index: int | None):
        self.max_index = max_index
        self.params = (max_index or 0,)

    def write(self, coder, packed: np.ndarray, fields: BitWriter) -> None:
        index1 = packed + np.uint64(1)
        lbits = np.array([int(k).bit_length() - 1 for k in index1.tolist()], dtype=np.int64)
        encode_uniform_pieces(coder, *split_mantissas(index1, lbits))
        lmin, lmax = int(lbits.min()), int(lbits.max())
        encode_kt(coder, lbits - lmin, lmax - lmin + 1)
        fields.write(lmin, 6)
        fields.write(lmax - lmin, 6)

    def read(self, rd: BitReader, num_chunks: int, d: int) -> PendingIndices:
        lmin, lspan = rd.read(6), rd.read(6)
        if lmin + lspan > _MAX_LBITS:
            raise DecodeError(f"index bit lengths up to {lmin + lspan} exceed {_MAX_LBITS}")
        if self.max_index and lmin > self.max_index.bit_length() - 1:
            raise DecodeError(f"index bit length {lmin} exceeds the {self.max_index} candidates")

        def decode(coder) -> np.ndarray:
            lbits = np.full(num_chunks, lmin, dtype=np.int64)
            if lspan > 0:
                lbits += decode_kt(coder, num_chunks, lspan + 1)
            pieces = decode_uniform_pieces(coder, piece_widths(lbits))
            index1 = join_mantissas(pieces, lbits) | (np.uint64(1) << lbits.astype(np.uint64))
            _check_max(index1, self.max_index)
            return index1 - np.uint64(1)

        return PendingIndices(num_chunks * lmin, lspan > 0 or lmin > 0, decode)


class FixedWidthCode(_SelectionCode):
    """Indices in [1, n], each sent as index - 1 in ceil(log2 n) bits."""

    def __init__(self, n: int):
        self.n = n
        self.width = (n - 1).bit_length()
        self.params = (n,)

    def write(self, coder, packed: np.ndarray, fields: BitWriter) -> None:
        encode_uniform_pieces(coder, *split_mantissas(packed, np.full(packed.shape[0], self.width, np.int64)))

    def read(self, rd: BitReader, num_chunks: int, d: int) -> PendingIndices:
        def decode(coder) -> np.ndarray:
            widths = np.full(num_chunks, self.width, dtype=np.int64)
            index0 = join_mantissas(decode_uniform_pieces(coder, piece_widths(widths)), widths)
            _check_max(index0 + np.uint64(1), self.n)
            return index0

        return PendingIndices(num_chunks * self.width, self.width > 0, decode)


class HybridCode(ChunkCode):
    """Hybrid chunks: records (bins int64 (n_c,), 0-based index); packed as (bins (d,), index0 (C,)).

    ``params`` = (inner scheme code, num_bins M, N or 0). Chunk c draws its dither from
    (seed, DOMAIN_HYBRID, c) and its candidates from chunk c of the shared stream.
    """

    max_size = 64

    def __init__(self, inner_code: int, num_bins: int, max_index: int | None):
        self.num_bins = num_bins
        self.indices = BitLengthCode(max_index)
        self.params = (inner_code, num_bins, max_index or 0)

    def gather(self, records: list) -> tuple[np.ndarray, np.ndarray]:
        bins = np.concatenate([np.asarray(b, dtype=np.int64) for b, _ in records])
        return bins, np.array([k for _, k in records], dtype=np.uint64)

    def write(self, coder, packed, fields: BitWriter) -> None:
        bins, index0 = packed
        for k in bins.tolist():
            write_truncated_binary(fields, k, self.num_bins)
        self.indices.write(coder, index0, fields)

    def read(self, rd: BitReader, num_chunks: int, d: int) -> PendingIndices:
        m = self.num_bins  # m >= 2: each bin costs >= 1 bit, so d is bounded by the payload
        bins = np.zeros(d, np.int64) if m == 1 else np.array([read_truncated_binary(rd, m) for _ in range(d)], np.int64)
        inner = self.indices.read(rd, num_chunks, d)
        return PendingIndices(inner.least_bits, inner.uses_coder, lambda coder: (bins, inner.decode(coder)))

    def regenerate(self, p: Distribution, seed: int, sizes: np.ndarray, packed) -> np.ndarray:
        bins, index0 = packed
        if sizes.max() > self.max_size:
            raise DecodeError(f"a hybrid chunk of {int(sizes.max())} coordinates (at most {self.max_size})")
        key, out, start = seed_key(seed), np.empty(bins.shape[0]), 0
        for c, n in enumerate(sizes.tolist()):
            dither = uniforms(seed, DOMAIN_HYBRID, c, 0, n)
            pc = type(p)._from_validated(p.a[start:start + n], p.b[start:start + n])
            out[start:start + n] = hybrid_candidate(key, c, int(index0[c]), bins[start:start + n], dither, self.num_bins, pc)
            start += n
        return out

    def index(self, packed) -> np.ndarray:
        return packed[1] + np.uint64(1)


def _check_max(index1: np.ndarray, max_index: int | None) -> None:
    if max_index and index1.size and int(index1.max()) > max_index:
        raise DecodeError(f"index {int(index1.max())} exceeds the blob's {max_index} candidates")
