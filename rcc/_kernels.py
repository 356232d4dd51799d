"""Candidate kernels shared by every selection-based channel (PFR, ORC, MRC, hybrid).

A candidate is a draw from the prior p made from the shared stream: candidate ``index`` of
``chunk`` is a pure function of (seed, chunk, index), computed in O(d) (see :mod:`rcc.random`).
The kernels here

* regenerate one candidate (what a decoder does), and
* score a batch of candidates by their log density ratio log q(x)/p(x) in nats, in parallel over
  candidates (what an encoder does).

Candidates of a Gaussian prior are ``loc + scale * z`` with Box--Muller normals ``z``; candidates of
other priors are ``p.ppf(u)`` of the stream's uniforms. For a Gaussian pair the log ratio is a
quadratic in ``z`` whose coefficients are computed once per call (:func:`ratio_coefficients`).

Every kernel has a plain-numpy twin in ``tests/naive.py`` that the tests compare it with.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _densities
from ._config import njit, serial_and_parallel
from ._densities import GAUSSIAN
from .distributions import Distribution
from .random import DOMAIN_CANDIDATE, _box_muller, _normal2, _uniform2

__all__ = ["Pair", "candidate", "score_batch", "index_uniforms"]


class Pair:
    """A target q and a prior p flattened to (d,) float64 arrays for the kernels.

    ``const`` and ``quad``/``lin`` hold the Gaussian-pair shortcut
    log q(x)/p(x) = const + sum_j (quad_j z_j^2 + lin_j z_j), with x_j = mp_j + sp_j z_j.
    """

    def __init__(self, q: Distribution, p: Distribution):
        shape = np.broadcast_shapes(q.shape, p.shape)
        q = q.broadcast_to(shape).ravel()
        p = p.broadcast_to(shape).ravel()
        self.shape = shape
        self.d = int(np.prod(shape, dtype=np.int64))
        self.q, self.p = q, p
        self.qfam, self.pfam = int(q.family), int(p.family)
        self.qa, self.qb = np.ascontiguousarray(q.a, np.float64), np.ascontiguousarray(q.b, np.float64)
        self.pa, self.pb = np.ascontiguousarray(p.a, np.float64), np.ascontiguousarray(p.b, np.float64)
        self.gaussian = self.qfam == GAUSSIAN and self.pfam == GAUSSIAN
        if self.gaussian:
            ratio = self.pb / self.qb
            shift = (self.pa - self.qa) / self.qb
            self.quad = 0.5 * (1.0 - ratio * ratio)
            self.lin = -shift * ratio
            self.const = float(np.sum(np.log(ratio) - 0.5 * shift * shift))
        else:
            self.quad = self.lin = np.zeros(0)
            self.const = 0.0


@njit
def _fill_candidate(k0, k1, chunk, index, pfam, pa, pb, out):
    d = out.shape[0]
    for j in range((d + 1) // 2):
        if pfam == GAUSSIAN:
            z0, z1 = _normal2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
            out[2 * j] = pa[2 * j] + pb[2 * j] * z0
            if 2 * j + 1 < d:
                out[2 * j + 1] = pa[2 * j + 1] + pb[2 * j + 1] * z1
        else:
            u0, u1 = _uniform2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
            out[2 * j] = _densities.ppf(pfam, pa[2 * j], pb[2 * j], u0)
            if 2 * j + 1 < d:
                out[2 * j + 1] = _densities.ppf(pfam, pa[2 * j + 1], pb[2 * j + 1], u1)


@njit
def _log_ratio_gaussian(k0, k1, chunk, index, const, quad, lin):
    d = quad.shape[0]
    acc = const
    for j in range((d + 1) // 2):
        z0, z1 = _normal2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
        acc += (quad[2 * j] * z0 + lin[2 * j]) * z0
        if 2 * j + 1 < d:
            acc += (quad[2 * j + 1] * z1 + lin[2 * j + 1]) * z1
    return acc


@njit
def _log_ratio_generic(k0, k1, chunk, index, pfam, pa, pb, qfam, qa, qb):
    d = pa.shape[0]
    acc = 0.0
    for j in range((d + 1) // 2):
        if pfam == GAUSSIAN:
            z0, z1 = _normal2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
            x0 = pa[2 * j] + pb[2 * j] * z0
            x1 = pa[2 * j + 1] + pb[2 * j + 1] * z1 if 2 * j + 1 < d else 0.0
        else:
            u0, u1 = _uniform2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
            x0 = _densities.ppf(pfam, pa[2 * j], pb[2 * j], u0)
            x1 = _densities.ppf(pfam, pa[2 * j + 1], pb[2 * j + 1], u1) if 2 * j + 1 < d else 0.0
        acc += _densities.logpdf(qfam, qa[2 * j], qb[2 * j], x0)
        acc -= _densities.logpdf(pfam, pa[2 * j], pb[2 * j], x0)
        if 2 * j + 1 < d:
            acc += _densities.logpdf(qfam, qa[2 * j + 1], qb[2 * j + 1], x1)
            acc -= _densities.logpdf(pfam, pa[2 * j + 1], pb[2 * j + 1], x1)
        if acc == -np.inf:
            return acc
    return acc


#: Candidates per tile of the Gaussian scoring loop.
_TILE = 256


@njit
def _gaussian_tile(k0, k1, chunk, start, out, lo, hi, const, quad, lin):
    """out[i] = log ratio of candidate start + i, for i in [lo, hi), coordinate pair by pair.

    Same arithmetic, in the same order, as :func:`_log_ratio_gaussian`; looping over the
    candidates of the tile inside each coordinate pair lets LLVM vectorise the Philox rounds.
    """
    n = hi - lo
    u0s = np.empty(n)
    u1s = np.empty(n)
    for i in range(n):
        out[lo + i] = const
    d = quad.shape[0]
    for j in range((d + 1) // 2):
        for i in range(n):
            u0s[i], u1s[i] = _uniform2(k0, k1, DOMAIN_CANDIDATE, chunk, np.uint64(start) + np.uint64(lo + i), j)
        qa, la = quad[2 * j], lin[2 * j]
        two = 2 * j + 1 < d
        qb = quad[2 * j + 1] if two else 0.0
        lb = lin[2 * j + 1] if two else 0.0
        for i in range(n):
            z0, z1 = _box_muller(u0s[i], u1s[i])
            acc = out[lo + i] + (qa * z0 + la) * z0
            if two:
                acc += (qb * z1 + lb) * z1
            out[lo + i] = acc


def _score_loop(k0, k1, chunk, start, out, gaussian, const, quad, lin, pfam, pa, pb, qfam, qa, qb):
    count = out.shape[0]
    if gaussian:
        for tile in numba.prange((count + _TILE - 1) // _TILE):
            lo = tile * _TILE
            _gaussian_tile(k0, k1, chunk, start, out, lo, min(lo + _TILE, count), const, quad, lin)
    else:
        for i in numba.prange(count):
            idx = np.uint64(start) + np.uint64(i)
            out[i] = _log_ratio_generic(k0, k1, chunk, idx, pfam, pa, pb, qfam, qa, qb)


_score_batch_serial, _score_batch = serial_and_parallel(_score_loop)

#: Below this many candidate-coordinates a batch is scored on one thread.
PARALLEL_MIN_WORK = 2**15


@njit
def _fill_uniform_per_index(k0, k1, domain, chunk, start, out):
    for i in range(out.shape[0]):
        u0, _ = _uniform2(k0, k1, domain, chunk, np.uint64(start) + np.uint64(i), 0)
        out[i] = u0


def index_uniforms(key: tuple[int, int], domain: int, chunk: int, start: int, count: int) -> np.ndarray:
    """One uniform in (0, 1) per index start .. start+count-1 of ``chunk`` in stream ``domain``.

    Coordinate 0 of :func:`rcc.random.uniforms` at each index; used for encoder-private arrival
    times (exponentials ``-log(u)``) and selection noise.
    """
    out = np.empty(count)
    _fill_uniform_per_index(key[0], key[1], domain, chunk, np.uint64(start), out)
    return out


def candidate(pair_or_p, key: tuple[int, int], chunk: int, index: int) -> np.ndarray:
    """Candidate ``index`` (0-based) of ``chunk``: a (d,) float64 draw from p, in O(d)."""
    p = pair_or_p.p if isinstance(pair_or_p, Pair) else pair_or_p
    pa = np.ascontiguousarray(p.a, np.float64).ravel()
    pb = np.ascontiguousarray(p.b, np.float64).ravel()
    out = np.empty(pa.shape[0])
    _fill_candidate(key[0], key[1], chunk, np.uint64(index), int(p.family), pa, pb, out)
    return out


def score_batch(pair: Pair, key: tuple[int, int], chunk: int, start: int, count: int) -> np.ndarray:
    """log q(x_i)/p(x_i) in nats for candidates i = start .. start+count-1 of ``chunk``, shape (count,).

    Parallel over candidates (numba ``prange``); each entry depends only on its own index, so the
    result does not depend on the thread count.
    """
    out = np.empty(count)
    kernel = _score_batch if count * max(pair.d, 1) >= PARALLEL_MIN_WORK else _score_batch_serial
    kernel(
        key[0], key[1], chunk, np.uint64(start), out, pair.gaussian, pair.const, pair.quad, pair.lin,
        pair.pfam, pair.pa, pair.pb, pair.qfam, pair.qa, pair.qb,
    )
    return out
