"""High-dimensional chunked coding: ``rcc.compress`` / ``rcc.decompress``.

One channel message (PFR, ORC, MRC or Hybrid) costs about 2^KL (or 2^D_inf) candidates, so a pair with
thousands of bits of KL is cut into chunks of about ``chunk_bits`` of KL each, every chunk is
coded on its own with its own slice of the shared stream, and all indices travel in one
entropy-coded payload behind one header (chunking as in minimal random coding, Havasi, Peharz &
Hernandez-Lobato, ICLR 2019; PFR chunks as in Flamich, Havasi & Hernandez-Lobato, NeurIPS 2020;
ORC from Theis & Yosri, ICML 2022)::

      q, p  (any shape S, d = prod(S) coordinates, flattened in C order)
        |  kl_bits(q, p, elementwise=True): (d,) bits
        v
      greedy layout: contiguous chunks, a chunk closes once its KL reaches chunk_bits
        |  (at a multiple of size_multiple coordinates); sizes n_0 .. n_{C-1}, sum = d
        v
      chunk c: channel.select(Pair(q_c, p_c), seed, chunk=c) -> index K_c >= 1 (Hybrid: and bins)
        |  candidate K_c of chunk c is a pure function of (seed, c, K_c): O(n_c) to regenerate
        v
      payload: preamble (bits) + one ANS stream (constriction) of sizes and indices
      msg = Message("chunked", params, seed, sample, payload); msg.to_bytes() is the blob

``rcc.compress`` knows no channel by type: a channel takes part through its hooks
(:meth:`~rcc.channel.Channel.select`, ``refusal``, ``expected_candidates`` and
:meth:`~rcc.channel.Channel.chunk_code`: the index law, its header parameters, the largest
chunk and how a chunk's sample is regenerated, see :mod:`rcc._chunk_codes`), and the decoder
finds it by its method code in the header.

Payload format (all of it counted in ``num_bits``; bit strings most significant bit first)::

    preamble
      gamma(C)                        number of chunks, 1 <= C <= d           (Elias gamma)
      if C > 1: 1 bit layout          1: "even", chunk c = coordinates [floor(c d / C),
                                         floor((c + 1) d / C)), nothing more is sent;
                                      0: "kl", then gamma(s_min), gamma(s_span + 1): chunk
                                         sizes lie in [s_min, s_min + s_span] (size_multiple
                                         g = 1), or n_c / g does for c < C - 1 (g > 1)
      the chunk code's fields         pfr (index code 1): none; orc, pfr (index code 0): 6 bits
                                      L_min, 6 bits L_span: index bit lengths
                                      L = floor(log2 K) lie in [L_min, L_min + L_span] (<= 63);
                                      mrc: none; hybrid: the bin of each of the d coordinates
                                      (truncated binary code of M bins), then L_min, L_span
    ANS words (constriction AnsCoder, 32-bit words, in the order the decoder reads them)
      sizes n_c / g - s_min, c < C-1 (only for the "kl" layout with s_span > 0;
                                     n_{C-1} = d - the rest)
      the chunk code's symbols       pfr (index code 1): K_c under exact PFR's index law at
                                     KL = chunk_bits (:class:`rcc._chunk_codes.LawCode`): the
                                     octaves floor(log2 K_c) under an adaptive categorical that
                                     starts at the law's octave masses, the symbol within each
                                     octave (K < 8, or the 3 bits after the leading one) under
                                     the law, then the low bits;
                                     orc / hybrid / pfr (index code 0): L_0 .. L_{C-1} - L_min
                                     (only if L_span > 0), then the L_c low bits of K_c; mrc:
                                     K_c - 1 in ceil(log2 N) bits
          sizes and bit lengths under adaptive Krichevsky-Trofimov categoricals (counts + 1/2,
          updated after each symbol), so no table is sent and the decoder learns the law as it
          reads; mantissas as constriction Uniform(2^b) symbols of b <= 16 bits each (exactly b
          bits apiece) (:mod:`rcc._ans`)
    The last (top) ANS word is stored without its leading zeros (the container's exact payload
    length tells the decoder how many bits it kept); an empty coder takes no bits.

Header parameters (container method "chunked"): (inner method code + 256 x the chunk code's
``index_code`` -- 258 for PFR since chunked format 2, whose indices follow PFR's index law; index
code 0, the bit-length code of chunked format 1, is still decoded --, the chunk code's parameters
-- for PFR, ORC and MRC one, the candidate count N, 0 for exact PFR; for Hybrid three, inner
scheme code, M and N or 0 -- chunk_bits in 1/16 bits),
and the size multiple g as a last parameter when g > 1. The decoder needs neither q nor the KL
profile: layout and indices come from the payload, the rest from the prior p and the header.

The blob's checksum folds in the fingerprint of the prior (:mod:`rcc.container`), so decoding
with another prior is a DecodeError. Decoding work is bounded before it starts: d by
``max_elements`` (:data:`rcc.DEFAULT_MAX_ELEMENTS`), C by d and by the payload (each chunk's
index costs at least the chunk code's ``least_bits`` of the ANS words), and every constriction
call is guarded, so a crafted payload gives a DecodeError.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import constriction
import numpy as np

from ._ans import decode_kt, encode_kt, guard, read_words, write_words
from ._checks import check_pair, pair_dinf_bits, pair_kl_bits, warn_long_race
from ._chunk_kernels import even_sizes, greedy_sizes
from ._kernels import Pair
from .channel import Channel, channel_class, register
from .coding import BitReader, BitWriter, read_gamma, write_gamma
from .container import _METHOD_NAMES, DEFAULT_MAX_ELEMENTS, METHODS, Message, Payload, check_payload, prior_fingerprint, unpack
from .distributions import Distribution
from .errors import DecodeError
from .random import MAX_CHUNK, check_seed

__all__ = ["compress", "decompress", "decode_payload", "ChunkStats"]

#: The chunked header's first parameter is inner method code + _INDEX_CODE_UNIT * index code.
_INDEX_CODE_UNIT = 256
_MAX_INDEX_CODE = 15
_AUTO_BLOCK = 0.4  # size_multiple="auto": blocks of about 0.4 chunk_bits of KL
_AUTO_MAX_MULTIPLE = 16


@dataclass(frozen=True, eq=False)
class ChunkStats:
    """Per-chunk arrays of a :func:`compress` message (``msg.chunks``), each of shape (C,).

    Attributes
    ----------
    kl_bits : float64
        KL[q_c || p_c] of each chunk, bits.
    dinf_bits : float64
        D_inf of each chunk, bits (inf where unbounded or without a closed form).
    sizes : int64
        Coordinates in each chunk (contiguous, C order, summing to d).
    index : uint64
        The 1-based index sent for each chunk.
    num_scored : int64
        Candidates scored in each chunk (0 where q equals p: candidate 1 is exact).
    truncated : bool
        Whether each chunk's race was truncated (``info["truncated"]`` of :mod:`rcc.channel`).
    """

    kl_bits: np.ndarray
    dinf_bits: np.ndarray
    sizes: np.ndarray
    index: np.ndarray
    num_scored: np.ndarray
    truncated: np.ndarray


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
    size_multiple: int | str = 1,
    size_step=None,
    return_report=None,
) -> Message:
    """Send one sample of a high-dimensional factorised q given the prior p, as one message.

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
    method : "pfr" | "orc" | "mrc" | a channel instance
        The channel for every chunk. Strings take the defaults (exact PFR; N = 2**16 for ORC and
        MRC); pass an instance for other settings, e.g. ``rcc.PFR(max_candidates=2**16)`` where
        D_inf is infinite (equal-variance Gaussians), or ``rcc.ORC(num_candidates=2**14)``, or
        ``rcc.Hybrid(num_bins=M)`` (chunks of at most 64 coordinates; far fewer candidates, but
        its bins cost about log2 M bits per coordinate, so it pays only where each coordinate
        carries about that much KL or more). Any channel with a chunk code
        (:meth:`rcc.channel.Channel.chunk_code`) works.
    seed : int in [0, 2**64)
        Shared-randomness seed (stored in the header).
    chunk_bits : float
        Target KL per chunk in bits, quantised to 1/16 bit. Exact PFR scores about 2^D_inf(chunk)
        candidates per chunk, and D_inf exceeds KL (by a factor ~1.3-2 for Gaussians), so keep it
        modest (8-16). PFR's chunk indices are coded under exact PFR's index law for an
        equal-variance Gaussian chunk of this KL (chunked format 2, :mod:`rcc._index_law`).
    layout : "kl" | "even"
        ``"kl"`` (default): greedy equal-KL chunks, whose sizes are sent (about 2-3 bits per
        chunk for a homogeneous pair); every chunk has about ``chunk_bits`` of KL, which keeps
        exact PFR's 2^D_inf runtime even across chunks. ``"even"``: round(KL / chunk_bits)
        chunks of equal size (within one coordinate), which costs no side information but lets
        the chunk KL follow the KL profile. Often fewer bits: the index's bit length spreads by a
        few bits anyway, so a wider spread of chunk KL costs its code little, while sizes cost
        ~1.4-2.6 bits per chunk. But the chunks of high KL need the most candidates: with a
        truncated PFR give it a budget that follows the chunk KL (``PFR(headroom_bits=)``) and
        more headroom than "kl" needs.
    size_multiple : int >= 1 or "auto"
        ``"kl"`` layout only: chunk sizes (all but the last) are multiples of ``size_multiple``;
        a chunk closes at the multiple where its KL crosses ``chunk_bits`` or the one before,
        whichever is closer. Sizes then cost about log2(size_multiple) bits less each, and a
        chunk's KL strays from ``chunk_bits`` by up to half a block's KL: worth it where
        size_multiple coordinates hold a few bits of KL or less. ``"auto"``: the multiple whose
        blocks hold about 0.4 chunk_bits of KL on average, round(0.4 chunk_bits / mean
        coordinate KL), in [1, 16].
    size_step, return_report
        Deprecated (one release, DeprecationWarning): ``size_step`` is ``size_multiple``;
        ``return_report=True`` returns ``(msg.to_bytes(), msg)``.

    Returns
    -------
    rcc.Message
        Method ``"chunked"``: ``to_bytes()`` (the blob), ``headerless()``, ``sample`` (shape S,
        what :func:`decompress` returns bit for bit), ``num_bits`` (the payload), ``info``
        (``kl_bits``, ``dinf_bits``, ``num_chunks``, ``num_scored``, ``num_truncated``,
        ``truncated``, ``channel``, ``layout``, ``chunk_bits``, ``size_multiple``) and
        ``chunks`` (:class:`ChunkStats`, per-chunk arrays).

    Raises
    ------
    ValueError
        Bad arguments; a channel without a chunk code; a pair of families without a closed-form
        KL (e.g. a Gaussian q against a Logistic p); or a chunk the channel refuses, e.g. exact
        PFR on a chunk whose D_inf is infinite or above 32 bits (pass
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
    >>> msg = rcc.compress(q, p, seed=7, chunk_bits=6.0)
    >>> x = rcc.decompress(msg.to_bytes(), p)
    >>> bool((x == msg.sample).all()), x.shape
    (True, (64,))
    """
    size_multiple, return_report = _deprecated(size_multiple, size_step, return_report)
    ch = _channel(method)
    shape = check_pair(q, p)
    seed = check_seed(seed)
    q16 = _check_chunk_bits(chunk_bits)
    code = ch.chunk_code()
    code = code.for_header(code.index_code, q16)
    qf, pf = q.broadcast_to(shape).ravel(), p.broadcast_to(shape).ravel()
    kl = np.ascontiguousarray(pair_kl_bits(qf, pf, elementwise=True), dtype=np.float64)
    if np.isnan(kl).any():
        raise ValueError("the per-coordinate KL of q and p is nan somewhere")
    sizes, size_multiple = _layout(kl, q16 / 16.0, layout, size_multiple, code.max_size)
    if sizes.size > MAX_CHUNK + 1:
        raise ValueError(f"{sizes.size} chunks exceed the stream's 2**24 chunk addresses; raise chunk_bits (now {chunk_bits})")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    chunk_kl = np.add.reduceat(kl, starts)
    dinf = np.add.reduceat(np.asarray(pair_dinf_bits(qf, pf, elementwise=True), np.float64), starts)
    same = (qf.family == pf.family) & (qf.a == pf.a) & (qf.b == pf.b)
    trivial = np.logical_and.reduceat(same, starts)  # q == p on the chunk
    records = [code.trivial_record(int(n)) if t else None for t, n in zip(trivial.tolist(), sizes.tolist())]
    busy = np.array([r is None for r in records], dtype=bool)  # the chunks to race
    _check_chunks(ch, chunk_kl, dinf, starts, sizes, busy)
    scored, truncated = _race_chunks(ch, qf, pf, seed, starts, sizes, records)
    packed = code.gather(records)

    payload, num_bits = _write_payload(code, sizes, packed, layout == "even", size_multiple)
    params = (METHODS[ch.method] + _INDEX_CODE_UNIT * code.index_code, *code.params, q16) + ((size_multiple,) if size_multiple > 1 else ())
    info = {
        "kl_bits": float(kl.sum()),
        "dinf_bits": float(dinf.sum()),
        "num_chunks": int(sizes.size),
        "num_scored": int(scored.sum()),
        "num_truncated": int(truncated.sum()),
        "truncated": bool(truncated.any()),
        "channel": repr(ch),
        "layout": layout,
        "chunk_bits": q16 / 16.0,
        "size_multiple": size_multiple,
    }
    msg = Message(
        "chunked", params, seed, code.regenerate(pf, seed, sizes, packed).reshape(shape), payload, num_bits, info,
        prior_fingerprint(p.broadcast_to(shape)), ChunkStats(chunk_kl, dinf, sizes, code.index(packed), scored, truncated),
    )
    return (msg.to_bytes(), msg) if return_report else msg


def decompress(blob, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """Regenerate the sample of a :func:`compress` message from the prior p alone.

    Method, candidate count, seed, shape and chunk layout come from the blob; the cost is O(d)
    plus the entropy decoding of one index per chunk. :func:`rcc.decode` of a chunked blob.

    Parameters
    ----------
    blob : bytes, rcc.Message or rcc.Payload
        The output of :func:`compress`, its ``to_bytes()`` or its ``headerless()`` form (no
        checksum).
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
    >>> msg = rcc.compress(q, p, method=rcc.ORC(num_candidates=2**10), seed=3, chunk_bits=4.0)
    >>> rcc.decompress(msg, p).shape
    (3,)
    """
    if isinstance(blob, Message):
        blob = blob.to_bytes()
    if not isinstance(p, Distribution):
        raise ValueError(f"p must be an rcc Distribution; got {type(p).__name__}")
    payload = blob if isinstance(blob, Payload) else unpack(blob, "chunked", prior=p, max_elements=max_elements)
    return decode_payload(payload, p, max_elements=max_elements)


def decode_payload(payload: Payload, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """The sample of a chunked :class:`rcc.Payload` (no checksum), regenerated from ``p``;
    :func:`rcc.decode` dispatches chunked payloads here. DecodeError on anything bad."""
    pb = check_payload(payload, "chunked", p, max_elements)
    code, step = _header(payload.params)
    if any(n < 1 for n in payload.shape):
        raise DecodeError(f"shape {payload.shape} has an empty dimension")
    d = int(np.prod(payload.shape, dtype=object))
    sizes, packed = _read_payload(code, d, payload.data, payload.num_bits, step)
    return code.regenerate(pb.ravel(), payload.seed, sizes, packed).reshape(payload.shape)


register("chunked", None, decode_payload)


# ----------------------------------------------------------------------------------------------
# encoder steps
# ----------------------------------------------------------------------------------------------


def _deprecated(size_multiple, size_step, return_report):
    """Map the deprecated keywords (one release) onto the current ones, with a DeprecationWarning."""
    if size_step is not None:
        warnings.warn("rcc.compress(size_step=) is renamed size_multiple=", DeprecationWarning, stacklevel=3)
        size_multiple = size_step
    if return_report is not None:
        if not isinstance(return_report, (bool, np.bool_)):
            raise ValueError(f"return_report must be a bool; got {return_report!r}")
        warnings.warn(
            "rcc.compress(return_report=) is deprecated: compress returns an rcc.Message (.to_bytes(), "
            ".sample, .info, .chunks); return_report=True returns (msg.to_bytes(), msg)",
            DeprecationWarning,
            stacklevel=3,
        )
    return size_multiple, bool(return_report)


def _channel(method):
    """A channel instance from a method name (the registered class's defaults) or an instance."""
    if isinstance(method, str):
        cls = channel_class(method.lower()) if method.lower() != "chunked" else None
        if cls is None:
            raise ValueError(f"method must be a channel name such as 'pfr', 'orc' or 'mrc', or a channel; got {method!r}")
        return cls()
    if isinstance(method, Channel):
        return method
    raise ValueError(f"method must be a channel name such as 'pfr', 'orc' or 'mrc', or a channel; got {method!r}")


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


def _layout(kl: np.ndarray, chunk_bits: float, layout: str, size_multiple, max_size) -> tuple[np.ndarray, int]:
    """Chunk sizes (int64, shape (C,)) and the size multiple actually used; chunks hold at most
    ``max_size`` coordinates (None: no limit) -- a multiple of ``size_multiple``."""
    if isinstance(size_multiple, str) and size_multiple == "auto":
        mean = float(kl.mean()) if np.isfinite(kl).all() else math.inf
        size_multiple = 1
        if layout == "kl" and 0 < mean < math.inf:
            size_multiple = int(min(_AUTO_MAX_MULTIPLE, max(1, round(_AUTO_BLOCK * chunk_bits / mean))))
    if isinstance(size_multiple, (bool, np.bool_)) or not isinstance(size_multiple, (int, np.integer)) or size_multiple < 1:
        raise ValueError(f"size_multiple must be an int >= 1 or 'auto'; got {size_multiple!r}")
    size_multiple = int(size_multiple)
    if size_multiple > 1 and layout != "kl":
        raise ValueError(f"size_multiple applies to the 'kl' layout only; got layout={layout!r}")
    if layout == "kl":
        buf = np.empty(kl.shape[0], dtype=np.int64)
        cap = kl.shape[0] + 1 if max_size is None else max_size - max_size % size_multiple
        if cap < 1:
            raise ValueError(f"size_multiple {size_multiple} exceeds the channel's largest chunk, {max_size} coordinates")
        return buf[:greedy_sizes(kl, chunk_bits, size_multiple, cap, buf)].copy(), size_multiple
    if layout == "even":
        total = float(kl.sum())
        num_chunks = int(min(kl.shape[0], max(1, round(total / chunk_bits)))) if math.isfinite(total) else kl.shape[0]
        if max_size is not None:
            num_chunks = max(num_chunks, -(-kl.shape[0] // max_size))
        return even_sizes(kl.shape[0], num_chunks), 1
    raise ValueError(f"layout must be 'kl' or 'even'; got {layout!r}")


def _check_chunks(ch, chunk_kl, dinf, starts, sizes, busy) -> None:
    """Before any race: refuse a chunk the channel cannot code, warn if the races take long."""
    busy = np.flatnonzero(busy)
    for c in busy.tolist():
        reason = ch.refusal(float(chunk_kl[c]), float(dinf[c]), int(sizes[c]))
        if reason is not None:
            raise ValueError(
                f"{ch!r} cannot code chunk {c} (coordinates {starts[c]}..{starts[c] + sizes[c] - 1}, KL "
                f"{chunk_kl[c]:.4g} bits, D_inf {dinf[c]:.4g} bits): {reason}; or lower chunk_bits"
            )
    expected = np.array([ch.expected_candidates(float(chunk_kl[c]), float(dinf[c]), int(sizes[c])) for c in busy.tolist()])
    warn_long_race(expected.sum(), (expected * sizes[busy]).sum(), f"rcc.compress with {ch!r} on {sizes.size} chunks")


def _race_chunks(ch, qf, pf, seed, starts, sizes, records: list):
    """Race every chunk whose record is None, filling ``records`` in place; return the candidates
    scored (int64 (C,)) and the truncation flags (bool (C,)) of every chunk."""
    num_chunks = sizes.shape[0]
    scored = np.zeros(num_chunks, dtype=np.int64)
    truncated = np.zeros(num_chunks, dtype=bool)
    for c in [c for c, r in enumerate(records) if r is None]:
        s, e = int(starts[c]), int(starts[c] + sizes[c])
        records[c], info = ch.select(Pair(_slice(qf, s, e), _slice(pf, s, e)), seed, c)
        scored[c] = info["num_scored"]
        truncated[c] = info["truncated"]
    return scored, truncated


def _slice(dist: Distribution, start: int, end: int) -> Distribution:
    return type(dist)._from_validated(dist.a[start:end], dist.b[start:end])


def _write_payload(code, sizes: np.ndarray, packed, even: bool, step: int) -> tuple[bytes, int]:
    num_chunks = sizes.shape[0]
    w = BitWriter()
    write_gamma(w, num_chunks)
    coder = constriction.stream.stack.AnsCoder()
    # pushed in reverse of the decoder's reading order: the chunk code's symbols, then sizes
    fields = BitWriter()
    code.write(coder, packed, fields)
    if num_chunks > 1:
        w.write(int(even), 1)
    if num_chunks > 1 and not even:
        # step 1: the range covers every size; step > 1: the units n / step of all but the last
        units = sizes if step == 1 else sizes[:-1] // step
        smin, smax = int(units.min()), int(units.max())
        encode_kt(coder, units[:num_chunks - 1] - smin, smax - smin + 1)
        write_gamma(w, smin)
        write_gamma(w, smax - smin + 1)
    data, nbits = fields.getvalue()
    w.write(int.from_bytes(data, "big") >> (-nbits % 8), nbits)
    write_words(w, np.asarray(coder.get_compressed(), dtype=np.uint32))
    return w.getvalue()


# ----------------------------------------------------------------------------------------------
# decoder steps
# ----------------------------------------------------------------------------------------------


def _header(params: tuple[int, ...]):
    """(chunk code, size multiple) from a chunked header; DecodeError if anything is off."""
    if not params:
        raise DecodeError("a chunked blob has no header parameters")
    index_code, method_code = divmod(params[0], _INDEX_CODE_UNIT)
    inner = _METHOD_NAMES.get(method_code) if index_code <= _MAX_INDEX_CODE else None
    cls = None if inner is None else channel_class(inner)
    if cls is None:
        raise DecodeError(f"unknown inner method code {params[0]} in a chunked blob")
    n = cls.num_chunk_params
    if len(params) not in (n + 2, n + 3):
        raise DecodeError(f"a chunked {inner} blob has {n + 2} or {n + 3} header parameters, this one {len(params)}")
    if not 1 <= params[1 + n] < 2**32:
        raise DecodeError(f"chunk_bits {params[1 + n]}/16 out of range")
    code = cls.chunk_code_from(params[1:1 + n]).for_header(index_code, params[1 + n])
    step = params[2 + n] if len(params) == n + 3 else 1
    if len(params) == n + 3 and not 2 <= step < 2**31:
        raise DecodeError(f"chunk size multiple {step} out of range")
    return code, step


def _read_sizes_preamble(rd: BitReader, num_chunks: int, d: int, step: int) -> tuple[bool, int, int]:
    """(even, s_min, s_span) of the layout bits."""
    even = bool(rd.read(1)) if num_chunks > 1 else False
    if num_chunks == 1 or even:
        return even, d, 0
    smin = read_gamma(rd)
    sspan = read_gamma(rd) - 1
    if step == 1 and (smin * num_chunks > d or (smin + sspan) * num_chunks < d or smin + sspan > d):
        raise DecodeError(f"chunk sizes in [{smin}, {smin + sspan}] cannot add up to {d}")
    if step > 1 and (smin * step * (num_chunks - 1) >= d or (smin + sspan) * step >= d):
        raise DecodeError(f"chunk sizes of at least {smin} x {step} cannot add up to {d}")
    return even, smin, sspan


def _decode_sizes(coder, num_chunks: int, d: int, even: bool, smin: int, sspan: int, step: int) -> np.ndarray:
    if even:
        return even_sizes(d, num_chunks)
    if num_chunks == 1:
        return np.array([d], dtype=np.int64)
    sizes = np.full(num_chunks, smin, dtype=np.int64)
    if sspan > 0:
        sizes[:-1] += decode_kt(coder, num_chunks - 1, sspan + 1)
    sizes[:-1] *= step
    last = d - int(sizes[:-1].sum())
    if not (smin <= last <= smin + sspan if step == 1 else last >= 1):
        raise DecodeError("chunk sizes do not add up to the shape: corrupted payload")
    sizes[-1] = last
    return sizes


def _read_payload(code, d: int, data: bytes, num_bits: int, step: int = 1):
    """(sizes int64 (C,), the chunk code's packed records) of a chunked payload."""
    rd = BitReader(data, num_bits)
    num_chunks = read_gamma(rd)
    if num_chunks > d or num_chunks > MAX_CHUNK + 1:
        raise DecodeError(f"{num_chunks} chunks for {d} coordinates: corrupted payload")
    even, smin, sspan = _read_sizes_preamble(rd, num_chunks, d, step)
    pending = code.read(rd, num_chunks, d)
    # every chunk's index costs at least pending.least_bits of the ANS words, whose 64-bit state
    # holds at most 64 bits more than the words written
    if pending.least_bits > rd.remaining + 64:
        raise DecodeError(f"{num_chunks} chunks need at least {pending.least_bits} payload bits, the payload holds {rd.remaining}")
    coder = None
    if sspan > 0 or pending.uses_coder:
        coder = guard("reading the ANS stream", constriction.stream.stack.AnsCoder, read_words(rd))
    elif rd.remaining:
        raise DecodeError(f"{rd.remaining} payload bits left unread: corrupted payload")
    sizes = _decode_sizes(coder, num_chunks, d, even, smin, sspan, step)
    packed = pending.decode(coder)
    if coder is not None and not guard("entropy decoding", coder.is_empty):
        raise DecodeError("entropy-coded data left over after the last index: corrupted payload")
    return sizes, packed
