"""The general entropy model of universal quantization: categorical tables from a prior's CDF.

For any prior ``p`` with ``cdf``/``sf``/``ppf`` (Logistic, Uniform, any :class:`rcc.Distribution`;
also Gaussian/Laplace when their index range is too wide for constriction's quantized families),
index ``k`` of element i, cell width ``w_i`` and dither ``u_i``, has the mass

    P(k | u) = P_p( w (k + u - 1/2) <= X < w (k + u + 1/2) ).

Each element gets a *window* ``[lo, hi]`` of indices holding all but ``< 2**-21`` of the mass
(``lo, hi = floor(ppf(WINDOW_TAIL) / w - u + 1/2), floor(ppf(1 - WINDOW_TAIL) / w - u + 1/2)``:
:func:`index_window`), plus an escape symbol (mass: the tail mass, floored at
:data:`ESCAPE_FLOOR`) after which an out-of-window index is sent as ``zigzag(k)`` in two uniform
16-bit symbols (high half first). Windows wider than ``2**LEVEL_BITS`` bins use a multi-level
code (at most 4 levels): the block of ``2**(8 j)`` bins, then the sub-block within it, each
under its exact conditional masses, so the information content stays exact (chain rule).

Tables are built vectorised in *batches* of at most :data:`MAX_CELLS` cells, the elements grouped
by ``ceil(log2 width)``: the layout (:func:`table_layout`) is a pure function of (p, w, u), so
encoder and decoder agree on it. Symbols go through an ``io`` object: :class:`Recorder` (encoder:
records ops in decoding order, then pushes them reversed on the ANS stack), :class:`Reader`
(decoder) or :class:`Counter` (dry run for the information content). Entry points:
:func:`encode_table` and :func:`decode_table`.
"""

from __future__ import annotations

import math

import constriction
import numpy as np
import scipy.special as sc

from ._ans import guard
from .coding import unzigzag, zigzag
from .distributions import Distribution, Gaussian, Laplace, Logistic, Uniform
from .errors import DecodeError

__all__ = ["CdfLaw", "index_window", "table_layout", "encode_table", "decode_table", "row_info"]

#: Largest |k| an index may have.
MAX_INDEX = 2**30
#: Mass of each tail left outside a table window (both tails together < 2**-20).
WINDOW_TAIL = 2.0**-22
#: Least mass of the escape symbol.
ESCAPE_FLOOR = 2.0**-20
#: Bits of index resolved by one level of a table (wider windows take several levels).
LEVEL_BITS = 8
#: Table cells per batch (memory bound).
MAX_CELLS = 2**20
#: constriction's smallest probability (24-bit fixed point), used for the information content.
PROB_FLOOR = 2.0**-24

_MODEL = constriction.stream.model
CATEGORICAL = _MODEL.Categorical(perfect=False)
UNIFORM16 = _MODEL.Uniform(2**16)
_KNOWN = (Gaussian, Logistic, Laplace, Uniform)


