"""Universal (dithered) quantization: exact channel simulation of a uniform-noise channel.

The target is the uniform-noise channel ``q = Uniform(mu - step/2, mu + step/2)`` (one ``mu`` and
one ``step`` per element, any shape) and the prior ``p`` is the law of the channel input. Encoder
and decoder share a dither ``u_i ~ U(-1/2, 1/2)`` drawn from the Philox stream
(:data:`rcc.random.DOMAIN_DITHER`, chunk 0, index 0, one coordinate per flattened element)::

    k_i = floor(mu_i / step_i - u_i + 1/2)        integer index, |k_i| <= 2**30
    x_i = step_i * (k_i + u_i)                    decoded sample

so that ``x - mu`` is exactly ``U(-step/2, step/2)`` and independent of ``mu``
(Ziv, "On universal quantization", 1985; Zamir & Feder, "On universal quantization by randomized
uniform/lattice quantizers", 1992; Agustsson & Theis, "Universally Quantized Neural Compression",
NeurIPS 2020). The index is entropy coded with ``constriction``'s ANS coder under

    P(k | u) = P_p( step (k + u - 1/2) <= X < step (k + u + 1/2) ),

i.e. ``p`` convolved with ``U(-step/2, step/2)`` read on the dithered grid; its information
content ``-sum log2 P(k | u)`` is reported in ``msg.info["info_bits"]`` and the real bits stay
within a fraction of a percent of it (no per-element overhead).

Entropy models (the ``mode``, first container parameter):

* ``0`` Gaussian ``p``: constriction's ``QuantizedGaussian(kmin, kmax)`` with per-element mean
  ``loc/step - u`` and std ``scale/step``; ``kmin``, ``kmax`` come from the data and are sent.
* ``1`` Laplace ``p``: ``QuantizedLaplace(kmin, kmax)``, mean ``loc/step - u``, scale ``b/step``.
* ``2`` any ``p`` with ``cdf``/``sf``/``ppf`` (Logistic, Uniform, other :class:`Distribution`s,
  and Gaussian/Laplace when ``kmax - kmin >= 2**12``): a categorical table per element over the
  window ``[lo, hi]`` of indices holding all but ``< 2**-21`` of the mass (from ``ppf``), plus an
  escape symbol (mass = the tail mass, floored at ``2**-20``) after which an out-of-window index
  is sent as ``zigzag(k)`` in two uniform 16-bit symbols. Windows wider than ``2**8`` bins use
  a multi-level code (``LEVEL_BITS = 8`` bits per level, at most 4 levels): the block of
  ``2**(8 j)`` bins, then the sub-block within it, each under its exact conditional masses
  (the chain rule keeps the information content exact). Tables are built vectorised in batches
  of at most ``2**20`` cells, grouped by ``ceil(log2 width)``.

Payload layout (``num_bits = 8 * len(payload)``)::

    [step    8 bytes, float64 little-endian]         if the second parameter (step_sent) is 1
    [zigzag(kmin), zigzag(kmax)   LEB128 varints]    modes 0 and 1
    ANS words, uint32 little-endian; up to 3 trailing zero bytes of the last (most significant)
    word are dropped and restored by the decoder from the payload length.

The ANS stream decodes as: the check symbol 0xA5C3 (uniform over 16 bits), the indices (table
mode: batch by batch), the check symbol again; then the coder must be empty. The check symbols
(32 bits) catch empty, truncated and garbage streams that the CRC of the container lets through.

Container parameters: ``(mode, step_sent)``. The container's checksum folds in the fingerprint
of the prior (:mod:`rcc.container`), so decoding with another prior is a DecodeError before any
entropy decoding (a :class:`UQStream` does not: see :class:`UQStreamDecoder`).

Example::

    >>> import numpy as np
    >>> from rcc.distributions import Gaussian, Uniform
    >>> mu = np.array([0.3, -1.2, 2.5])
    >>> msg = UQ().encode(Uniform(mu - 0.5, mu + 0.5), Gaussian(0.0, 1.0), seed=7)
    >>> x = UQ().decode(msg.to_bytes(), Gaussian(0.0, 1.0))
    >>> bool(np.array_equal(x, msg.sample)), bool(np.all(np.abs(x - mu) <= 0.5))
    (True, True)
"""

from __future__ import annotations

import math
import struct

import constriction
import numpy as np
import scipy.special as sc

from ._checks import open_blob
from .coding import decode_varint, encode_varint
from .container import DEFAULT_MAX_ELEMENTS, Message, check_max_elements, prior_fingerprint, unpack
from .distributions import Distribution, Gaussian, Laplace, Logistic, Uniform
from .errors import DecodeError, guard as _guard
from .random import DOMAIN_DITHER, _fill_uniforms, check_seed, seed_key

__all__ = ["UQ", "UQStream", "UQStreamDecoder", "dither", "MODE_GAUSSIAN", "MODE_LAPLACE", "MODE_TABLE"]

MODE_GAUSSIAN = 0
MODE_LAPLACE = 1
MODE_TABLE = 2

#: Largest |k| an index may have.
MAX_INDEX = 2**30
#: Largest ``kmax - kmin + 1`` for the quantized constriction families (each symbol of the
#: range gets at least 2**-24 of the mass, so a wide range would cost bits).
MAX_QUANTIZED_RANGE = 2**12
#: Mass of each tail left outside a table window (both tails together < 2**-20).
WINDOW_TAIL = 2.0**-22
#: Least mass of the escape symbol.
ESCAPE_FLOOR = 2.0**-20
#: Bits of index resolved by one level of a table (wider windows take several levels).
LEVEL_BITS = 8
#: Table cells per batch (memory bound).
MAX_CELLS = 2**20
#: constriction's smallest probability (24-bit fixed point), used for the information content.
_PROB_FLOOR = 2.0**-24

_ANS = constriction.stream.stack.AnsCoder
_MODEL = constriction.stream.model
_CATEGORICAL = _MODEL.Categorical(perfect=False)
_UNIFORM16 = _MODEL.Uniform(2**16)
_KNOWN = (Gaussian, Logistic, Laplace, Uniform)
#: A 16-bit check symbol at both ends of the ANS stream (32 bits in all): catches garbage,
#: empty and truncated streams that a decoder would otherwise read as valid symbols.
SENTINEL = 0xA5C3
_SENTINEL = np.array([SENTINEL], dtype=np.int32)


def _check_sentinel(coder, where: str) -> None:
    got = _guard("entropy decoding", coder.decode, _UNIFORM16, 1)
    if int(got[0]) != SENTINEL:
        raise DecodeError(f"check symbol at the {where} of the ANS stream is wrong: corrupted payload")


