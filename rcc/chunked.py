"""High-dimensional chunked coding: ``rcc.compress`` / ``rcc.decompress``.

One selection channel (PFR, ORC or MRC) costs about 2^KL (or 2^D_inf) candidates, so a pair with
thousands of bits of KL is cut into chunks of about ``chunk_bits`` of KL each, every chunk is
coded on its own with its own slice of the shared stream, and all indices travel in one
entropy-coded payload behind one header (chunking as in minimal random coding, Havasi, Peharz &
Hernandez-Lobato, ICLR 2019; PFR chunks as in Flamich, Havasi & Hernandez-Lobato, NeurIPS 2020;
ORC from Theis & Yosri, ICML 2022)::

      q, p  (any shape S, d = prod(S) coordinates, flattened in C order)
        |  kl_bits(q, p, elementwise=True): (d,) bits
        v
      greedy layout: contiguous chunks, a chunk closes once its KL reaches chunk_bits
        |  (at a multiple of size_step coordinates); sizes n_0 .. n_{C-1}, sum = d
        v
      chunk c: channel.select(Pair(q_c, p_c), seed, chunk=c) -> index K_c >= 1
        |  candidate K_c of chunk c is a pure function of (seed, c, K_c): O(n_c) to regenerate
        v
      payload: preamble (bits) + one ANS stream (constriction) of sizes and indices
      blob = container(method "chunked", params, seed, S, payload)

Payload format (all of it counted in ``payload_bits``; bit strings most significant bit first)::

    preamble
      gamma(C)                        number of chunks, 1 <= C <= d           (Elias gamma)
      if C > 1: 1 bit layout          1: "even", chunk c = coordinates [floor(c d / C),
                                         floor((c + 1) d / C)), nothing more is sent;
                                      0: "kl", then gamma(s_min), gamma(s_span + 1): chunk
                                         sizes lie in [s_min, s_min + s_span] (size_step g = 1),
                                         or n_c / g does for c < C - 1 (g > 1)
      pfr / orc: 6 bits L_min, 6 bits L_span     index bit lengths L = floor(log2 K) lie in
                                                 [L_min, L_min + L_span], L_min + L_span <= 63
    ANS words (constriction AnsCoder, 32-bit words, in the order the decoder reads them)
      sizes n_c / g - s_min, c < C-1 (only for the "kl" layout with s_span > 0;
                                     n_{C-1} = d - the rest)
      L_0 .. L_{C-1} - L_min         (pfr / orc, only if L_span > 0)
          both under adaptive Krichevsky-Trofimov categoricals (counts + 1/2, updated after each
          symbol), so no table is sent and the decoder learns the law as it reads;
      mantissas                      the L_c low bits of K_c (pfr / orc), or K_c - 1 in
                                     ceil(log2 N) bits (mrc), as constriction Uniform(2^b)
                                     symbols of b <= 16 bits each (exactly b bits apiece)
    The last (top) ANS word is stored without its leading zeros (the container's exact payload
    length tells the decoder how many bits it kept); an empty coder takes no bits.

Header parameters (container method "chunked"): (inner method code, candidate count N or 0 for
exact PFR, chunk_bits in 1/16 bits), and the size step g as a fourth parameter when g > 1. The
decoder needs neither q nor the KL profile: layout and indices come from the payload, the rest
from the prior p and the header.

The blob's checksum folds in the fingerprint of the prior (:mod:`rcc.container`), so decoding
with another prior is a DecodeError. Decoding work is bounded before it starts: d by
``max_elements`` (:data:`rcc.DEFAULT_MAX_ELEMENTS`), C by d and by the payload (each chunk's
mantissa costs L_min, or ceil(log2 N), bits of the ANS words), and every constriction call is
guarded, so a crafted payload gives a DecodeError.

In chunked mode the bit lengths L concentrate near ``chunk_bits``, so the learned categorical of
L costs a few bits per chunk, well under the Zipf/Golomb code a single message needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import constriction
import numba
import numpy as np

from ._checks import check_pair, open_blob, pair_dinf_bits, pair_kl_bits, warn_long_race
from ._kernels import Pair, _fill_candidate
from .coding import BitReader, BitWriter
from .container import DEFAULT_MAX_ELEMENTS, METHODS, Container, pack
from .distributions import Distribution
from .errors import DecodeError, guard
from .mrc import MRC
from .orc import ORC
from .pfr import MAX_EXACT_DINF_BITS, PFR
from .random import MAX_CHUNK, check_seed, seed_key

__all__ = ["compress", "decompress", "CompressReport"]

_INNER = {"pfr": PFR, "orc": ORC, "mrc": MRC}
_PIECE_BITS = 16  # mantissa pieces: constriction Uniform(2^b), b <= 16
_KT_ALPHA = 0.5  # Krichevsky-Trofimov pseudo-count
_KT_BLOCK = 4096  # rows of the (symbols, alphabet) probability array per encoder call
_MAX_LBITS = 63  # indices are below 2**64
_AUTO_BLOCK = 0.4  # size_step="auto": blocks of about 0.4 chunk_bits of KL
_AUTO_MAX_STEP = 16


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CompressReport:
    """What :func:`compress` did (returned with ``return_report=True``).

    Attributes
    ----------
    sample : np.ndarray, shape S
        The sample :func:`decompress` will return, bit for bit.
    method : str
        The channel, e.g. ``"PFR(max_candidates=None)"``.
    kl_bits : float
        Total KL[q || p] in bits.
    payload_bits : int
        Exact payload length in bits (layout, indices, ANS words): the message proper.
    header_bits : int
        Everything else in the blob: container header, byte padding and CRC-32.
    num_chunks : int
    num_candidates : int
        Candidates scored over all chunks.
    num_truncated : int
        Chunks whose race was cut at the candidate limit (truncated PFR: a biased chunk; ORC:
        the race ran through all N). 0 for MRC, which always scores all N.
    chunk_kl_bits : np.ndarray of float64, shape (C,)
    chunk_dinf_bits : np.ndarray of float64, shape (C,) (inf where unbounded or no closed form)
    chunk_sizes : np.ndarray of int64, shape (C,)
    chunk_index : np.ndarray of uint64, shape (C,)
        The 1-based index sent for each chunk.
    chunk_candidates : np.ndarray of int64, shape (C,)
    """

    sample: np.ndarray
    method: str
    kl_bits: float
    payload_bits: int
    header_bits: int
    num_chunks: int
    num_candidates: int
    num_truncated: int
    chunk_kl_bits: np.ndarray
    chunk_dinf_bits: np.ndarray
    chunk_sizes: np.ndarray
    chunk_index: np.ndarray
    chunk_candidates: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def total_bits(self) -> int:
        """Length of the blob in bits (payload + header)."""
        return self.payload_bits + self.header_bits

    @property
    def bits_per_kl(self) -> float:
        """payload_bits / kl_bits (inf when the KL is 0)."""
        return self.payload_bits / self.kl_bits if self.kl_bits > 0 else math.inf

    def __repr__(self) -> str:
        return (
            f"CompressReport(method={self.method}, shape={self.sample.shape}, kl_bits={self.kl_bits:.1f}, "
            f"payload_bits={self.payload_bits}, header_bits={self.header_bits}, num_chunks={self.num_chunks}, "
            f"num_candidates={self.num_candidates}, num_truncated={self.num_truncated})"
        )


# ----------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _greedy_sizes(kl, chunk_bits, size_step, out):
    """Contiguous chunks of about ``chunk_bits`` of KL; returns the chunk count.

    size_step 1: a chunk closes as soon as its KL reaches ``chunk_bits``. size_step g > 1: sizes
    are multiples of g, and a chunk closes at the first multiple at which its KL reaches
    ``chunk_bits``, or at the multiple before it if that one's KL is closer to ``chunk_bits``
    (so one block of g coordinates moves the chunk KL by at most half the block's KL). The last
    chunk takes what is left.
    """
    acc = 0.0  # KL of the open chunk
    size = 0
    before = 0.0  # KL of the open chunk at its previous multiple of size_step
    count = 0
    for j in range(kl.shape[0]):
        acc += kl[j]
        size += 1
        if size % size_step != 0:
            continue
        if acc >= chunk_bits:
            if size_step > 1 and size > size_step and chunk_bits - before < acc - chunk_bits:
                out[count] = size - size_step  # close at the previous multiple; the block opens the next
                count += 1
                acc -= before
                size = size_step
                if acc < chunk_bits:
                    before = acc
                    continue
            out[count] = size
            count += 1
            acc = 0.0
            size = 0
        before = acc
    if size > 0:
        out[count] = size
        count += 1
    return count


@numba.njit(cache=True)
def _fill_chunks(k0, k1, pfam, pa, pb, sizes, index0, out):
    """Candidate index0[c] of chunk c into out[offset_c : offset_c + sizes[c]], for every chunk."""
    start = 0
    for c in range(sizes.shape[0]):
        end = start + sizes[c]
        _fill_candidate(k0, k1, c, index0[c], pfam, pa[start:end], pb[start:end], out[start:end])
        start = end


def _regenerate(p: Distribution, seed: int, sizes: np.ndarray, index1: np.ndarray) -> np.ndarray:
    """The flat (d,) sample: candidate index1[c] (1-based) of chunk c for every chunk."""
    k0, k1 = seed_key(seed)
    pa = np.ascontiguousarray(p.a, np.float64).ravel()
    pb = np.ascontiguousarray(p.b, np.float64).ravel()
    out = np.empty(pa.shape[0])
    index0 = np.asarray(index1, dtype=np.uint64) - np.uint64(1)
    _fill_chunks(k0, k1, int(p.family), pa, pb, np.asarray(sizes, np.int64), index0, out)
    return out


# ----------------------------------------------------------------------------------------------
# bit-level helpers
# ----------------------------------------------------------------------------------------------


def _write_gamma(w: BitWriter, n: int) -> None:
    """Elias gamma code of ``n >= 1``: floor(log2 n) zeros, then n in binary."""
    nbits = int(n).bit_length()
    w.write(0, nbits - 1)
    w.write(int(n), nbits)


def _read_gamma(rd: BitReader, max_bits: int = 64) -> int:
    zeros = 0
    while rd.read(1) == 0:
        zeros += 1
        if zeros >= max_bits:
            raise DecodeError("Elias gamma code too long: corrupted payload")
    return (1 << zeros) | rd.read(zeros)


def _kt_probs(symbols: np.ndarray, alphabet: int) -> np.ndarray:
    """(n, alphabet) rows: counts of each symbol before position i, plus 1/2."""
    onehot = np.zeros((symbols.shape[0], alphabet))
    onehot[np.arange(symbols.shape[0]), symbols] = 1.0
    before = np.cumsum(onehot, axis=0) - onehot
    return before + _KT_ALPHA


def _encode_kt(coder, symbols: np.ndarray, alphabet: int) -> None:
    """Push ``symbols`` (values in [0, alphabet)) under the adaptive KT model, decode order kept."""
    if symbols.size == 0 or alphabet < 2:
        return
    family = constriction.stream.model.Categorical(perfect=False)
    counts = np.zeros(alphabet)
    blocks = []
    for start in range(0, symbols.shape[0], _KT_BLOCK):
        block = symbols[start:start + _KT_BLOCK]
        probs = _kt_probs(block, alphabet) + counts
        counts = counts + np.bincount(block, minlength=alphabet)
        blocks.append((block, probs))
    for block, probs in reversed(blocks):  # a stack: last pushed is first read
        coder.encode_reverse(block.astype(np.int32), family, probs)


def _decode_kt(coder, count: int, alphabet: int) -> np.ndarray:
    out = np.zeros(count, dtype=np.int64)
    if count == 0 or alphabet < 2:
        return out
    if not 2 <= alphabet <= 2**24:
        raise DecodeError(f"alphabet of {alphabet} symbols out of range")
    family = constriction.stream.model.Categorical(perfect=False)
    row = np.full((1, alphabet), _KT_ALPHA)
    for i in range(count):
        s = int(guard("entropy decoding", coder.decode, family, row)[0])
        out[i] = s
        row[0, s] += 1.0
    return out


def _piece_widths(widths: np.ndarray) -> np.ndarray:
    """Split bit widths (each <= 63) into pieces of <= 16 bits, most significant piece first."""
    widths = np.asarray(widths, dtype=np.int64)
    npieces = (widths + _PIECE_BITS - 1) // _PIECE_BITS
    total = int(npieces.sum())
    out = np.empty(total, dtype=np.int64)
    pos = 0
    for wdt, n in zip(widths.tolist(), npieces.tolist()):
        first = wdt - _PIECE_BITS * (n - 1)
        if n:
            out[pos] = first
            out[pos + 1:pos + n] = _PIECE_BITS
        pos += n
    return out


def _split_mantissas(values: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pieces (symbols, widths) of each value's ``width`` low bits, most significant first."""
    syms, wids = [], []
    for v, wdt in zip(values.tolist(), widths.tolist()):
        v = int(v) & ((1 << wdt) - 1)
        n = (wdt + _PIECE_BITS - 1) // _PIECE_BITS
        first = wdt - _PIECE_BITS * (n - 1)
        shift = wdt
        for k in range(n):
            b = first if k == 0 else _PIECE_BITS
            shift -= b
            syms.append((v >> shift) & ((1 << b) - 1))
            wids.append(b)
    return np.array(syms, dtype=np.int64), np.array(wids, dtype=np.int64)


def _join_mantissas(pieces: np.ndarray, widths: np.ndarray) -> np.ndarray:
    out = np.zeros(widths.shape[0], dtype=np.uint64)
    pos = 0
    for i, wdt in enumerate(widths.tolist()):
        n = (wdt + _PIECE_BITS - 1) // _PIECE_BITS
        first = wdt - _PIECE_BITS * (n - 1)
        v = 0
        for k in range(n):
            b = first if k == 0 else _PIECE_BITS
            v = (v << b) | int(pieces[pos])
            pos += 1
        out[i] = v
    return out


def _encode_uniform_pieces(coder, symbols: np.ndarray, widths: np.ndarray) -> None:
    if symbols.size == 0:
        return
    if widths.min() < 1 or widths.max() > _PIECE_BITS or (symbols >> widths).any() or symbols.min() < 0:
        raise AssertionError("bad mantissa pieces")  # internal invariant
    sizes = (np.int64(1) << widths).astype(np.int32)
    coder.encode_reverse(symbols.astype(np.int32), constriction.stream.model.Uniform(), sizes)


def _decode_uniform_pieces(coder, widths: np.ndarray) -> np.ndarray:
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64)
    if widths.min() < 1 or widths.max() > _PIECE_BITS:
        raise DecodeError("mantissa piece width out of range")
    sizes = (np.int64(1) << widths).astype(np.int32)
    return np.asarray(guard("entropy decoding", coder.decode, constriction.stream.model.Uniform(), sizes), dtype=np.int64)


