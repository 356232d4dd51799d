"""Candidate kernels of the hybrid channel (private; see :mod:`rcc.hybrid`).

In CDF space u = F_p(x) the prior p is U(0, 1) per coordinate. With ``num_bins = M`` bins and a
shared dither ``delta`` in (0, 1), bin ``k`` (0 <= k < M) of a coordinate is the arc

    W_k = { ((k + delta + v) / M) mod 1 : 0 < v < 1 }

of width 1/M on the circle [0, 1) (bin M-1 wraps around 1). Candidate ``i`` of bin vector
``kbins`` is, per coordinate j, ``u_j = window_u(kbins[j], delta[j], v_ij, M)`` with ``v_ij`` the
shared uniform of (seed, chunk, i, j) in ``DOMAIN_CANDIDATE``, and ``x_j = F_p^{-1}(u_j)``: a
draw from p restricted to the bins, i.e. uniform on the product of the arcs in u.

The kernels regenerate one candidate (the decoder) and score a batch of candidates by
log q(x)/p(x) in nats, in parallel over candidates (the encoder); each entry depends only on its
own index, so results do not depend on the thread count. A plain-numpy twin lives in
``tests/test_hybrid.py``.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _densities
from ._config import njit, serial_and_parallel
from .random import DOMAIN_CANDIDATE, _uniform2

__all__ = ["window_u", "hybrid_candidate", "hybrid_score_batch"]

_TINY_U = 2.0**-60
_ONE_MINUS = 1.0 - 2.0**-53


@njit
def window_u(kbin, dither, v, num_bins):
    """Point ``((kbin + dither + v) / num_bins) mod 1`` of bin ``kbin``, clamped into (0, 1)."""
    t = (np.float64(kbin) + dither) + v
    if t >= num_bins:
        t -= num_bins
    u = t / num_bins
    if u <= 0.0:
        u = _TINY_U
    elif u >= 1.0:
        u = _ONE_MINUS
    return u


@njit
def _log_ratio(k0, k1, chunk, index, kbins, dither, num_bins, pfam, pa, pb, qfam, qa, qb):
    d = pa.shape[0]
    acc = 0.0
    for j in range((d + 1) // 2):
        v0, v1 = _uniform2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
        for c in range(2):
            jj = 2 * j + c
            if jj >= d:
                break
            v = v0 if c == 0 else v1
            x = _densities.ppf(pfam, pa[jj], pb[jj], window_u(kbins[jj], dither[jj], v, num_bins))
            acc += _densities.logpdf(qfam, qa[jj], qb[jj], x) - _densities.logpdf(pfam, pa[jj], pb[jj], x)
        if acc == -np.inf:
            return acc
    return acc


def _score_loop(k0, k1, chunk, start, kbins, dither, num_bins, pfam, pa, pb, qfam, qa, qb, out):
    for i in numba.prange(out.shape[0]):
        idx = np.uint64(start) + np.uint64(i)
        out[i] = _log_ratio(k0, k1, chunk, idx, kbins, dither, num_bins, pfam, pa, pb, qfam, qa, qb)


# One loop body, compiled twice: threads only pay off on large batches (a parallel launch costs
# about a millisecond on a busy machine, 64 candidates cost about ten microseconds). Every entry
# depends only on its own index, so the two give the same floats.
_score_batch_serial, _score_batch_parallel = serial_and_parallel(_score_loop)
#: Batches of at least this many candidates are scored in parallel.
PARALLEL_MIN_BATCH = 4096


@njit
def _fill_candidate(k0, k1, chunk, index, kbins, dither, num_bins, pfam, pa, pb, out):
    d = out.shape[0]
    for j in range((d + 1) // 2):
        v0, v1 = _uniform2(k0, k1, DOMAIN_CANDIDATE, chunk, index, j)
        out[2 * j] = _densities.ppf(pfam, pa[2 * j], pb[2 * j], window_u(kbins[2 * j], dither[2 * j], v0, num_bins))
        if 2 * j + 1 < d:
            jj = 2 * j + 1
            out[jj] = _densities.ppf(pfam, pa[jj], pb[jj], window_u(kbins[jj], dither[jj], v1, num_bins))


def hybrid_candidate(key, chunk, index, kbins, dither, num_bins, p) -> np.ndarray:
    """Candidate ``index`` (0-based) in bins ``kbins`` (int64, (d,)): a (d,) float64 point in x."""
    pa = np.ascontiguousarray(p.a, np.float64).ravel()
    pb = np.ascontiguousarray(p.b, np.float64).ravel()
    out = np.empty(pa.shape[0])
    _fill_candidate(key[0], key[1], chunk, np.uint64(index), kbins, dither, num_bins, int(p.family), pa, pb, out)
    return out


def hybrid_score_batch(key, chunk, start, count, kbins, dither, num_bins, q, p) -> np.ndarray:
    """log q(x_i)/p(x_i) in nats of candidates start .. start+count-1 in bins ``kbins``, (count,)."""
    out = np.empty(count)
    kernel = _score_batch_parallel if count >= PARALLEL_MIN_BATCH else _score_batch_serial
    kernel(
        key[0], key[1], chunk, np.uint64(start), kbins, dither, num_bins,
        int(p.family), np.ascontiguousarray(p.a, np.float64).ravel(), np.ascontiguousarray(p.b, np.float64).ravel(),
        int(q.family), np.ascontiguousarray(q.a, np.float64).ravel(), np.ascontiguousarray(q.b, np.float64).ravel(),
        out,
    )
    return out