def dither(seed: int, size: int) -> np.ndarray:
    """The shared dither: ``size`` uniforms in (-1/2, 1/2), float64, shape ``(size,)``.

    Coordinate i is ``rcc.random.uniforms(seed, DOMAIN_DITHER, 0, 0, size)[i] - 0.5`` (numba
    kernel; the plain-numpy twin gives the same bits).

    >>> dither(7, 3).shape
    (3,)
    """
    k0, k1 = seed_key(seed)
    size = int(size)
    if size < 0:
        raise ValueError(f"size must be >= 0; got {size}")
    out = np.empty(size, dtype=np.float64)
    _fill_uniforms(k0, k1, DOMAIN_DITHER, 0, 0, out)
    out -= 0.5
    return out


# ----------------------------------------------------------------------------------------------
# small helpers


def _zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def _unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def _check_table(probs: np.ndarray) -> np.ndarray:
    """Make a 2-D table safe for constriction: finite, >= 0, every row with a positive sum."""
    probs = np.ascontiguousarray(probs, dtype=np.float64)
    if not np.isfinite(probs).all():
        raise ValueError("the prior gives non-finite probabilities")
    np.maximum(probs, 0.0, out=probs)
    dead = ~(probs.sum(axis=1) > 0.0)
    if dead.any():
        probs[dead] = 1.0
    return probs


def _row_info(probs: np.ndarray, sym: np.ndarray) -> float:
    """Information content in bits of ``sym`` under the (unnormalised) rows of ``probs``."""
    if sym.size == 0:
        return 0.0
    pr = probs[np.arange(sym.size), sym] / probs.sum(axis=1)
    return float(-np.log2(np.maximum(pr, _PROB_FLOOR)).sum())