def _write_words(w: BitWriter, words: np.ndarray) -> None:
    """ANS words, the top (last) word without its leading zeros; nothing for an empty coder."""
    if words.size == 0:
        return
    for x in words[:-1].tolist():
        w.write(int(x), 32)
    top = int(words[-1])
    w.write(top, top.bit_length())  # >= 1 bit: constriction never ends in a zero word


def _read_words(rd: BitReader) -> np.ndarray:
    """Inverse of :func:`_write_words` on the rest of the payload: 32 (n - 1) + t bits, 1 <= t <= 32."""
    nbits = rd.remaining
    if nbits == 0:
        return np.zeros(0, dtype=np.uint32)
    full = (nbits - 1) // 32
    words = [rd.read(32) for _ in range(full)]
    top_bits = nbits - 32 * full
    top = rd.read(top_bits)
    if top >> (top_bits - 1) != 1:
        raise DecodeError("the top ANS word is not stored canonically: corrupted payload")
    words.append(top)
    return np.array(words, dtype=np.uint32)


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------


def _channel(method):
    if isinstance(method, str):
        cls = _INNER.get(method.lower())
        if cls is None:
            raise ValueError(f"method must be 'pfr', 'orc', 'mrc' or a PFR/ORC/MRC instance; got {method!r}")
        return cls()
    if isinstance(method, (PFR, ORC, MRC)):
        return method
    raise ValueError(f"method must be 'pfr', 'orc', 'mrc' or a PFR/ORC/MRC instance; got {method!r}")


