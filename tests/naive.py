"""Slow, readable references for the numba kernels of rcc (in the manner of stumpy's tests/naive.py).

Everything here is plain Python integers and the ``math`` module, one candidate and one
coordinate at a time, written from the papers and from the addressing scheme documented in
:mod:`rcc.random`, not from the kernels' code:

* :func:`philox4x32_10` -- Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC 2011), one block.
* :func:`uniforms`, :func:`normals`, :func:`exponentials` -- the shared stream at
  (seed, domain, chunk, index), coordinates 0 .. d-1.
* :func:`derive_seed` -- the seed hash of :mod:`rcc.random`.
* :func:`ppf`, :func:`logpdf` -- closed forms of the four families (nats).
* :func:`candidate`, :func:`log_ratio`, :func:`log_ratio_gaussian_shortcut`, :func:`score_batch`,
  :func:`index_uniforms` -- twins of :mod:`rcc._kernels`.
* :func:`pfr_race` -- the Poisson functional representation (Li & El Gamal, 2018) run
  sequentially, one candidate at a time, with the plain D_inf stopping rule.

Floats: where a kernel uses the same formula (Box--Muller, ``loc + scale * z``, the closed-form
inverse CDFs), the twin here gives the same float bit for bit; where the twin is written
differently (log ratios as ``log q - log p``), tests compare with stated tolerances.
"""

from __future__ import annotations

import math

import numpy as np

from rcc.random import DOMAIN_ARRIVAL, DOMAIN_CANDIDATE, DOMAIN_SEED

GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE = 0, 1, 2, 3

_MASK32 = 0xFFFFFFFF
_PHILOX_M0, _PHILOX_M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments (golden ratio, sqrt 3 - 1)


# ----------------------------------------------------------------------------------------------
# Philox4x32-10 and the shared stream
# ----------------------------------------------------------------------------------------------


def _mulhilo(a: int, b: int) -> tuple[int, int]:
    product = a * b
    return product >> 32, product & _MASK32