def _masses(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Masses of the intervals between consecutive edges (last axis) from cdf and sf values.

    Lower half: differences of the cdf; upper half: differences of the sf (accurate tails).
    """
    lower = c[..., :-1] < 0.5
    m = np.where(lower, c[..., 1:] - c[..., :-1], s[..., :-1] - s[..., 1:])
    return np.maximum(m, 0.0)


class _Law:
    """cdf / sf / ppf of a flattened prior, for rows selected by flat index."""

    def __init__(self, p: Distribution):
        self.p = p
        self.known = type(p) in _KNOWN
        if self.known:
            self.a = np.ascontiguousarray(p.a, dtype=np.float64)
            self.b = np.ascontiguousarray(p.b, dtype=np.float64)

    def ppf(self, prob: float) -> np.ndarray:
        p = self.p
        if not self.known:
            out = np.asarray(p.ppf(np.full(p.size, prob)), dtype=np.float64).reshape(-1)
        elif isinstance(p, Gaussian):
            out = self.a + self.b * sc.ndtri(prob)
        elif isinstance(p, Logistic):
            out = self.a + self.b * sc.logit(prob)
        elif isinstance(p, Laplace):
            z = math.log(2.0 * prob) if prob < 0.5 else -math.log(2.0 * (1.0 - prob))
            out = self.a + self.b * z
        else:  # Uniform
            out = self.a + prob * (self.b - self.a)
        return out

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
        # Laplace
        e = 0.5 * np.exp(-np.abs(z))
        neg = z < 0
        return np.where(neg, e, 1.0 - e), np.where(neg, 1.0 - e, e)


# ----------------------------------------------------------------------------------------------
# the ops an encoder records and a decoder performs, in decoding order


class _Recorder:
    """Encoder side: records (symbols, model, params) in decoding order."""

    decoding = False

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def categorical(self, probs: np.ndarray, sym: np.ndarray) -> np.ndarray:
        self.ops.append((np.ascontiguousarray(sym, dtype=np.int32), _CATEGORICAL, probs))
        return sym

    def uniform16(self, sym: np.ndarray) -> np.ndarray:
        self.ops.append((np.ascontiguousarray(sym, dtype=np.int32), _UNIFORM16))
        return sym

    def flush(self, coder) -> None:
        """Push the recorded ops onto the ANS stack so that they decode in recording order."""
        for op in reversed(self.ops):
            _guard("entropy coding", coder.encode_reverse, *op, error=ValueError)
        self.ops.clear()


class _Reader:
    """Decoder side: pops symbols off the ANS stack."""

    decoding = True

    def __init__(self, coder) -> None:
        self.coder = coder

    def categorical(self, probs: np.ndarray, sym=None) -> np.ndarray:
        return _guard("entropy decoding", self.coder.decode, _CATEGORICAL, probs).astype(np.int64)

    def uniform16(self, count: int) -> np.ndarray:
        return _guard("entropy decoding", self.coder.decode, _UNIFORM16, int(count)).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# table mode


def _table_layout(law: _Law, step: np.ndarray, u: np.ndarray):
    """Windows and batches of the table mode; a pure function of (p, step, u)."""
    with np.errstate(over="ignore", invalid="ignore"):
        flo = np.floor(law.ppf(WINDOW_TAIL) / step - u + 0.5)
        fhi = np.floor(law.ppf(1.0 - WINDOW_TAIL) / step - u + 0.5)
    if np.isnan(flo).any() or np.isnan(fhi).any():
        raise ValueError("the prior's quantiles divided by step are not numbers (nan)")
    lim = float(MAX_INDEX + 1)
    lo = np.clip(flo, -lim, lim).astype(np.int64)
    hi = np.maximum(np.clip(fhi, -lim, lim).astype(np.int64), lo)
    width = hi - lo + 1
    bits = np.frexp((width - 1).astype(np.float64))[1].astype(np.int64)  # ceil(log2 width)
    order = np.argsort(bits, kind="stable")
    sorted_bits = bits[order]
    batches = []
    for b in np.unique(sorted_bits):
        b = int(b)
        idx = order[np.searchsorted(sorted_bits, b, "left"):np.searchsorted(sorted_bits, b, "right")]
        levels = max(1, -(-b // LEVEL_BITS))
        top = b - LEVEL_BITS * (levels - 1)
        cols = max((1 << top) + 2, (1 << LEVEL_BITS) + 1 if levels > 1 else 0)
        rows = max(1, MAX_CELLS // cols)
        for start in range(0, idx.size, rows):
            batches.append((b, idx[start:start + rows]))
    return lo, width, batches


def _edges(law, idx, step, u, lo, t):
    """cdf and sf at the bin edges ``step (lo + t + u - 1/2)`` for offsets ``t`` (R, C)."""
    x = step[:, None] * ((lo[:, None] + t).astype(np.float64) + (u[:, None] - 0.5))
    return law.cdf_sf(idx, x)


def _table_batch(io, law, step, u, lo_all, width_all, b, idx, k=None, k_out=None):
    """Code (or decode into ``k_out``) the elements ``idx`` of one batch; returns (info, escapes)."""
    levels = max(1, -(-b // LEVEL_BITS))
    top = b - LEVEL_BITS * (levels - 1)
    ncols = 1 << top
    shift0 = LEVEL_BITS * (levels - 1)
    lo, width, st, uu = lo_all[idx], width_all[idx], step[idx], u[idx]
    rows = idx.size

    # level 0: blocks of 2**shift0 bins, clipped to the window, then the escape column
    t = np.minimum(np.arange(ncols + 1, dtype=np.int64) << shift0, width[:, None])
    c, s = _edges(law, idx, st, uu, lo, t)
    probs = np.empty((rows, ncols + 1))
    probs[:, :ncols] = _masses(c, s)
    probs[:, ncols] = np.maximum(c[:, 0] + s[:, -1], ESCAPE_FLOOR)
    probs = _check_table(probs)
    del c, s, t
    if io.decoding:
        sym = io.categorical(probs)
    else:
        off = k[idx] - lo
        inside = (off >= 0) & (off < width)
        sym = io.categorical(probs, np.where(inside, off >> shift0, ncols))
    info = _row_info(probs, sym)
    esc = sym == ncols
    base = sym.astype(np.int64) << shift0
    if io.decoding and np.any(base[~esc] >= width[~esc]):
        raise DecodeError("decoded index block lies outside its window: corrupted payload")

    # escapes: zigzag(k) < 2**32 in two 16-bit symbols, high half first
    nesc = int(esc.sum())
    if nesc:
        if io.decoding:
            halves = io.uniform16(2 * nesc).reshape(nesc, 2)
            z = (halves[:, 0] << 16) | halves[:, 1]
            kk = np.where(z & 1, -((z + 1) >> 1), z >> 1)
            off = kk - lo[esc]
            if np.any(np.abs(kk) > MAX_INDEX) or np.any((off >= 0) & (off < width[esc])):
                raise DecodeError("decoded escape value is invalid: corrupted payload")
            k_out[idx[esc]] = kk
        else:
            kk = k[idx[esc]]
            z = np.where(kk >= 0, 2 * kk, -2 * kk - 1)
            io.uniform16(np.stack([z >> 16, z & 0xFFFF], axis=1).reshape(-1))
        info += 32.0 * nesc

    # lower levels: the sub-block of 2**shift bins within the block chosen so far
    keep = ~esc
    if levels > 1 and keep.any():
        kidx, lo_k, w_k, base = idx[keep], lo[keep], width[keep], base[keep]
        st_k, u_k = st[keep], uu[keep]
        if not io.decoding:
            off = k[kidx] - lo_k
        sub = np.arange((1 << LEVEL_BITS) + 1, dtype=np.int64)
        for level in range(1, levels):
            shift = LEVEL_BITS * (levels - 1 - level)
            t = np.minimum(base[:, None] + (sub << shift), w_k[:, None])
            c, s = _edges(law, kidx, st_k, u_k, lo_k, t)
            probs = _check_table(_masses(c, s))
            del c, s, t
            if io.decoding:
                digit = io.categorical(probs)
            else:
                digit = io.categorical(probs, (off - base) >> shift)
            info += _row_info(probs, digit)
            base = base + (digit.astype(np.int64) << shift)
            if io.decoding and np.any(base >= w_k):
                raise DecodeError("decoded index lies outside its window: corrupted payload")
        if io.decoding:
            k_out[kidx] = lo_k + base
    elif io.decoding and keep.any():
        k_out[idx[keep]] = lo[keep] + base[keep]
    return info, nesc


# ----------------------------------------------------------------------------------------------
# quantized families (modes 0 and 1)


def _quantized_params(p: Distribution, step: np.ndarray, u: np.ndarray):
    mean = np.ascontiguousarray(p.a, dtype=np.float64) / step - u
    scale = np.ascontiguousarray(p.b, dtype=np.float64) / step
    return mean, scale


def _quantized_info(mode: int, k: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> float:
    zl = (k - 0.5 - mean) / scale
    zh = (k + 0.5 - mean) / scale
    if mode == MODE_GAUSSIAN:
        upper = zl > 0  # mirror the upper half onto the lower one (accurate tails)
        lo = np.where(upper, -zh, zl)
        hi = np.where(upper, -zl, zh)
        m = sc.ndtr(hi) - sc.ndtr(lo)
    else:
        m = np.where(
            zl >= 0,
            0.5 * (np.exp(-zl) - np.exp(-zh)),
            np.where(zh <= 0, 0.5 * (np.exp(zh) - np.exp(zl)), 1.0 - 0.5 * (np.exp(zl) + np.exp(-zh))),
        )
    return float(-np.log2(np.maximum(m, _PROB_FLOOR)).sum())


def _quantized_model(mode: int, kmin: int, kmax: int):
    cls = _MODEL.QuantizedGaussian if mode == MODE_GAUSSIAN else _MODEL.QuantizedLaplace
    return cls(int(kmin), int(kmax))


# ----------------------------------------------------------------------------------------------
# shared encoder / decoder steps (UQ is a one-push stream with its own framing)


def _check_prior(p, shape) -> Distribution:
    if not isinstance(p, Distribution):
        raise ValueError(f"p must be an rcc Distribution (with a cdf); got {type(p).__name__}")
    try:
        ok = np.broadcast_shapes(p.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"prior p of shape {p.shape} does not broadcast to the sample shape {tuple(shape)}")
    return p.broadcast_to(shape).ravel()


def _width_tolerance(low: np.ndarray, high: np.ndarray, step) -> np.ndarray:
    """How far ``high - low`` may stray from ``step`` by the rounding of ``mu -+ step/2``."""
    return 1e-9 * step + 4.0 * np.spacing(np.maximum(np.abs(low), np.abs(high)))


def _check_step(step, shape) -> np.ndarray:
    try:
        arr = np.asarray(step)
    except Exception:  # noqa: BLE001
        raise ValueError(f"step must be a real array; got {step!r:.80}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"step must be a real array; got dtype {arr.dtype}")
    try:
        arr = np.broadcast_to(arr.astype(np.float64), shape)
    except ValueError:
        raise ValueError(f"step of shape {arr.shape} does not broadcast to {tuple(shape)}") from None
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("step must be finite and > 0 everywhere")
    return np.ascontiguousarray(arr).reshape(-1)


def _channel_input(q, p, step):
    """Validate ``(q, p, step)``; returns ``(shape, p_flat, mu, step_flat)`` (flat float64)."""
    if not isinstance(q, Uniform):
        raise ValueError(f"UQ needs q to be an rcc.Uniform (a uniform-noise channel); got {type(q).__name__}")
    shape = tuple(q.shape)
    p_flat = _check_prior(p, shape)
    n = q.size
    low = np.ascontiguousarray(q.a, dtype=np.float64).reshape(-1)
    high = np.ascontiguousarray(q.b, dtype=np.float64).reshape(-1)
    if step is None:
        step_flat = high - low
        if not (np.isfinite(step_flat).all() and (step_flat > 0).all()):
            raise ValueError("q's width high - low must be finite and > 0 everywhere")
        if n and np.all(np.abs(step_flat - step_flat[0]) <= _width_tolerance(low, high, step_flat[0])):
            # one common step up to the rounding of mu -+ step/2: take the first width
            step_flat = np.full(n, step_flat[0])
    else:
        step_flat = _check_step(step, shape)
        if not np.all(np.abs(step_flat - (high - low)) <= _width_tolerance(low, high, step_flat)):
            raise ValueError("step does not match q's width high - low (beyond float rounding)")
    mu = 0.5 * low + 0.5 * high
    return shape, p_flat, mu, step_flat


def _quantize(mu: np.ndarray, step: np.ndarray, u: np.ndarray):
    """Indices ``k`` (int64) and the sample ``step (k + u)`` (flat float64)."""
    with np.errstate(over="ignore", invalid="ignore"):
        kf = np.floor(mu / step - u + 0.5)
    if kf.size and not (np.isfinite(kf).all() and np.abs(kf).max() <= MAX_INDEX):
        raise ValueError("mu/step is too large: the quantization index must satisfy |k| <= 2**30")
    return kf.astype(np.int64), step * (kf + u)


def _widen(kmin: int, kmax: int) -> tuple[int, int]:
    """constriction's quantized families need a support of two symbols or more."""
    if kmin == kmax:
        return (kmin, kmin + 1) if kmin < MAX_INDEX else (kmin - 1, kmin)
    return kmin, kmax


def _quantizable(p_flat) -> bool:
    return type(p_flat) in (Gaussian, Laplace)


def _choose_mode(p_flat, step, u, kmin: int, kmax: int):
    """Entropy model of a push: ``(mode, mean, scale)``; a pure function of what the decoder has."""
    if _quantizable(p_flat) and kmax - kmin < MAX_QUANTIZED_RANGE:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mean, scale = _quantized_params(p_flat, step, u)
        if np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all():
            return (MODE_GAUSSIAN if isinstance(p_flat, Gaussian) else MODE_LAPLACE), mean, scale
    return MODE_TABLE, None, None


class _Counter:
    """Encoder side, dry run: the symbols go nowhere (for the information content)."""

    decoding = False

    def categorical(self, probs, sym):
        return sym

    def uniform16(self, sym):
        return sym


def _encode_indices(coder, mode, k, p_flat, step, u, kmin, kmax, mean, scale) -> tuple[float, int]:
    """Put the indices ``k`` of one push on the ANS stack ``coder`` (None: dry run) so that they
    decode in order; returns ``(info_bits, escapes)``."""
    if mode != MODE_TABLE:
        if coder is not None:
            model = _guard("entropy model", _quantized_model, mode, kmin, kmax, error=ValueError)
            _guard("entropy coding", coder.encode_reverse, k.astype(np.int32), model, mean, scale, error=ValueError)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return _quantized_info(mode, k, mean, scale), 0
    law = _Law(p_flat)
    lo, width, batches = _table_layout(law, step, u)
    info_bits, escapes = 0.0, 0
    io = _Recorder() if coder is not None else _Counter()
    for b, idx in reversed(batches):  # a stack: last batch first, so batch 0 decodes first
        bits, nesc = _table_batch(io, law, step, u, lo, width, b, idx, k=k)
        if coder is not None:
            io.flush(coder)
        info_bits += bits
        escapes += nesc
    return info_bits, escapes


def _decode_indices(coder, mode, p_flat, step, u, kmin, kmax) -> np.ndarray:
    """Pop the indices of one push (int64, flat) off ``coder``; the inverse of :func:`_encode_indices`."""
    if mode != MODE_TABLE:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mean, scale = _quantized_params(p_flat, step, u)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise DecodeError("prior and step give invalid entropy-model parameters (not the encoder's prior?)")
        model = _guard("entropy model", _quantized_model, mode, kmin, kmax)
        return _guard("entropy decoding", coder.decode, model, mean, scale).astype(np.int64)
    law = _Law(p_flat)
    lo, width, batches = _table_layout(law, step, u)
    k = np.zeros(p_flat.size, dtype=np.int64)
    reader = _Reader(coder)
    for b, idx in batches:
        _table_batch(reader, law, step, u, lo, width, b, idx, k_out=k)
    return k


def _ans_bytes(coder) -> bytes:
    """The ANS words, uint32 little-endian, up to 3 zero high bytes of the top word dropped."""
    body = np.asarray(coder.get_compressed(), dtype=np.uint32).astype("<u4").tobytes()
    strip = 0
    while strip < 3 and strip < len(body) and body[len(body) - 1 - strip] == 0:
        strip += 1
    return body[: len(body) - strip]


def _ans_coder(rest: bytes):
    """The inverse of :func:`_ans_bytes`: a decoder over the stream in ``rest``."""
    if len(rest) % 4 == 0 and rest and rest[-1] == 0:
        raise DecodeError("ANS stream ends in a zero byte (non-canonical): corrupted payload")
    rest = rest + b"\x00" * (-len(rest) % 4)
    words = np.frombuffer(rest, dtype="<u4").astype(np.uint32)
    return _guard("reading the ANS stream", _ANS, words)


def _check_end(coder) -> None:
    _check_sentinel(coder, "end")
    if not _guard("entropy decoding", coder.is_empty):
        raise DecodeError("ANS stream has data left after the last symbol: corrupted payload")


# ----------------------------------------------------------------------------------------------
# public class


class UQ:
    """Universal quantization: exact simulation of ``x = mu + U(-step/2, step/2)`` in
    about ``-log2 P(k | u)`` bits (see the module docstring for the scheme and the format).

    One message per call; to send many sequential steps in one ANS stream with one header (a few
    bits of framing per step instead of ~60), use :class:`UQStream`.

    Methods
    -------
    encode(q, p, seed, *, step=None, send_step=None) -> Message
        ``q`` an :class:`rcc.Uniform` of any shape (one cell per element); ``p`` any
        :class:`rcc.Distribution` broadcasting to ``q.shape``.
    decode(blob, p, seed=None, *, step=None) -> np.ndarray
        The sample, shape from the blob, equal bit for bit to ``msg.sample``.

    Example
    -------
    >>> import numpy as np
    >>> from rcc.distributions import Logistic, Uniform
    >>> mu, step = np.linspace(-2.0, 2.0, 12).reshape(3, 4), 0.25
    >>> msg = UQ().encode(Uniform(mu - step / 2, mu + step / 2), Logistic(0.0, 1.0), seed=7)
    >>> x = UQ().decode(msg.to_bytes(), Logistic(0.0, 1.0), seed=7)
    >>> x.shape, bool(np.array_equal(x, msg.sample)), msg.num_bits == 8 * len(msg.payload)
    ((3, 4), True, True)
    """

    method = "uq"

    def __repr__(self) -> str:
        return "UQ()"

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, q, p, seed, *, step=None, send_step=None) -> Message:
        """Encode one sample of ``q = Uniform(mu - step/2, mu + step/2)`` under prior ``p``.

        Parameters
        ----------
        q : rcc.Uniform, any shape
            The uniform-noise channel; ``mu = (low + high) / 2``, ``step = high - low``. When all
            widths agree up to the rounding of ``mu -+ step/2`` (1e-9 relative plus 4 ulp of the
            ends), the first width is the common step.
        p : rcc.Distribution, broadcastable to ``q.shape``
            The law of the channel input ``mu`` (Gaussian, Laplace, Logistic, Uniform, ...).
        seed : int in [0, 2**64)
            Shared-randomness seed (the dither).
        step : array_like, optional
            The exact cell widths (broadcast to ``q.shape``) to use instead of ``high - low``;
            they must agree with ``high - low`` up to float rounding. Pass the same to ``decode`` when
            the step is not sent.
        send_step : bool, optional
            Put the (single, common) step in the payload as a float64 (64 bits). Default: send it
            iff every element has the same step. Per-element steps are never sent: the decoder
            must be given them (``decode(..., step=...)``), bit for bit.

        Returns
        -------
        rcc.Message
            ``sample`` (q's shape, float64), ``num_bits`` (payload bits) and ``info`` with
            ``info_bits`` (``-sum log2 P(k | u)``, bits), ``num_elements``, ``escapes``, ``mode``.
        """
        shape, p_flat, mu, step_flat = _channel_input(q, p, step)
        seed = check_seed(seed)
        n = q.size
        constant = bool(np.all(step_flat == step_flat[0]))
        if send_step is None:
            send_step = constant
        elif not isinstance(send_step, (bool, np.bool_)):
            raise ValueError(f"send_step must be True, False or None; got {send_step!r}")
        elif send_step and not constant:
            raise ValueError("send_step=True needs one common step; per-element steps must be given to decode")
        send_step = bool(send_step)

        u = dither(seed, n)
        k, sample = _quantize(mu, step_flat, u)
        kmin, kmax = _widen(int(k.min()), int(k.max()))
        mode, mean, scale = _choose_mode(p_flat, step_flat, u, kmin, kmax)

        coder = _ANS()
        _guard("entropy coding", coder.encode_reverse, _SENTINEL, _UNIFORM16, error=ValueError)  # bottom
        head = bytearray()
        if send_step:
            head += struct.pack("<d", float(step_flat[0]))
        if mode != MODE_TABLE:
            head += encode_varint(_zigzag(kmin)) + encode_varint(_zigzag(kmax))
        info_bits, escapes = _encode_indices(coder, mode, k, p_flat, step_flat, u, kmin, kmax, mean, scale)
        _guard("entropy coding", coder.encode_reverse, _SENTINEL, _UNIFORM16, error=ValueError)  # top
        payload = bytes(head) + _ans_bytes(coder)
        info = {"info_bits": info_bits, "num_elements": n, "escapes": escapes, "mode": mode}
        fingerprint = prior_fingerprint(p.broadcast_to(shape))
        return Message("uq", (mode, int(send_step)), seed, sample.reshape(shape), payload, 8 * len(payload), info,
                       fingerprint)

    # -- decoder -----------------------------------------------------------------------------
    def decode(self, blob, p, seed=None, *, step=None, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Decode a blob made by :meth:`encode`.

        Parameters
        ----------
        blob : bytes
        p : rcc.Distribution
            The prior used by the encoder, broadcastable to the blob's shape. Its fingerprint is
            folded into the blob's checksum (:mod:`rcc.container`): another prior (family, shape
            or any parameter) is a DecodeError before any entropy decoding.
        seed : int, optional
            If given, must equal the blob's seed (else :class:`rcc.DecodeError`).
        step : array_like, optional
            The cell widths, bit for bit as the encoder used them; needed when the blob does not
            carry the step, checked against it when it does.
        max_elements : int
            Largest number of elements accepted (default :data:`rcc.DEFAULT_MAX_ELEMENTS`); a
            blob that declares more is refused before anything of its size is allocated.

        Returns
        -------
        np.ndarray, float64, the blob's shape: the encoder's ``msg.sample``, bit for bit.

        Raises
        ------
        rcc.DecodeError
            Malformed, truncated or corrupted blob, one that does not match ``p`` / ``seed`` /
            ``step``, one that does not carry the step when no ``step`` is given, or one of more
            than ``max_elements`` elements.
        ValueError
            Bad arguments (``p`` not a distribution, bad ``seed`` or ``step``).
        """
        c, pb = open_blob(blob, "uq", p, seed, max_elements)
        if len(c.params) != 2 or c.params[0] not in (MODE_GAUSSIAN, MODE_LAPLACE, MODE_TABLE) or c.params[1] > 1:
            raise DecodeError(f"bad uq parameters {c.params}")
        if c.payload_bits != 8 * len(c.payload):
            raise DecodeError("uq payload must be a whole number of bytes")
        mode, step_sent = c.params
        shape = c.shape
        p_flat = pb.ravel()
        n = p_flat.size
        if mode == MODE_GAUSSIAN and type(p_flat) is not Gaussian:
            raise DecodeError(f"blob was coded under a Gaussian prior, not a {type(p).__name__}")
        if mode == MODE_LAPLACE and type(p_flat) is not Laplace:
            raise DecodeError(f"blob was coded under a Laplace prior, not a {type(p).__name__}")

        data, pos = c.payload, 0
        if step_sent:
            if len(data) < 8:
                raise DecodeError("payload too short for the step")
            (s0,) = struct.unpack("<d", data[:8])
            pos = 8
            if not (math.isfinite(s0) and s0 > 0):
                raise DecodeError(f"bad step {s0!r} in the payload")
            step_flat = np.full(n, s0)
            if step is not None and not np.array_equal(_check_step(step, shape), step_flat):
                raise DecodeError("the step given does not match the step in the blob")
        elif step is None:  # the blob says the decoder holds the step: a DecodeError if it does not
            raise DecodeError("this blob does not carry the step: pass step= (as the encoder used it)")
        else:
            step_flat = _check_step(step, shape)

        kmin = kmax = None
        if mode != MODE_TABLE:
            zmin, pos = decode_varint(data, pos)
            zmax, pos = decode_varint(data, pos)
            kmin, kmax = _unzigzag(zmin), _unzigzag(zmax)
            if not (-MAX_INDEX <= kmin < kmax <= MAX_INDEX and kmax - kmin < MAX_QUANTIZED_RANGE):
                raise DecodeError(f"bad index range [{kmin}, {kmax}]: corrupted payload")

        coder = _ans_coder(data[pos:])
        _check_sentinel(coder, "start")
        u = dither(c.seed, n)
        k = _decode_indices(coder, mode, p_flat, step_flat, u, kmin, kmax)
        _check_end(coder)
        return (step_flat * (k.astype(np.float64) + u)).reshape(shape)


# ----------------------------------------------------------------------------------------------
# streaming: many sequential pushes, one ANS stream, one header

#: Probability that a push with a Gaussian or Laplace prior sends its index range explicitly
#: (the flag costs ``-log2(1 - 2**-12)`` = 0.00035 bits when the range is derived).
EXPLICIT_RANGE_PROB = 2.0**-12
_RANGE_FLAG_PROBS = np.array([[1.0 - EXPLICIT_RANGE_PROB, EXPLICIT_RANGE_PROB]])


def _dither_chunk(seed: int, chunk: int, size: int) -> np.ndarray:
    """Dither of push ``chunk``: ``uniforms(seed, DOMAIN_DITHER, chunk, 0, size) - 1/2``."""
    k0, k1 = seed_key(seed)
    out = np.empty(int(size), dtype=np.float64)
    _fill_uniforms(k0, k1, DOMAIN_DITHER, int(chunk), 0, out)
    out -= 0.5
    return out


def _derived_range(p_flat, step, u):
    """The index range the decoder derives from the prior: the union of the table windows
    ``[floor(ppf(2**-22) / step - u + 1/2), floor(ppf(1 - 2**-22) / step - u + 1/2)]``; None when
    it is not a valid range (non-finite, beyond +-2**30)."""
    law = _Law(p_flat)
    with np.errstate(over="ignore", invalid="ignore"):
        flo = np.floor(law.ppf(WINDOW_TAIL) / step - u + 0.5)
        fhi = np.floor(law.ppf(1.0 - WINDOW_TAIL) / step - u + 0.5)
    if not (np.isfinite(flo).all() and np.isfinite(fhi).all()):
        return None
    lo, hi = float(flo.min()), float(fhi.max())
    if not (-MAX_INDEX <= lo <= hi <= MAX_INDEX):
        return None
    return _widen(int(lo), int(hi))


def _split32(z: int) -> np.ndarray:
    return np.array([z >> 16, z & 0xFFFF], dtype=np.int32)


class UQStream:
    """Many sequential universal-quantization steps in one ANS stream with one header.

    Each :meth:`push` is one :class:`UQ` step (same law, same maths, same entropy models), and the
    prior of a later push may depend on the samples of earlier ones: the decoder pops the pushes
    in the order they were pushed. The framing is paid once per stream (the two 16-bit check
    symbols, the ANS tail, one container) instead of once per step; what each push adds beyond
    its information content is at most a range flag (0.00035 bits) for Gaussian and Laplace
    priors, plus 64 bits in the rare case (< 2**-20 per element under the prior) that its
    indices fall outside the range the decoder derives from the prior.

    Shared randomness: push ``i`` (0-based) uses the dither
    ``rcc.random.uniforms(seed, DOMAIN_DITHER, i, 0, n) - 1/2``, i.e. Philox chunk ``i``, so
    pushes are independent and push 0 uses :class:`UQ`'s dither.

    Payload (``num_bits = 8 * len(payload)``): ANS words only, uint32 little-endian with up to 3
    zero high bytes of the top word dropped (as :class:`UQ`). Decoding order::

        check symbol 0xA5C3 (uniform, 16 bits)
        for each push i = 0 .. n-1:
            Gaussian / Laplace prior only: range flag r (categorical, P(1) = 2**-12)
                r = 0: kmin, kmax = the derived range (:func:`_derived_range`, not sent)
                r = 1: zigzag(kmin), zigzag(kmax), each as two uniform 16-bit symbols
            mode: quantized family iff the prior is Gaussian / Laplace, kmax - kmin < 2**12 and
                  the family parameters are finite (all known to the decoder), else table mode
            the indices (as UQ: one quantized-family call, or the table batches)
        check symbol 0xA5C3

    Container: method ``"uq_stream"``, parameters ``(num_pushes,)``, shape
    ``(total number of elements,)``, the seed; its checksum is a plain CRC-32 (no prior
    fingerprint: a wrong prior is caught at :meth:`UQStreamDecoder.finish`, see there).

    Parameters
    ----------
    seed : int in [0, 2**64)
        Shared-randomness seed.

    Attributes
    ----------
    num_pushes : int
    info_bits : float
        ``sum -log2 P(k | u)`` over all pushes, bits.
    push_info : list[dict]
        Per push: ``info_bits``, ``num_elements``, ``escapes``, ``mode``, ``explicit_range``.
    num_bits : int
        Payload bits (encodes the stream; cached until the next push).
    push_bits : np.ndarray (num_pushes,)
        The ANS stream's growth while each push was coded (floats summing to about ``num_bits``;
        the check symbols and the tail are spread by nothing: they are in no push).

    Example
    -------
    >>> import numpy as np
    >>> import rcc
    >>> enc = rcc.UQStream(seed=7)
    >>> step = np.full(16, 0.25)           # the decoder knows the widths; the shape comes with them
    >>> mu = np.linspace(-2.0, 2.0, 16)
    >>> x1 = enc.push(rcc.Uniform(mu - step / 2, mu + step / 2), rcc.Gaussian(0.0, 1.5), step=step)
    >>> x2 = enc.push(rcc.Uniform(mu - step / 2, mu + step / 2), rcc.Logistic(x1, 0.5), step=step)
    >>> dec = rcc.UQStream.decoder(enc.to_bytes(), seed=7)
    >>> y1 = dec.pop(rcc.Gaussian(0.0, 1.5), step)
    >>> y2 = dec.pop(rcc.Logistic(y1, 0.5), step)
    >>> dec.finish()
    >>> bool(np.array_equal(x1, y1) and np.array_equal(x2, y2))
    True
    """

    method = "uq_stream"

    def __init__(self, seed):
        self.seed = check_seed(seed)
        self._pushes: list[tuple] = []
        self.push_info: list[dict] = []
        self._cache = None

    def __repr__(self) -> str:
        return f"UQStream(seed={self.seed}, num_pushes={self.num_pushes})"

    @property
    def num_pushes(self) -> int:
        return len(self._pushes)

    @property
    def num_elements(self) -> int:
        return int(sum(info["num_elements"] for info in self.push_info))

    @property
    def info_bits(self) -> float:
        return float(sum(info["info_bits"] for info in self.push_info))

    def push(self, q, p, *, step=None) -> np.ndarray:
        """Add one step: sample ``q = Uniform(mu - step/2, mu + step/2)`` under prior ``p``.

        Parameters
        ----------
        q : rcc.Uniform, any shape
        p : rcc.Distribution broadcastable to ``q.shape``
        step : array_like, optional
            The cell widths, bit for bit as the decoder will be given them (``pop(p, step)``).
            Default: ``high - low`` (the first width if all agree up to float rounding); pass
            ``step`` whenever ``high - low`` may differ from the decoder's step in the last bit.

        Returns
        -------
        np.ndarray, q's shape, float64: the sample the decoder's matching :meth:`pop` returns.
        """
        shape, p_flat, mu, step_flat = _channel_input(q, p, step)
        n = step_flat.size
        u = _dither_chunk(self.seed, len(self._pushes), n)
        k, sample = _quantize(mu, step_flat, u)
        explicit = False
        kmin = kmax = None
        if _quantizable(p_flat) and n:
            derived = _derived_range(p_flat, step_flat, u)
            dmin, dmax = int(k.min()), int(k.max())
            if derived is not None and derived[0] <= dmin and dmax <= derived[1]:
                kmin, kmax = derived
            else:
                explicit = True
                kmin, kmax = _widen(dmin, dmax)
            mode, mean, scale = _choose_mode(p_flat, step_flat, u, kmin, kmax)
        else:
            mode, mean, scale = MODE_TABLE, None, None
        info_bits, escapes = _encode_indices(None, mode, k, p_flat, step_flat, u, kmin, kmax, mean, scale)
        self._pushes.append((mode, k, p_flat, step_flat, u, kmin, kmax, mean, scale, explicit))
        self.push_info.append(
            {"info_bits": info_bits, "num_elements": n, "escapes": escapes, "mode": mode, "explicit_range": explicit}
        )
        self._cache = None
        return sample.reshape(shape)

    def _encode(self):
        if self._cache is None:
            coder = _ANS()
            _guard("entropy coding", coder.encode_reverse, _SENTINEL, _UNIFORM16, error=ValueError)  # bottom
            grown = np.zeros(len(self._pushes))
            below = np.zeros(len(self._pushes), dtype=np.int64)
            for i in range(len(self._pushes) - 1, -1, -1):  # a stack: last push first
                mode, k, p_flat, step, u, kmin, kmax, mean, scale, explicit = self._pushes[i]
                below[i] = coder.num_words()  # what a decoder holds once it has popped push i
                before = coder.num_valid_bits()
                if k.size:
                    _encode_indices(coder, mode, k, p_flat, step, u, kmin, kmax, mean, scale)
                if _quantizable(p_flat) and k.size:
                    if explicit:
                        syms = np.concatenate([_split32(_zigzag(kmin)), _split32(_zigzag(kmax))])
                        _guard("entropy coding", coder.encode_reverse, syms, _UNIFORM16, error=ValueError)
                    flag = np.array([int(explicit)], dtype=np.int32)
                    _guard("entropy coding", coder.encode_reverse, flag, _CATEGORICAL, _RANGE_FLAG_PROBS,
                           error=ValueError)
                grown[i] = coder.num_valid_bits() - before
            _guard("entropy coding", coder.encode_reverse, _SENTINEL, _UNIFORM16, error=ValueError)  # top
            total = coder.num_words()
            # words from the top a decoder needs to pop pushes 0..i: the ones above the encoder's
            # stack before push i, plus the two a 64-bit ANS state may have pulled in early
            pop_words = np.minimum(total - below + 2, total)
            self._cache = (_ans_bytes(coder), grown, pop_words)
        return self._cache

    @property
    def payload(self) -> bytes:
        return self._encode()[0]

    @property
    def num_bits(self) -> int:
        return 8 * len(self.payload)

    @property
    def push_bits(self) -> np.ndarray:
        return self._encode()[1].copy()

    @property
    def pop_words(self) -> np.ndarray:
        """(num_pushes,) int64: 32-bit words from the top of the stream (the end of the payload)
        that a decoder needs to pop pushes 0..i; see :meth:`UQStreamDecoder.from_top`.

        The stream is a stack whose top holds the first push, so a payload stored back to front
        is progressive: its first ``4 * pop_words[i]`` bytes decode the first i + 1 pushes.
        """
        return self._encode()[2].copy()

    def message(self) -> Message:
        """The stream as an :class:`rcc.Message` (sample: all pushes' samples, flat, concatenated)."""
        samples = [(step * (k.astype(np.float64) + u)) for _, k, _, step, u, *_ in self._pushes]
        sample = np.concatenate(samples) if samples else np.zeros(0)
        info = {"info_bits": self.info_bits, "num_pushes": self.num_pushes, "push_info": list(self.push_info)}
        return Message(self.method, (self.num_pushes,), self.seed, sample, self.payload, self.num_bits, info)

    def to_bytes(self) -> bytes:
        """The whole stream in one rcc container (see the class docstring for the layout)."""
        return self.message().to_bytes()

    @classmethod
    def decoder(cls, blob, seed=None, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> "UQStreamDecoder":
        """A decoder of a blob made by :meth:`to_bytes`; ``seed`` (optional) must equal the blob's.
        A blob of more than ``max_elements`` elements or pushes is a DecodeError."""
        return UQStreamDecoder(blob, seed=seed, max_elements=max_elements)


def _check_counts(num_pushes, num_elements, max_elements) -> None:
    max_elements = check_max_elements(max_elements)
    for name, v in (("pushes", num_pushes), ("elements", num_elements)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"num_{name} must be an int >= 0; got {v!r}")
        if v > max_elements:
            raise DecodeError(
                f"the stream declares {v} {name}, more than the limit of {max_elements}; if it is trusted, "
                "pass a larger max_elements= to the decoder"
            )


class UQStreamDecoder:
    """Pops the pushes of a :class:`UQStream` in order (made by :meth:`UQStream.decoder`).

    ``pop(p, step)`` returns the next push's sample (shape: ``p.shape`` broadcast with
    ``step``'s), bit for bit; ``finish()`` checks that every push was popped and the end check
    symbol. Anything that does not check out raises :class:`rcc.DecodeError`.

    **Wrong priors.** Unlike the other rcc containers, a stream's checksum does not fold in the
    priors (they are known only push by push, and may depend on earlier samples). A wrong prior
    (or step) desynchronises the ANS state, which ``finish()`` catches through the end check
    symbol and the empty-coder test: of 1000 streams of two 16-element pushes decoded with a
    wrong first prior (loc shifted or scale changed by 1e-4 to 1, or another family), all 1000
    raised DecodeError at ``finish()``. Samples popped *before* ``finish()`` are unverified: in
    the same run all 1000 were wrong without an error. So use no sample until ``finish()``
    returned, or verify each push yourself (prefix decoding with :meth:`from_top` has no end to
    check). Measured by ``tests/test_rcc_hardening.py::test_uq_stream_wrong_prior_rate`` (slow).
    """

    @classmethod
    def from_top(cls, top: bytes, payload_len: int, seed: int, num_pushes: int, num_elements: int, *,
                 max_elements: int = DEFAULT_MAX_ELEMENTS):
        """A decoder of the first pushes from the top of a stream alone (progressive decoding).

        ``top`` holds the last ``len(top)`` bytes of a :attr:`UQStream.payload` of
        ``payload_len`` bytes (seed, push count and element count as the encoder's). Returns
        ``(decoder, words)``: ``words`` complete 32-bit words from the top are present, and pushes
        0..i pop exactly as from the whole stream if ``words >= pop_words[i]`` -- the caller must
        know ``pop_words`` (beyond that the decoder cannot tell good indices from garbage).
        ``finish()`` needs the whole payload. ``num_pushes`` or ``num_elements`` above
        ``max_elements`` (they are often read from a file) are a DecodeError.
        """
        seed = check_seed(seed)
        _check_counts(num_pushes, num_elements, max_elements)
        top = bytes(top)
        if not 0 <= len(top) <= payload_len:
            raise ValueError(f"top holds {len(top)} bytes of a {payload_len}-byte payload")
        self = cls.__new__(cls)
        if len(top) == payload_len:
            self._start(_ans_coder(top), seed, num_pushes, num_elements)
            return self, -(-payload_len // 4)
        start = -(-(payload_len - len(top)) // 4)  # first word wholly inside top
        rest = top[4 * start - (payload_len - len(top)):]
        rest = rest + b"\x00" * (-len(rest) % 4)
        words = np.frombuffer(rest, dtype="<u4").astype(np.uint32)
        if words.size < 2:  # not even the ANS state: nothing can be popped
            return None, int(words.size)
        self._start(_guard("reading the ANS stream", _ANS, words), seed, num_pushes, num_elements)
        return self, int(words.size)

    def _start(self, coder, seed: int, num_pushes: int, num_elements: int) -> None:
        self.seed, self.num_pushes, self.num_elements = seed, int(num_pushes), int(num_elements)
        self.popped = 0
        self._elements = 0
        self._coder = coder
        _check_sentinel(self._coder, "start")

    def __init__(self, blob, seed=None, *, max_elements: int = DEFAULT_MAX_ELEMENTS):
        if seed is not None:
            seed = check_seed(seed)
        c = unpack(blob, expect_method=UQStream.method, max_elements=max_elements)
        if seed is not None and seed != c.seed:
            raise DecodeError(f"blob was encoded with seed {c.seed}, not {seed}")
        if len(c.params) != 1 or len(c.shape) != 1:
            raise DecodeError(f"bad uq_stream parameters {c.params} / shape {c.shape}")
        _check_counts(c.params[0], c.shape[0], max_elements)
        if c.payload_bits != 8 * len(c.payload):
            raise DecodeError("uq_stream payload must be a whole number of bytes")
        self._start(_ans_coder(c.payload), c.seed, c.params[0], c.shape[0])

    def __repr__(self) -> str:
        return f"UQStreamDecoder(seed={self.seed}, popped={self.popped}/{self.num_pushes})"

    def pop(self, p, step) -> np.ndarray:
        """The sample of the next push, given its prior ``p`` and cell widths ``step`` (bit for bit
        as the encoder used them); shape ``np.broadcast_shapes(p.shape, np.shape(step))``."""
        if not isinstance(p, Distribution):
            raise ValueError(f"p must be an rcc Distribution (with a cdf); got {type(p).__name__}")
        try:
            shape = np.broadcast_shapes(p.shape, np.shape(step))
        except ValueError:
            raise ValueError(f"step of shape {np.shape(step)} does not broadcast with p of shape {p.shape}") from None
        step_flat = _check_step(step, shape)
        if self.popped >= self.num_pushes:
            raise DecodeError(f"the stream holds {self.num_pushes} pushes; all were popped already")
        p_flat = _check_prior(p, shape)
        n = p_flat.size
        if self._elements + n > self.num_elements:
            raise DecodeError(
                f"pop of {n} elements exceeds the stream's {self.num_elements} elements "
                f"({self._elements} popped): shapes differ from the encoder's"
            )
        u = _dither_chunk(self.seed, self.popped, n)
        coder = self._coder
        kmin = kmax = None
        mode = MODE_TABLE
        if _quantizable(p_flat) and n:
            flag = int(_guard("entropy decoding", coder.decode, _CATEGORICAL, _RANGE_FLAG_PROBS)[0])
            if flag:
                h = _guard("entropy decoding", coder.decode, _UNIFORM16, 4).astype(np.int64)
                kmin, kmax = _unzigzag(int(h[0] << 16 | h[1])), _unzigzag(int(h[2] << 16 | h[3]))
                if not (-MAX_INDEX <= kmin < kmax <= MAX_INDEX):
                    raise DecodeError(f"bad index range [{kmin}, {kmax}]: corrupted payload")
            else:
                derived = _derived_range(p_flat, step_flat, u)
                if derived is None:
                    raise DecodeError("the prior gives no index range, yet none was sent: corrupted payload")
                kmin, kmax = derived
            mode, _, _ = _choose_mode(p_flat, step_flat, u, kmin, kmax)
        k = _decode_indices(coder, mode, p_flat, step_flat, u, kmin, kmax) if n else np.zeros(0, np.int64)
        self.popped += 1
        self._elements += n
        return (step_flat * (k.astype(np.float64) + u)).reshape(shape)

    def finish(self) -> None:
        """Check that every push was popped and the stream ends with its check symbol."""
        if self.popped != self.num_pushes:
            raise DecodeError(f"only {self.popped} of the stream's {self.num_pushes} pushes were popped")
        if self._elements != self.num_elements:
            raise DecodeError(f"popped {self._elements} elements; the stream holds {self.num_elements}")
        _check_end(self._coder)
