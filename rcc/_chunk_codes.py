"""Chunk codes: how :func:`rcc.compress` sends one index per chunk (private).

A channel's :meth:`~rcc.channel.Channel.chunk_code` returns one of these; it owns the index law
and the header parameters the decoder needs (``params``), and nothing else: the chunk layout,
the container and the ANS words are :mod:`rcc.chunked`'s. Writing happens in two places of the
payload (see :mod:`rcc.chunked`): :meth:`ChunkCode.write` pushes the indices onto the ANS coder
(before the chunk sizes, so they are read after them) and returns the preamble fields that go
after the layout bits; :meth:`ChunkCode.read` reads those fields and returns the
:class:`PendingIndices` that decode the indices from the ANS coder once the sizes are read.

Two codes serve the built-in channels:

* :class:`BitLengthCode` (PFR, ORC): the bit length L = floor(log2 K) of each 1-based index
  under an adaptive Krichevsky-Trofimov categorical over [L_min, L_min + L_span] (6 bits each in
  the preamble), then the L low bits of K as uniform pieces. Bit lengths concentrate near
  ``chunk_bits``, so the learned law costs a few bits per chunk.
* :class:`FixedWidthCode` (MRC): K - 1 in ceil(log2 N) bits, as uniform pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._ans import decode_kt, decode_uniform_pieces, encode_kt, encode_uniform_pieces, join_mantissas, piece_widths, split_mantissas
from .coding import BitReader
from .errors import DecodeError

__all__ = ["ChunkCode", "PendingIndices", "BitLengthCode", "FixedWidthCode"]

_MAX_LBITS = 63  # indices are below 2**64


class PendingIndices(NamedTuple):
    """What the decoder learnt from a chunk code's preamble fields.

    ``least_bits``: bits of the ANS words the indices take at least (bounds the chunk count by
    the payload before any work); ``uses_coder``: whether any index symbol was pushed;
    ``decode(coder) -> np.ndarray`` of uint64, shape (C,): the 1-based indices.
    """

    least_bits: int
    uses_coder: bool
    decode: Callable[[object], np.ndarray]


class ChunkCode:
    """The index law of a chunked channel and its header parameters ``params``."""

    params: tuple[int, ...] = ()

    def write(self, coder, index1: np.ndarray) -> list[tuple[int, int]]:
        """Push ``index1`` (uint64, shape (C,), 1-based) onto ``coder`` (a constriction
        ``AnsCoder``); return the preamble fields as (value, bit width) pairs."""
        raise NotImplementedError

    def read(self, rd: BitReader, num_chunks: int) -> PendingIndices:
        """Read the preamble fields :meth:`write` returned; DecodeError if they cannot be valid."""
        raise NotImplementedError


class BitLengthCode(ChunkCode):
    """Indices of unbounded (``max_index`` None, sent as 0) or bounded range, by bit length."""

    def __init__(self, max_index: int | None):
        self.max_index = max_index
        self.params = (max_index or 0,)

    def write(self, coder, index1: np.ndarray) -> list[tuple[int, int]]:
        lbits = np.array([int(k).bit_length() - 1 for k in index1.tolist()], dtype=np.int64)
        encode_uniform_pieces(coder, *split_mantissas(index1, lbits))
        lmin, lmax = int(lbits.min()), int(lbits.max())
        encode_kt(coder, lbits - lmin, lmax - lmin + 1)
        return [(lmin, 6), (lmax - lmin, 6)]

    def read(self, rd: BitReader, num_chunks: int) -> PendingIndices:
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
            return index1

        return PendingIndices(num_chunks * lmin, lspan > 0 or lmin > 0, decode)


class FixedWidthCode(ChunkCode):
    """Indices in [1, n], each sent as index - 1 in ceil(log2 n) bits."""

    def __init__(self, n: int):
        self.n = n
        self.width = (n - 1).bit_length()
        self.params = (n,)

    def write(self, coder, index1: np.ndarray) -> list[tuple[int, int]]:
        widths = np.full(index1.shape[0], self.width, np.int64)
        encode_uniform_pieces(coder, *split_mantissas(index1 - np.uint64(1), widths))
        return []

    def read(self, rd: BitReader, num_chunks: int) -> PendingIndices:
        def decode(coder) -> np.ndarray:
            widths = np.full(num_chunks, self.width, dtype=np.int64)
            index1 = join_mantissas(decode_uniform_pieces(coder, piece_widths(widths)), widths) + np.uint64(1)
            _check_max(index1, self.n)
            return index1

        return PendingIndices(num_chunks * self.width, self.width > 0, decode)


def _check_max(index1: np.ndarray, max_index: int | None) -> None:
    if max_index and index1.size and int(index1.max()) > max_index:
        raise DecodeError(f"index {int(index1.max())} exceeds the blob's {max_index} candidates")