def philox4x32_10(counter, key) -> list[int]:
    """One Philox4x32-10 block: 4 counter words and 2 key words (ints < 2**32) -> 4 words."""
    c0, c1, c2, c3 = (int(v) for v in counter)
    k0, k1 = (int(v) for v in key)
    for round_ in range(10):
        if round_:  # bump the key between rounds
            k0 = (k0 + _PHILOX_W0) & _MASK32
            k1 = (k1 + _PHILOX_W1) & _MASK32
        hi0, lo0 = _mulhilo(_PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(_PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return [c0, c1, c2, c3]


def stream_words(seed: int, domain: int, chunk: int, index: int, block: int) -> list[int]:
    """The 4 raw words of coordinate block ``block`` (coordinates 2*block, 2*block+1)."""
    key = (seed & _MASK32, seed >> 32)
    counter = (block, (chunk & 0xFFFFFF) | (domain << 24), index & _MASK32, index >> 32)
    return philox4x32_10(counter, key)


def derive_seed(seed: int, *path: int) -> int:
    """The documented chain of :func:`rcc.random.derive_seed`: block i keyed by the running
    64-bit state, counter (e_i low, e_i high, i, DOMAIN_SEED << 24); state = w0 << 32 | w1;
    the result is the final state's top 63 bits."""
    state = seed
    for i, e in enumerate(path):
        w = philox4x32_10((e & _MASK32, e >> 32, i, DOMAIN_SEED << 24), (state & _MASK32, state >> 32))
        state = (w[0] << 32) | w[1]
    return state >> 1


def uniforms(seed: int, domain: int, chunk: int, index: int, d: int) -> np.ndarray:
    """d uniforms: each pair of words (hi, lo) -> (top 53 bits + 1/2) / 2**53."""
    out = []
    for block in range((d + 1) // 2):
        w = stream_words(seed, domain, chunk, index, block)
        for hi, lo in ((w[0], w[1]), (w[2], w[3])):
            top53 = ((hi << 32) | lo) >> 11
            out.append(min((float(top53) + 0.5) * 2.0**-53, 1.0 - 2.0**-53))
    return np.array(out[:d], dtype=np.float64)


def normals(seed: int, domain: int, chunk: int, index: int, d: int) -> np.ndarray:
    """d standard normals: Box--Muller on consecutive uniform pairs, the angle 2 pi u1 folded into
    the first octant: octant o = floor(8 u1), angle b = (8 u1 - o) pi/4, and the point
    (cos b, sin b) mapped to octant o by the symmetry of the square in _OCTANT_MAPS."""
    u = uniforms(seed, domain, chunk, index, 2 * ((d + 1) // 2))
    out = []
    for u0, u1 in zip(u[0::2], u[1::2]):
        radius = math.sqrt(-2.0 * math.log(u0))
        octant = int(8.0 * u1)
        b = (8.0 * u1 - octant) * (0.25 * math.pi)
        swap, sign_x, sign_y = _OCTANT_MAPS[octant]
        x, y = math.cos(b), math.sin(b)
        if swap:
            x, y = y, x
        out += [radius * (sign_x * x), radius * (sign_y * y)]
    return np.array(out[:d], dtype=np.float64)


# octant -> (swap cos and sin, sign of x, sign of y): the image of angle b in [0, pi/4) lies in
# that octant: b, pi/2 - b, pi/2 + b, pi - b, pi + b, 3pi/2 - b, 3pi/2 + b, 2pi - b
_OCTANT_MAPS = [
    (False, 1, 1), (True, 1, 1), (True, -1, 1), (False, -1, 1),
    (False, -1, -1), (True, -1, -1), (True, 1, -1), (False, 1, -1),
]


def exponentials(seed: int, domain: int, chunk: int, index: int, d: int) -> np.ndarray:
    """d standard exponentials -log(u)."""
    return np.array([-math.log(u) for u in uniforms(seed, domain, chunk, index, d)])


# ----------------------------------------------------------------------------------------------
# one-dimensional laws (family code, a, b) as in rcc._densities
# ----------------------------------------------------------------------------------------------


def ppf(family: int, a: float, b: float, u: float) -> float:
    """Inverse CDF at u in (0, 1): closed forms of the four families (candidates of a Gaussian
    prior do not use it: they are Box--Muller normals, see :func:`candidate`)."""
    if family == GAUSSIAN:
        from scipy.special import ndtri

        return a + b * float(ndtri(u))
    if family == UNIFORM:
        return a + (b - a) * u
    if family == LOGISTIC:
        return a + b * (math.log(u) - math.log1p(-u))
    if family == LAPLACE:
        if u <= 0.5:
            return a + b * math.log(2.0 * u)
        return a - b * math.log(2.0 * (1.0 - u))
    raise ValueError(family)


def logpdf(family: int, a: float, b: float, x: float) -> float:
    """Log-density in nats (-inf outside the support)."""
    if family == GAUSSIAN:
        return -0.5 * ((x - a) / b) ** 2 - math.log(b) - 0.5 * math.log(2.0 * math.pi)
    if family == UNIFORM:
        return -math.log(b - a) if a <= x <= b else -math.inf
    if family == LOGISTIC:
        z = abs(x - a) / b
        return -z - 2.0 * math.log1p(math.exp(-z)) - math.log(b)
    if family == LAPLACE:
        return -abs(x - a) / b - math.log(2.0 * b)
    raise ValueError(family)


def _flat(dist, shape=None):
    """(family, a, b) of a distribution broadcast to ``shape`` and flattened, as Python lists."""
    shape = dist.shape if shape is None else shape
    a = np.broadcast_to(dist.a, shape).ravel().tolist()
    b = np.broadcast_to(dist.b, shape).ravel().tolist()
    return int(dist.family), a, b


# ----------------------------------------------------------------------------------------------
# candidates and their scores (twins of rcc._kernels)
# ----------------------------------------------------------------------------------------------


def candidate(p, seed: int, chunk: int, index: int, shape=None) -> np.ndarray:
    """Candidate ``index`` (0-based) of ``chunk``, flattened: loc + scale * normal for a Gaussian
    prior, the inverse CDF of the stream's uniforms for any other prior."""
    family, a, b = _flat(p, shape)
    d = len(a)
    if family == GAUSSIAN:
        z = normals(seed, DOMAIN_CANDIDATE, chunk, index, d)
        return np.array([a[j] + b[j] * z[j] for j in range(d)])
    u = uniforms(seed, DOMAIN_CANDIDATE, chunk, index, d)
    return np.array([ppf(family, a[j], b[j], u[j]) for j in range(d)])


def log_ratio(q, p, seed: int, chunk: int, index: int) -> float:
    """log q(x) - log p(x) in nats at candidate ``index``, summed over coordinates."""
    shape = np.broadcast_shapes(q.shape, p.shape)
    x = candidate(p, seed, chunk, index, shape)
    qf, qa, qb = _flat(q, shape)
    pf, pa, pb = _flat(p, shape)
    total = 0.0
    for j, xj in enumerate(x):
        lq = logpdf(qf, qa[j], qb[j], xj)
        if lq == -math.inf:
            return -math.inf  # outside q's support
        total += lq - logpdf(pf, pa[j], pb[j], xj)
    return total


def log_ratio_gaussian_shortcut(q, p, seed: int, chunk: int, index: int) -> float:
    """Gaussian pair: with x = mp + sp z, log q(x)/p(x) = const + sum_j (quad_j z_j + lin_j) z_j,
    ratio = sp/sq, shift = (mp - mq)/sq, quad = (1 - ratio^2)/2, lin = -shift ratio,
    const = sum(log ratio - shift^2/2). Accumulated in coordinate order from const."""
    shape = np.broadcast_shapes(q.shape, p.shape)
    _, mq, sq = _flat(q, shape)
    _, mp, sp = _flat(p, shape)
    d = len(mq)
    ratio = [sp[j] / sq[j] for j in range(d)]
    shift = [(mp[j] - mq[j]) / sq[j] for j in range(d)]
    const = float(np.sum(np.log(ratio) - 0.5 * np.square(shift)))
    z = normals(seed, DOMAIN_CANDIDATE, chunk, index, d)
    total = const
    for j in range(d):
        quad = 0.5 * (1.0 - ratio[j] * ratio[j])
        lin = -shift[j] * ratio[j]
        total += (quad * z[j] + lin) * z[j]
    return total


def score_batch(q, p, seed: int, chunk: int, start: int, count: int) -> np.ndarray:
    """log q/p in nats of candidates start .. start+count-1, one at a time."""
    return np.array([log_ratio(q, p, seed, chunk, start + i) for i in range(count)])


def index_uniforms(seed: int, domain: int, chunk: int, start: int, count: int) -> np.ndarray:
    """Coordinate 0 of the stream at indices start .. start+count-1."""
    return np.array([uniforms(seed, domain, chunk, start + i, 1)[0] for i in range(count)])


# ----------------------------------------------------------------------------------------------
# the Poisson race, sequentially
# ----------------------------------------------------------------------------------------------


def pfr_race(q, p, seed: int, dinf_bits: float, chunk: int = 0, max_candidates: int | None = None):
    """Sequential PFR (Li & El Gamal, 2018): arrival times T_i = E_1 + ... + E_i from the
    ``DOMAIN_ARRIVAL`` stream, winner argmin_i T_i / r(X_i). Since r <= r_max = 2^D_inf, stop at
    the first i with T_i / r_max >= the best T_j / r(X_j) so far. Works in logs.

    Returns (index, num_scored): 0-based winner and the number of candidates before the stop.
    """
    log_rmax = dinf_bits * math.log(2.0)
    arrival, best, best_index, i = 0.0, math.inf, -1, 0
    while max_candidates is None or i < max_candidates:
        arrival += -math.log(uniforms(seed, DOMAIN_ARRIVAL, chunk, i, 1)[0])
        log_arrival = math.log(arrival)
        if log_arrival - log_rmax >= best:
            return best_index, i
        score = log_arrival - log_ratio(q, p, seed, chunk, i)
        if score < best:
            best, best_index = score, i
        i += 1
    return best_index, i
