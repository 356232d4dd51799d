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
  race (else None: the chunk is raced); ``max_size``: the most coordinates a chunk may hold;
* ``index_code`` (written into the chunked header beside the inner method code) and
  ``for_header(index_code, q16)``: the code the header names, given chunk_bits in 1/16 bits
  (a DecodeError for an index code the channel does not have).

The codes of the built-in channels:

* :class:`LawCode` (PFR, index code 1, the default since chunked format 2): each 1-based index
  under the law of exact PFR's index on an equal-variance Gaussian chunk of KL = ``chunk_bits``
  (:mod:`rcc._index_law`), no preamble bits. Symbols: K < 8 as its own, larger K as its bit
  length L and the 3 bits after its leading one (8 per octave, 495 in all, for K < 2^64), whose
  law masses are quantized to integers (22-bit scale, each at least 1). Sent as the octave
  L = floor(log2 K) under an adaptive categorical whose pseudo-counts are 128 x the law's octave
  masses (it starts at the law and learns a message whose indices follow another law, e.g.
  unequal variances), then the symbol within the octave under the law, then the L - 3 low bits
  as uniform pieces. About 0.1-0.5 bit per chunk below :class:`BitLengthCode` at 10-12 bit
  chunks (docs/benchmarks.md).
* :class:`BitLengthCode` (ORC, Hybrid; PFR index code 0, chunked format 1): the bit length
  L = floor(log2 K) of each 1-based index
  under an adaptive Krichevsky-Trofimov categorical over [L_min, L_min + L_span] (6 bits each in
  the preamble), then the L low bits of K as uniform pieces. Bit lengths concentrate near
  ``chunk_bits``, so the learned law costs a few bits per chunk.
* :class:`FixedWidthCode` (MRC): K - 1 in ceil(log2 N) bits, as uniform pieces.
* :class:`HybridCode` (Hybrid): the bin of every coordinate in the preamble (truncated binary
  codes of M bins, as a single hybrid message sends them), then the race indices as
  :class:`BitLengthCode`; chunks hold at most 64 coordinates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import constriction
import numpy as np

from ._ans import decode_kt, decode_uniform_pieces, encode_kt, encode_uniform_pieces, guard, join_mantissas, piece_widths, split_mantissas
from ._chunk_kernels import regenerate
from ._hybrid_kernels import hybrid_candidate
from ._index_law import range_masses
from .coding import BitReader, BitWriter, read_truncated_binary, write_truncated_binary
from .distributions import Distribution
from .errors import DecodeError
from .random import DOMAIN_HYBRID, seed_key, uniforms

_CATEGORICAL_MODEL = constriction.stream.model.Categorical

__all__ = ["ChunkCode", "PendingIndices", "LawCode", "BitLengthCode", "FixedWidthCode", "HybridCode"]

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

    #: Which index code of its channel this is (the chunked header's inner code is
    #: method code + 256 * index_code).
    index_code: int = 0

    def for_header(self, index_code: int, q16: int) -> ChunkCode:
        """The code a chunked header with this ``index_code`` and chunk_bits ``q16 / 16`` names."""
        if index_code != self.index_code:
            raise DecodeError(f"index code {index_code} is unknown for this channel")
        return self


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


_LAW_SUB = 3  # bits after the leading one resolved by the law
_LAW_SMALL = (1 << _LAW_SUB) - 1  # K = 1 .. 7 are symbols of their own
_LAW_ALPHABET = _LAW_SMALL + (64 - _LAW_SUB) * (1 << _LAW_SUB)  # 495 symbols cover K < 2^64
_LAW_SCALE = 2.0**22  # masses quantized to integers on this scale (each at least 1)
_LAW_MAX_KL = 60.0  # the law's KL is chunk_bits, clamped here


def law_symbol_edges() -> np.ndarray:
    """First index of each of the 495 symbols, and inf: float64 (496,) (exact: <= 4 significant bits)."""
    edges = [float(k) for k in range(1, _LAW_SMALL + 1)]
    for lbits in range(_LAW_SUB, 64):
        edges += [float(((1 << _LAW_SUB) + j) << (lbits - _LAW_SUB)) for j in range(1 << _LAW_SUB)]
    return np.array(edges + [np.inf])


@functools.lru_cache(maxsize=64)
def law_frequencies(q16: int) -> np.ndarray:
    """Integer frequencies (as float64, shape (495,), each >= 1) of the law code's symbols at
    chunk KL q16 / 16 bits, capped at 60 bits. Rounding to integers on a 2^22 scale makes encoder
    and decoder agree unless a mass falls within float rounding of a half-integer."""
    masses = range_masses(min(q16 / 16.0, _LAW_MAX_KL), law_symbol_edges())
    freqs = np.maximum(np.floor(masses * _LAW_SCALE + 0.5), 1.0)
    freqs.setflags(write=False)
    return freqs