def _count_param(ch) -> int:
    if isinstance(ch, PFR):
        return ch.max_candidates or 0
    return ch.num_candidates


def _check_chunk_bits(chunk_bits) -> int:
    """chunk_bits in 1/16 bits, an int in [1, 2**32)."""
    if isinstance(chunk_bits, (bool, np.bool_)) or not isinstance(chunk_bits, (int, float, np.integer, np.floating)):
        raise ValueError(f"chunk_bits must be a positive number of bits; got {chunk_bits!r}")
    value = float(chunk_bits)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"chunk_bits must be finite and > 0; got {chunk_bits!r}")
    q16 = int(round(value * 16))
    if not 1 <= q16 < 2**32:
        raise ValueError(f"chunk_bits must lie in [1/16, 2**28) bits; got {chunk_bits!r}")
    return q16


def _slice(dist: Distribution, start: int, end: int) -> Distribution:
    return type(dist)._from_validated(dist.a[start:end], dist.b[start:end])


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def compress(
    q: Distribution,
    p: Distribution,
    method="pfr",
    seed: int = 0,
    chunk_bits: float = 12.0,
    *,
    layout: str = "kl",
    size_step: int | str = 1,
    return_report: bool = False,
):
    """Send one sample of a high-dimensional factorised q given the prior p, as one blob.

    The pair is flattened (C order) and cut into contiguous chunks of about ``chunk_bits`` of
    KL each (a chunk closes as soon as its KL reaches ``chunk_bits``); chunk c is coded by the
    channel with shared-stream chunk index c, so candidate i of chunk c is a pure function of
    (seed, c, i). Chunk layout and indices go into one payload (see the module docstring) behind
    one container header.

    Parameters
    ----------
    q, p : rcc distributions
        Target and prior, broadcasting to one shape S (any ndim, d = prod(S) coordinates,
        1 <= d; chunk count < 2**24).
    method : "pfr" | "orc" | "mrc" | PFR | ORC | MRC
        The channel for every chunk. Strings take the defaults (exact PFR; N = 2**16 for ORC and
        MRC); pass an instance for other settings, e.g. ``rcc.PFR(max_candidates=2**16)`` where
        D_inf is infinite (equal-variance Gaussians), or ``rcc.ORC(num_candidates=2**14)``.
    seed : int in [0, 2**64)
        Shared-randomness seed (stored in the header).
    chunk_bits : float
        Target KL per chunk in bits, quantised to 1/16 bit. Exact PFR scores about 2^D_inf(chunk)
        candidates per chunk, and D_inf exceeds KL (by a factor ~1.3-2 for Gaussians), so keep it
        modest (8-16).
    layout : "kl" | "even"
        ``"kl"`` (default): greedy equal-KL chunks, whose sizes are sent (about 2-3 bits per
        chunk for a homogeneous pair); every chunk has about ``chunk_bits`` of KL, which keeps
        exact PFR's 2^D_inf runtime even across chunks. ``"even"``: round(KL / chunk_bits)
        chunks of equal size (within one coordinate), which costs no side information but lets
        the chunk KL follow the KL profile. Often fewer bits: the index's bit length spreads by a
        few bits anyway, so a wider spread of chunk KL costs its code little, while sizes cost
        ~1.4-2.6 bits per chunk. But the chunks of high KL need the most candidates: with a
        truncated PFR give it a budget that follows the chunk KL (``PFR(headroom_bits=)``) and
        more headroom than "kl" needs (docs/diffusion.md: steps of a Gaussian diffusion, bits/KL
        1.28 "even" against 1.39 "kl" at headroom 5, where "even" leans towards the prior; 1.27
        and unbiased within noise at headroom 7, in ~3x the time; ``rcc-diffusion tradeoff``).
    size_step : int >= 1 or "auto"
        ``"kl"`` layout only: chunk sizes (all but the last) are multiples of ``size_step``; a
        chunk closes at the multiple where its KL crosses ``chunk_bits`` or the one before,
        whichever is closer. Sizes then cost about log2(size_step) bits less each, and a chunk's
        KL strays from ``chunk_bits`` by up to half a block's KL: worth it where size_step
        coordinates hold a few bits of KL or less. ``"auto"``: the step whose blocks hold about
        0.4 chunk_bits of KL on average, round(0.4 chunk_bits / mean coordinate KL), in [1, 16]
        (Gaussian diffusion steps with 12-bit chunks: 3-8).
    return_report : bool
        Also return a :class:`CompressReport` (sample, bits, per-chunk KL / index / candidates).

    Returns
    -------
    bytes, or (bytes, CompressReport) if ``return_report``.

    Raises
    ------
    ValueError
        Bad arguments; a pair of families without a closed-form KL (e.g. a Gaussian q against a
        Logistic p); or exact PFR on a chunk whose D_inf is infinite or above 32 bits (pass
        ``rcc.PFR(max_candidates=N)`` or ``rcc.ORC(num_candidates=N)``, or lower chunk_bits).

    Warns
    -----
    RuntimeWarning
        Before any race, when the chunks are expected to take more than about 30 s in all (the
        expected candidates per chunk, 2^D_inf capped by the budget, at ~10 ns per
        candidate-coordinate), e.g. ``rcc.PFR(max_candidates=2**40)`` on equal-variance pairs.

    Example
    -------
    >>> import numpy as np, rcc
    >>> mu = np.linspace(-1.0, 1.0, 64)
    >>> q, p = rcc.Gaussian(mu, 0.5), rcc.Gaussian(0.0, 1.0)
    >>> blob, report = rcc.compress(q, p, seed=7, chunk_bits=6.0, return_report=True)
    >>> x = rcc.decompress(blob, p)
    >>> bool((x == report.sample).all()), x.shape
    (True, (64,))
    """
    ch = _channel(method)
    shape = check_pair(q, p)
    seed = check_seed(seed)
    if not isinstance(return_report, (bool, np.bool_)):
        raise ValueError(f"return_report must be a bool; got {return_report!r}")
    q16 = _check_chunk_bits(chunk_bits)
    qf = q.broadcast_to(shape).ravel()
    pf = p.broadcast_to(shape).ravel()
    d = qf.size
    kl = np.ascontiguousarray(pair_kl_bits(qf, pf, elementwise=True), dtype=np.float64)
    if np.isnan(kl).any():
        raise ValueError("the per-coordinate KL of q and p is nan somewhere")
    if isinstance(size_step, str) and size_step == "auto":
        mean = float(kl.mean()) if np.isfinite(kl).all() else math.inf
        size_step = 1
        if layout == "kl" and 0 < mean < math.inf:
            size_step = int(min(_AUTO_MAX_STEP, max(1, round(_AUTO_BLOCK * (q16 / 16.0) / mean))))
    if isinstance(size_step, (bool, np.bool_)) or not isinstance(size_step, (int, np.integer)) or size_step < 1:
        raise ValueError(f"size_step must be an int >= 1 or 'auto'; got {size_step!r}")
    size_step = int(size_step)
    if size_step > 1 and layout != "kl":
        raise ValueError(f"size_step applies to the 'kl' layout only; got layout={layout!r}")
    if layout == "kl":
        sizes_buf = np.empty(d, dtype=np.int64)
        num_chunks = _greedy_sizes(kl, q16 / 16.0, size_step, sizes_buf)
        sizes = sizes_buf[:num_chunks].copy()
    elif layout == "even":
        total = float(kl.sum())
        num_chunks = int(min(d, max(1, round(total / (q16 / 16.0))))) if math.isfinite(total) else d
        sizes = _even_sizes(d, num_chunks)
    else:
        raise ValueError(f"layout must be 'kl' or 'even'; got {layout!r}")
    if num_chunks > MAX_CHUNK + 1:
        raise ValueError(
            f"{num_chunks} chunks exceed the stream's 2**24 chunk addresses; raise chunk_bits (now {chunk_bits})"
        )
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    chunk_kl = np.add.reduceat(kl, starts)
    dinf = np.add.reduceat(np.asarray(pair_dinf_bits(qf, pf, elementwise=True), np.float64), starts)
    same = (qf.family == pf.family) & (qf.a == pf.a) & (qf.b == pf.b)
    trivial = np.logical_and.reduceat(same, starts)  # q == p on the chunk: candidate 1 is exact
    exact_pfr = isinstance(ch, PFR) and ch.exact
    if exact_pfr:
        bad = ~trivial & ~(dinf <= MAX_EXACT_DINF_BITS)
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"exact PFR cannot code chunk {c} (coordinates {starts[c]}..{starts[c] + sizes[c] - 1}): its "
                f"D_inf is {dinf[c]:.4g} bits (KL {chunk_kl[c]:.4g} bits), "
                + ("infinite (e.g. q not narrower than p)" if not np.isfinite(dinf[c]) else
                   f"above {MAX_EXACT_DINF_BITS:g} bits, about 2^D_inf candidates")
                + "; pass method=rcc.PFR(max_candidates=N) for a truncated race or rcc.ORC(num_candidates=N)"
                + ("" if not np.isfinite(dinf[c]) else ", or lower chunk_bits")
            )

    busy = ~trivial
    expected = np.array([ch.expected_candidates(float(k), float(i)) for k, i in zip(chunk_kl[busy], dinf[busy])])
    warn_long_race(expected.sum(), (expected * sizes[busy]).sum(), f"rcc.compress with {ch!r} on {num_chunks} chunks")

    index1 = np.ones(num_chunks, dtype=np.uint64)
    scored = np.zeros(num_chunks, dtype=np.int64)
    truncated = np.zeros(num_chunks, dtype=bool)
    for c in range(num_chunks):
        if trivial[c]:
            continue
        s, e = int(starts[c]), int(starts[c] + sizes[c])
        qc, pc = _slice(qf, s, e), _slice(pf, s, e)
        idx0, info = ch.select(Pair(qc, pc), qc, pc, seed, c)
        index1[c] = idx0 + 1
        scored[c] = info.get("num_candidates", 0)
        if isinstance(ch, PFR):
            truncated[c] = bool(info.get("truncated", False))
        elif isinstance(ch, ORC):
            truncated[c] = not info.get("stopped_early", True)

    payload, payload_bits = _write_payload(ch, d, sizes, index1, layout == "even", size_step)
    params = (METHODS[ch.method], _count_param(ch), q16) + ((size_step,) if size_step > 1 else ())
    blob = pack(Container("chunked", params, seed, tuple(shape), payload, payload_bits), prior=p)
    if not return_report:
        return blob
    sample = _regenerate(pf, seed, sizes, index1).reshape(shape)
    report = CompressReport(
        sample=sample,
        method=repr(ch),
        kl_bits=float(kl.sum()),
        payload_bits=int(payload_bits),
        header_bits=8 * len(blob) - int(payload_bits),
        num_chunks=int(num_chunks),
        num_candidates=int(scored.sum()),
        num_truncated=int(truncated.sum()),
        chunk_kl_bits=chunk_kl,
        chunk_dinf_bits=dinf,
        chunk_sizes=sizes,
        chunk_index=index1,
        chunk_candidates=scored,
        extra={"layout": layout, "chunk_bits": q16 / 16.0, "size_step": size_step},
    )
    return blob, report