class CdfLaw:
    """cdf / sf / ppf of a flattened prior (shape (n,)), for rows selected by flat index.

    The four built-in families use closed forms (scipy.special); any other
    :class:`rcc.Distribution` its own ``cdf``/``sf``/``ppf`` methods, checked for shape and finiteness.
    """

    def __init__(self, p: Distribution):
        self.p = p
        self.known = type(p) in _KNOWN
        if self.known:
            self.a = np.ascontiguousarray(p.a, dtype=np.float64)
            self.b = np.ascontiguousarray(p.b, dtype=np.float64)

    def ppf(self, prob: float) -> np.ndarray:
        """The ``prob`` quantile of every element, shape (n,)."""
        p = self.p
        if not self.known:
            return np.asarray(p.ppf(np.full(p.size, prob)), dtype=np.float64).reshape(-1)
        if isinstance(p, Gaussian):
            return self.a + self.b * sc.ndtri(prob)
        if isinstance(p, Logistic):
            return self.a + self.b * sc.logit(prob)
        if isinstance(p, Laplace):
            z = math.log(2.0 * prob) if prob < 0.5 else -math.log(2.0 * (1.0 - prob))
            return self.a + self.b * z
        return self.a + prob * (self.b - self.a)  # Uniform

    def cdf_sf(self, idx: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cdf and sf of the laws of flat elements ``idx`` (R,) at ``x`` (R, C)."""
        if not self.known:
            sub = self.p.take(idx[:, None])
            c = np.asarray(sub.cdf(x), dtype=np.float64)
            s = np.asarray(sub.sf(x), dtype=np.float64)
            if c.shape != x.shape or s.shape != x.shape:
                raise ValueError("the prior's cdf/sf do not broadcast like numpy arrays")
            if not (np.isfinite(c).all() and np.isfinite(s).all()):
                raise ValueError("the prior's cdf/sf returned non-finite values")
            return np.clip(c, 0.0, 1.0), np.clip(s, 0.0, 1.0)
        a = self.a[idx][:, None]
        b = self.b[idx][:, None]
        if isinstance(self.p, Uniform):
            w = b - a
            return np.clip((x - a) / w, 0.0, 1.0), np.clip((b - x) / w, 0.0, 1.0)
        z = (x - a) / b
        if isinstance(self.p, Gaussian):
            return sc.ndtr(z), sc.ndtr(-z)
        if isinstance(self.p, Logistic):
            return sc.expit(z), sc.expit(-z)
        e = 0.5 * np.exp(-np.abs(z))  # Laplace
        neg = z < 0
        return np.where(neg, e, 1.0 - e), np.where(neg, 1.0 - e, e)


def index_window(law: CdfLaw, width: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float ends ``floor(ppf(t) / w - u + 1/2)`` for t = WINDOW_TAIL and 1 - WINDOW_TAIL, (n,)
    each; may hold inf or nan (the callers decide)."""
    with np.errstate(over="ignore", invalid="ignore"):
        flo = np.floor(law.ppf(WINDOW_TAIL) / width - u + 0.5)
        fhi = np.floor(law.ppf(1.0 - WINDOW_TAIL) / width - u + 0.5)
    return flo, fhi


def masses(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Masses of the intervals between consecutive edges (last axis) from cdf and sf values.

    Lower half: differences of the cdf; upper half: differences of the sf (accurate tails).
    """
    lower = c[..., :-1] < 0.5
    m = np.where(lower, c[..., 1:] - c[..., :-1], s[..., :-1] - s[..., 1:])
    return np.maximum(m, 0.0)


def check_table(probs: np.ndarray) -> np.ndarray:
    """Make a 2-D table safe for constriction: finite, >= 0, every row with a positive sum."""
    probs = np.ascontiguousarray(probs, dtype=np.float64)
    if not np.isfinite(probs).all():
        raise ValueError("the prior gives non-finite probabilities")
    np.maximum(probs, 0.0, out=probs)
    dead = ~(probs.sum(axis=1) > 0.0)
    if dead.any():
        probs[dead] = 1.0
    return probs


def row_info(probs: np.ndarray, sym: np.ndarray) -> float:
    """Information content in bits of ``sym`` under the (unnormalised) rows of ``probs``."""
    if sym.size == 0:
        return 0.0
    pr = probs[np.arange(sym.size), sym] / probs.sum(axis=1)
    return float(-np.log2(np.maximum(pr, PROB_FLOOR)).sum())


# ----------------------------------------------------------------------------------------------
# the ops an encoder records and a decoder performs, in decoding order
# ----------------------------------------------------------------------------------------------


class Recorder:
    """Encoder side: records (symbols, model, params) in decoding order."""

    decoding = False

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def categorical(self, probs: np.ndarray, sym: np.ndarray) -> np.ndarray:
        self.ops.append((np.ascontiguousarray(sym, dtype=np.int32), CATEGORICAL, probs))
        return sym

    def uniform16(self, sym: np.ndarray) -> np.ndarray:
        self.ops.append((np.ascontiguousarray(sym, dtype=np.int32), UNIFORM16))
        return sym

    def flush(self, coder) -> None:
        """Push the recorded ops onto the ANS stack so that they decode in recording order."""
        for op in reversed(self.ops):
            guard("entropy coding", coder.encode_reverse, *op, error=ValueError)
        self.ops.clear()


class Counter:
    """Encoder side, dry run: the symbols go nowhere (for the information content)."""

    decoding = False

    def categorical(self, probs, sym):
        return sym

    def uniform16(self, sym):
        return sym


class Reader:
    """Decoder side: pops symbols off the ANS stack."""

    decoding = True

    def __init__(self, coder) -> None:
        self.coder = coder

    def categorical(self, probs: np.ndarray, sym=None) -> np.ndarray:
        return guard("entropy decoding", self.coder.decode, CATEGORICAL, probs).astype(np.int64)

    def uniform16(self, count: int) -> np.ndarray:
        return guard("entropy decoding", self.coder.decode, UNIFORM16, int(count)).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# layout and batches
# ----------------------------------------------------------------------------------------------


def _levels(b: int) -> tuple[int, int]:
    """(levels, bits of the top level) of a window of ``ceil(log2 width) = b`` bits."""
    levels = max(1, -(-b // LEVEL_BITS))
    return levels, b - LEVEL_BITS * (levels - 1)


def table_layout(law: CdfLaw, width: np.ndarray, u: np.ndarray):
    """Windows and batches of the table mode; a pure function of (p, w, u).

    Returns ``(lo, size, batches)``: window starts and sizes (int64, (n,)) and a list of
    ``(b, idx)``, the flat elements ``idx`` of one batch, all of ``ceil(log2 size) = b``.
    """
    flo, fhi = index_window(law, width, u)
    if np.isnan(flo).any() or np.isnan(fhi).any():
        raise ValueError("the prior's quantiles divided by the cell width are not numbers (nan)")
    lim = float(MAX_INDEX + 1)
    lo = np.clip(flo, -lim, lim).astype(np.int64)
    hi = np.maximum(np.clip(fhi, -lim, lim).astype(np.int64), lo)
    size = hi - lo + 1
    bits = np.frexp((size - 1).astype(np.float64))[1].astype(np.int64)  # ceil(log2 size)
    order = np.argsort(bits, kind="stable")
    sorted_bits = bits[order]
    batches = []
    for b in np.unique(sorted_bits):
        b = int(b)
        idx = order[np.searchsorted(sorted_bits, b, "left"):np.searchsorted(sorted_bits, b, "right")]
        levels, top = _levels(b)
        cols = max((1 << top) + 2, (1 << LEVEL_BITS) + 1 if levels > 1 else 0)
        rows = max(1, MAX_CELLS // cols)
        for start in range(0, idx.size, rows):
            batches.append((b, idx[start:start + rows]))
    return lo, size, batches


def _edges(law, idx, width, u, lo, t):
    """cdf and sf at the bin edges ``w (lo + t + u - 1/2)`` for offsets ``t`` (R, C)."""
    x = width[:, None] * ((lo[:, None] + t).astype(np.float64) + (u[:, None] - 0.5))
    return law.cdf_sf(idx, x)


def _top_level(io, law, idx, width, u, lo, size, shift0, ncols, k):
    """Level 0: the block of ``2**shift0`` bins (clipped to the window) or the escape column.
    Returns (symbols, info bits)."""
    t = np.minimum(np.arange(ncols + 1, dtype=np.int64) << shift0, size[:, None])
    c, s = _edges(law, idx, width, u, lo, t)
    probs = np.empty((idx.size, ncols + 1))
    probs[:, :ncols] = masses(c, s)
    probs[:, ncols] = np.maximum(c[:, 0] + s[:, -1], ESCAPE_FLOOR)
    probs = check_table(probs)
    if io.decoding:
        sym = io.categorical(probs)
        base = sym.astype(np.int64) << shift0
        keep = sym != ncols
        if np.any(base[keep] >= size[keep]):
            raise DecodeError("decoded index block lies outside its window: corrupted payload")
    else:
        off = k[idx] - lo
        inside = (off >= 0) & (off < size)
        sym = io.categorical(probs, np.where(inside, off >> shift0, ncols))
    return sym, row_info(probs, sym)


def _escapes(io, idx, lo, size, k, k_out) -> None:
    """Out-of-window indices of elements ``idx``: zigzag(k) < 2**32 in two 16-bit symbols."""
    n = idx.size
    if io.decoding:
        halves = io.uniform16(2 * n).reshape(n, 2)
        kk = unzigzag((halves[:, 0] << 16) | halves[:, 1])
        off = kk - lo
        if np.any(np.abs(kk) > MAX_INDEX) or np.any((off >= 0) & (off < size)):
            raise DecodeError("decoded escape value is invalid: corrupted payload")
        k_out[idx] = kk
    else:
        z = zigzag(k[idx])
        io.uniform16(np.stack([z >> 16, z & 0xFFFF], axis=1).reshape(-1))


def _lower_levels(io, law, idx, width, u, lo, size, base, levels, k, info):
    """Levels 1 ..: the sub-block of ``2**shift`` bins within the block chosen so far.
    Returns (offsets in the windows, ``info`` plus their info bits)."""
    off = None if io.decoding else k[idx] - lo
    sub = np.arange((1 << LEVEL_BITS) + 1, dtype=np.int64)
    for level in range(1, levels):
        shift = LEVEL_BITS * (levels - 1 - level)
        t = np.minimum(base[:, None] + (sub << shift), size[:, None])
        c, s = _edges(law, idx, width, u, lo, t)
        probs = check_table(masses(c, s))
        del c, s, t
        digit = io.categorical(probs) if io.decoding else io.categorical(probs, (off - base) >> shift)
        info += row_info(probs, digit)
        base = base + (digit.astype(np.int64) << shift)
        if io.decoding and np.any(base >= size):
            raise DecodeError("decoded index lies outside its window: corrupted payload")
    return base, info


def _table_batch(io, law, width, u, lo_all, size_all, b, idx, k=None, k_out=None):
    """Code (or decode into ``k_out``) the elements ``idx`` of one batch; returns (info, escapes)."""
    levels, top = _levels(b)
    shift0 = LEVEL_BITS * (levels - 1)
    lo, size, wd, uu = lo_all[idx], size_all[idx], width[idx], u[idx]
    sym, info = _top_level(io, law, idx, wd, uu, lo, size, shift0, 1 << top, k)
    esc = sym == (1 << top)
    nesc = int(esc.sum())
    if nesc:
        _escapes(io, idx[esc], lo[esc], size[esc], k, k_out)
        info += 32.0 * nesc
    keep = ~esc
    if keep.any():
        base = sym[keep].astype(np.int64) << shift0
        if levels > 1:
            base, info = _lower_levels(io, law, idx[keep], wd[keep], uu[keep], lo[keep], size[keep], base, levels, k,
                                       info)
        if io.decoding:
            k_out[idx[keep]] = lo[keep] + base
    return info, nesc


def encode_table(coder, p_flat: Distribution, width: np.ndarray, u: np.ndarray, k: np.ndarray) -> tuple[float, int]:
    """Put the indices ``k`` (int64, (n,)) on the ANS stack ``coder`` (None: dry run) so that
    :func:`decode_table` reads them; returns ``(info_bits, escapes)``. ``p_flat``, ``width``
    (cell widths) and ``u`` (dither) are flat, shape (n,)."""
    law = CdfLaw(p_flat)
    lo, size, batches = table_layout(law, width, u)
    info_bits, escapes = 0.0, 0
    io = Recorder() if coder is not None else Counter()
    for b, idx in reversed(batches):  # a stack: last batch first, so batch 0 decodes first
        bits, nesc = _table_batch(io, law, width, u, lo, size, b, idx, k=k)
        if coder is not None:
            io.flush(coder)
        info_bits += bits
        escapes += nesc
    return info_bits, escapes


def decode_table(coder, p_flat: Distribution, width: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Pop the indices (int64, (n,)) that :func:`encode_table` pushed; DecodeError if corrupted."""
    law = CdfLaw(p_flat)
    lo, size, batches = table_layout(law, width, u)
    k = np.zeros(p_flat.size, dtype=np.int64)
    reader = Reader(coder)
    for b, idx in batches:
        _table_batch(reader, law, width, u, lo, size, b, idx, k_out=k)
    return k