def law_split(index1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(symbol int64, low bits uint64, low-bit width int64) of 1-based indices (uint64 (C,))."""
    ks = [int(k) for k in np.asarray(index1, dtype=np.uint64).tolist()]
    sym, low, width = [], [], []
    for k in ks:
        lbits = k.bit_length() - 1
        if lbits < _LAW_SUB:
            sym.append(k - 1)
            low.append(0)
            width.append(0)
        else:
            w = lbits - _LAW_SUB
            sym.append(_LAW_SMALL + (lbits - _LAW_SUB) * (1 << _LAW_SUB) + ((k >> w) & _LAW_SMALL))
            low.append(k & ((1 << w) - 1))
            width.append(w)
    return np.array(sym, np.int64), np.array(low, np.uint64), np.array(width, np.int64)


def law_join(sym: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Inverse of :func:`law_split`: uint64 1-based indices from symbols and low bits."""
    out = []
    for j, lo in zip(np.asarray(sym).tolist(), np.asarray(low).tolist()):
        if j < _LAW_SMALL:
            out.append(j + 1)
        else:
            lbits, top = divmod(j - _LAW_SMALL, 1 << _LAW_SUB)
            out.append((((1 << _LAW_SUB) + top) << lbits) | int(lo))
    return np.array(out, dtype=np.uint64)


def law_widths(sym: np.ndarray) -> np.ndarray:
    """Low-bit widths (int64) of law-code symbols."""
    sym = np.asarray(sym, dtype=np.int64)
    return np.where(sym < _LAW_SMALL, 0, (sym - _LAW_SMALL) >> _LAW_SUB)


# the octave (bit length) of each symbol, and each octave's first symbol and symbol count
_LAW_OCTAVES = 64
_OCT_OF = np.array([0, 1, 1, 2, 2, 2, 2] + [_LAW_SUB + i // (1 << _LAW_SUB) for i in range(_LAW_ALPHABET - _LAW_SMALL)])
_OCT_START = np.searchsorted(_OCT_OF, np.arange(_LAW_OCTAVES))
_OCT_SIZE = np.bincount(_OCT_OF, minlength=_LAW_OCTAVES)
#: Weight of the law's octave masses as pseudo-counts of the adaptive octave categorical (chunks).
LAW_PRIOR_CHUNKS = 128


@functools.lru_cache(maxsize=64)
def law_octave_prior(q16: int) -> np.ndarray:
    """Pseudo-counts (64,) of the octaves floor(log2 K): LAW_PRIOR_CHUNKS x the law's octave
    masses (from :func:`law_frequencies`), rounded to multiples of 2^-10, each at least 2^-10."""
    fo = np.bincount(_OCT_OF, weights=law_frequencies(q16), minlength=_LAW_OCTAVES)
    prior = np.maximum(np.floor(LAW_PRIOR_CHUNKS * 1024.0 * fo / fo.sum() + 0.5), 1.0) / 1024.0
    prior.setflags(write=False)
    return prior


class LawCode(_SelectionCode):
    """Indices under exact PFR's index law at the chunk KL ``q16 / 16`` (the header's chunk_bits).

    Per chunk: the octave L = floor(log2 K) under an adaptive categorical whose pseudo-counts are
    the law's octave masses times :data:`LAW_PRIOR_CHUNKS` (so it starts at the law and follows
    the message's own octaves as they come); then K's symbol within its octave (K itself below
    8, else the 3 bits after the leading one) under the law's masses there; then L - 3 low bits.
    ``max_index`` (None or N) only bounds the decoded indices; the law is the untruncated one
    (a budget set by ``headroom_bits`` never reaches the decoder).
    """

    index_code = 1

    def __init__(self, max_index: int | None, q16: int | None = None):
        self.max_index = max_index
        self.q16 = q16
        self.params = (max_index or 0,)
        self._models: dict[int, object] = {}

    def for_header(self, index_code: int, q16: int) -> ChunkCode:
        if index_code == 0:
            return BitLengthCode(self.max_index)  # chunked format 1
        if index_code != self.index_code:
            raise DecodeError(f"index code {index_code} is unknown for this channel")
        return LawCode(self.max_index, q16)

    def _within(self, octave: int):
        """The law's categorical over the symbols of ``octave`` (which has more than one)."""
        if self.q16 is None:
            raise ValueError("LawCode needs the chunk KL: call for_header(1, q16) first")
        if octave not in self._models:
            lo = int(_OCT_START[octave])
            freqs = np.array(law_frequencies(self.q16)[lo:lo + int(_OCT_SIZE[octave])])
            self._models[octave] = _CATEGORICAL_MODEL(freqs, perfect=False)
        return self._models[octave]

    def write(self, coder, packed: np.ndarray, fields: BitWriter) -> None:
        sym, low, width = law_split(packed + np.uint64(1))
        octave = _OCT_OF[sym]
        within = sym - _OCT_START[octave]
        # a stack: pushed in reverse of the reading order (octaves, within-octave symbols by
        # octave, low bits)
        encode_uniform_pieces(coder, *split_mantissas(low, width))
        for o in range(_LAW_OCTAVES - 1, 0, -1):
            sel = octave == o
            if sel.any():
                guard("entropy coding", coder.encode_reverse, within[sel].astype(np.int32), self._within(o),
                      error=ValueError)
        encode_kt(coder, octave, _LAW_OCTAVES, law_octave_prior(self.q16))

    def read(self, rd: BitReader, num_chunks: int, d: int) -> PendingIndices:
        if self.q16 is None:
            raise ValueError("LawCode needs the chunk KL: call for_header(1, q16) first")
        prior = law_octave_prior(self.q16)

        def decode(coder) -> np.ndarray:
            octave = decode_kt(coder, num_chunks, _LAW_OCTAVES, prior)
            sym = _OCT_START[octave].astype(np.int64)
            for o in range(1, _LAW_OCTAVES):
                sel = np.flatnonzero(octave == o)
                if sel.size:
                    got = np.asarray(guard("entropy decoding", coder.decode, self._within(o), int(sel.size)), np.int64)
                    if got.min() < 0 or got.max() >= _OCT_SIZE[o]:
                        raise DecodeError("index symbol out of range: corrupted payload")
                    sym[sel] += got
            width = law_widths(sym)
            low = join_mantissas(decode_uniform_pieces(coder, piece_widths(width)), width)
            index1 = law_join(sym, low)
            _check_max(index1, self.max_index)
            return index1 - np.uint64(1)

        return PendingIndices(0, True, decode)


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