def _even_sizes(d: int, num_chunks: int) -> np.ndarray:
    edges = (np.arange(num_chunks + 1, dtype=np.int64) * d) // num_chunks
    return np.diff(edges)


def _write_payload(ch, d: int, sizes: np.ndarray, index1: np.ndarray, even: bool, step: int) -> tuple[bytes, int]:
    num_chunks = sizes.shape[0]
    w = BitWriter()
    _write_gamma(w, num_chunks)
    coder = constriction.stream.stack.AnsCoder()
    # pushed in reverse of the decoder's reading order: mantissas, bit lengths, sizes
    if isinstance(ch, MRC):
        width = (ch.num_candidates - 1).bit_length()
        syms, wids = _split_mantissas(index1 - np.uint64(1), np.full(num_chunks, width, np.int64))
        _encode_uniform_pieces(coder, syms, wids)
    else:
        lbits = np.array([int(k).bit_length() - 1 for k in index1.tolist()], dtype=np.int64)
        syms, wids = _split_mantissas(index1, lbits)
        _encode_uniform_pieces(coder, syms, wids)
        lmin, lmax = int(lbits.min()), int(lbits.max())
        _encode_kt(coder, lbits - lmin, lmax - lmin + 1)
    if num_chunks > 1:
        w.write(int(even), 1)
    if num_chunks > 1 and not even:
        # step 1: the range covers every size; step > 1: the units n / step of all but the last
        units = sizes if step == 1 else sizes[:-1] // step
        smin, smax = int(units.min()), int(units.max())
        _encode_kt(coder, units[:num_chunks - 1] - smin, smax - smin + 1)
        _write_gamma(w, smin)
        _write_gamma(w, smax - smin + 1)
    if not isinstance(ch, MRC):
        w.write(lmin, 6)
        w.write(lmax - lmin, 6)
    _write_words(w, np.asarray(coder.get_compressed(), dtype=np.uint32))
    return w.getvalue()


def decompress(blob: bytes, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """Regenerate the sample of a :func:`compress` blob from the prior p alone.

    Method, candidate count, seed, shape and chunk layout come from the blob; the cost is O(d)
    plus the entropy decoding of one index per chunk.

    Parameters
    ----------
    blob : bytes
        The output of :func:`compress`.
    p : rcc distribution
        The prior the blob was encoded with; it must broadcast to the blob's shape S. Its
        fingerprint is folded into the blob's checksum (:mod:`rcc.container`), so any other
        prior is a DecodeError.
    max_elements : int
        Largest d = prod(S) accepted (default :data:`rcc.DEFAULT_MAX_ELEMENTS` = 2**24); a
        blob that declares more is refused before anything of its size is allocated.

    Returns
    -------
    np.ndarray of float64, shape S -- equal bit for bit to the encoder's sample.

    Raises
    ------
    rcc.DecodeError
        Malformed, truncated or corrupted blob, a blob of another method, a prior other than the
        encoder's (another family, shape or parameter), or more than ``max_elements`` elements.

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian([0.3, -0.2, 0.9], 0.6), rcc.Gaussian(0.0, 1.0)
    >>> blob = rcc.compress(q, p, method=rcc.ORC(num_candidates=2**10), seed=3, chunk_bits=4.0)
    >>> rcc.decompress(blob, p).shape
    (3,)
    """
    c, pb = open_blob(blob, "chunked", p, None, max_elements)
    if len(c.params) not in (3, 4):
        raise DecodeError(f"a chunked blob has 3 or 4 header parameters, this one {len(c.params)}")
    inner_code, count, q16 = c.params[:3]
    step = c.params[3] if len(c.params) == 4 else 1
    if len(c.params) == 4 and not 2 <= step < 2**31:
        raise DecodeError(f"chunk size step {step} out of range")
    names = {METHODS[name]: name for name in _INNER}
    inner = names.get(inner_code)
    if inner is None:
        raise DecodeError(f"unknown inner method code {inner_code} in a chunked blob")
    if not count < 2**63 or (inner != "pfr" and count < 1):
        raise DecodeError(f"candidate count {count} out of range for {inner}")
    if not 1 <= q16 < 2**32:
        raise DecodeError(f"chunk_bits {q16}/16 out of range")
    if any(n < 1 for n in c.shape):
        raise DecodeError(f"shape {c.shape} has an empty dimension")
    d = int(np.prod(c.shape, dtype=object))
    sizes, index1 = _read_payload(inner, count, d, c.payload, c.payload_bits, step)
    return _regenerate(pb.ravel(), c.seed, sizes, index1).reshape(c.shape)


def _read_payload(inner: str, count: int, d: int, payload: bytes, payload_bits: int, step: int = 1):
    rd = BitReader(payload, payload_bits)
    num_chunks = _read_gamma(rd)
    if num_chunks > d or num_chunks > MAX_CHUNK + 1:
        raise DecodeError(f"{num_chunks} chunks for {d} coordinates: corrupted payload")
    even = bool(rd.read(1)) if num_chunks > 1 else False
    if num_chunks > 1 and not even:
        smin = _read_gamma(rd)
        sspan = _read_gamma(rd) - 1
        if step == 1 and (smin * num_chunks > d or (smin + sspan) * num_chunks < d or smin + sspan > d):
            raise DecodeError(f"chunk sizes in [{smin}, {smin + sspan}] cannot add up to {d}")
        if step > 1 and (smin * step * (num_chunks - 1) >= d or (smin + sspan) * step >= d):
            raise DecodeError(f"chunk sizes of at least {smin} x {step} cannot add up to {d}")
    else:
        smin, sspan = d, 0
    if inner != "mrc":
        lmin, lspan = rd.read(6), rd.read(6)
        if lmin + lspan > _MAX_LBITS:
            raise DecodeError(f"index bit lengths up to {lmin + lspan} exceed {_MAX_LBITS}")
        if count and lmin > count.bit_length() - 1:
            raise DecodeError(f"index bit length {lmin} exceeds the {count} candidates")
        expect = sspan > 0 or lspan > 0 or lmin > 0
    else:
        width = (count - 1).bit_length()
        expect = sspan > 0 or width > 0
    # every chunk's mantissa costs exactly lmin (pfr / orc, at least) or width (mrc) bits of the
    # ANS words, whose 64-bit state holds at most 64 bits more than the words written
    least = num_chunks * (width if inner == "mrc" else lmin)
    if least > rd.remaining + 64:
        raise DecodeError(f"{num_chunks} chunks need at least {least} payload bits, the payload holds {rd.remaining}")
    if expect:
        coder = guard("reading the ANS stream", constriction.stream.stack.AnsCoder, _read_words(rd))
    elif rd.remaining:
        raise DecodeError(f"{rd.remaining} payload bits left unread: corrupted payload")
    # sizes
    if even:
        sizes = _even_sizes(d, num_chunks)
    elif num_chunks > 1:
        sizes = np.full(num_chunks, smin, dtype=np.int64)
        if sspan > 0:
            sizes[:-1] += _decode_kt(coder, num_chunks - 1, sspan + 1)
        sizes[:-1] *= step
        last = d - int(sizes[:-1].sum())
        if not (smin <= last <= smin + sspan if step == 1 else last >= 1):
            raise DecodeError("chunk sizes do not add up to the shape: corrupted payload")
        sizes[-1] = last
    else:
        sizes = np.array([d], dtype=np.int64)
    # indices
    if inner == "mrc":
        widths = np.full(num_chunks, width, dtype=np.int64)
        pieces = _decode_uniform_pieces(coder, _piece_widths(widths)) if expect else np.zeros(0, np.int64)
        index1 = _join_mantissas(pieces, widths) + np.uint64(1)
    else:
        lbits = lmin + (_decode_kt(coder, num_chunks, lspan + 1) if lspan > 0 else np.zeros(num_chunks, np.int64))
        pieces = _decode_uniform_pieces(coder, _piece_widths(lbits)) if expect else np.zeros(0, np.int64)
        index1 = _join_mantissas(pieces, lbits) | (np.uint64(1) << lbits.astype(np.uint64))
    if expect and not guard("entropy decoding", coder.is_empty):
        raise DecodeError("entropy-coded data left over after the last index: corrupted payload")
    if count and int(index1.max()) > count:
        raise DecodeError(f"index {int(index1.max())} exceeds the blob's {count} candidates")
    return sizes, index1
