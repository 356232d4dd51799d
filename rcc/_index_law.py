"""The law of the index of a Poisson race on an equal-variance Gaussian chunk (private).

PFR (Li & El Gamal, 2018) sends K = argmin_i T_i / r(X_i), T_i the arrivals of a unit-rate Poisson
process, X_i ~ p, r = dq/dp. The points (T_i, X_i) form a Poisson process of intensity dt p(dx);
the least score W = T_K / r(X_K) is Exp(1), independent of X_K ~ q, and the earlier arrivals
that lose to it, those with T < W a and r(X) < T / W (a = r(X_K)), are Poisson of mean W mu(a),

    mu(a) = int_0^a F_P(u) du = a F_P(a) - F_Q(a),      F_P, F_Q: CDFs of r under p and q.

So K - 1 given a is geometric with mean mu(a), and P(K = k) = E_{a ~ r(X), X ~ q}[(1 - rho)
rho^(k-1)], rho = mu / (1 + mu). For q = N(m, s^2 I) and p = N(0, s^2 I) (any dimension), log r
is N(kappa, 2 kappa) under q and N(-kappa, 2 kappa) under p, kappa the chunk's KL in nats, so
the law of K depends on the KL alone:

    F_P(a) = Phi((log a + kappa) / sqrt(2 kappa)),  F_Q(a) = Phi((log a - kappa) / sqrt(2 kappa)).

The expectation over a is a trapezoid sum over t = (log a - kappa) / sqrt(2 kappa) on [-10, 10]
(:data:`GRID_POINTS` nodes, Gaussian weights normalised to 1). Masses of index ranges [lo, hi)
are exact under each geometric, rho^(lo-1) - rho^(hi-1), so :func:`range_masses` needs no sum
over k.

A race truncated at N candidates keeps the best of the first N (:func:`pfr_index_pmf` with
``max_candidates=N``). Given the N-th arrival the first N - 1 arrivals are uniform on [0, T_N];
with the winner at relative time u and ratio a, each other early arrival loses to it with
probability mu(x) / x, x = a / u, earlier than it with probability mu(a) / x, the N-th arrival
loses with probability F_P(x), so (x = a / u >= a, q(da) = a p(da))

    P(K_N = k) = (N - 1) int q(da) int_a^inf dx / x^2 (mu(x)/x)^(N-2) F_P(x)
                 Binom(k - 1; N - 2, mu(a) / mu(x))  +  [k = N] E_p[(mu(a)/a)^(N-1)],

evaluated on a grid in (t, log x). It tends to the untruncated law as N grows; the tests compare
both with histograms of the real race. The chunk code (:class:`rcc._chunk_codes.LawCode`) uses
the untruncated law: a budget set by ``headroom_bits`` never reaches the decoder.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.special as sc

__all__ = ["GRID_POINTS", "range_masses", "pfr_index_pmf", "pfr_index_pmf_reference", "index_entropy_bits"]

_LN2 = math.log(2.0)
#: Nodes of the trapezoid over t = (log a - kappa) / sqrt(2 kappa) in [-10, 10].
GRID_POINTS = 801
_T_SPAN = 10.0


@functools.lru_cache(maxsize=256)
def _grid(kl_bits: float, points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(weights (n,), log rho (n,)) of the geometric mixture at the chunk KL ``kl_bits``."""
    kappa = kl_bits * _LN2
    t = np.linspace(-_T_SPAN, _T_SPAN, points)
    w = np.exp(-0.5 * t * t)
    w /= w.sum()
    if kappa <= 0.0:  # q == p: K = 1
        return np.ones(1), np.array([-np.inf])
    s = math.sqrt(2.0 * kappa)
    log_a = kappa + s * t
    mu = np.exp(log_a) * sc.ndtr((log_a + kappa) / s) - sc.ndtr((log_a - kappa) / s)
    mu = np.maximum(mu, 1e-300)
    log_rho = -np.log1p(1.0 / mu)  # log(mu / (1 + mu)), accurate for large mu
    return w, log_rho


def range_masses(kl_bits: float, edges) -> np.ndarray:
    """P(lo_j <= K < hi_j) of exact PFR's index for consecutive ``edges`` (ints >= 1, increasing;
    the last may be ``inf``): float64 of shape (len(edges) - 1,)."""
    w, log_rho = _grid(float(kl_bits))
    e = np.asarray(edges, dtype=np.float64)
    with np.errstate(under="ignore", invalid="ignore"):
        tail = np.exp(np.multiply.outer(e - 1.0, log_rho))  # P(K >= e | a) = rho^(e-1)
    tail[e == np.inf] = 0.0
    tail[e == 1.0] = 1.0
    return np.maximum((tail[:-1] - tail[1:]) @ w, 0.0)


def pfr_index_pmf(kl_bits: float, k_max: int, max_candidates: int | None = None) -> np.ndarray:
    """P(K = k), k = 1 .. k_max, of PFR's index on an equal-variance Gaussian chunk of KL
    ``kl_bits``; exact race (``max_candidates`` None) or the best of the first N candidates.
    float64 (k_max,); sums to 1 when k_max >= N (truncated) or far enough in the tail."""
    if max_candidates is None:
        return range_masses(kl_bits, np.arange(1, k_max + 2))
    out = np.zeros(k_max)
    pmf = _truncated_pmf(float(kl_bits), int(max_candidates))
    n = min(k_max, pmf.size)
    out[:n] = pmf[:n]
    return out


@functools.lru_cache(maxsize=32)
def _truncated_pmf(kl_bits: float, n: int, t_points: int = 241, x_points: int = 1200) -> np.ndarray:
    import scipy.stats as ss  # only here: slow to import, and the chunk code never needs it

    if n < 1:
        raise ValueError(f"max_candidates must be >= 1; got {n}")
    out = np.zeros(n)
    kappa = kl_bits * _LN2
    if kappa <= 0.0 or n == 1:
        out[0] = 1.0
        return out
    s = math.sqrt(2.0 * kappa)

    def F(log_x):
        return sc.ndtr((log_x + kappa) / s)

    def mu(log_x):
        return np.maximum(np.exp(log_x) * sc.ndtr((log_x + kappa) / s) - sc.ndtr((log_x - kappa) / s), 0.0)

    # winner's ratio a under q: log a = kappa + s t
    t = np.linspace(-_T_SPAN, _T_SPAN, t_points)
    wt = np.exp(-0.5 * t * t)
    wt /= wt.sum()
    log_a = kappa + s * t
    mu_a = mu(log_a)
    k = np.arange(n - 1)  # k - 1 = 0 .. N - 2
    for i in range(t_points):
        # x from a to where (mu(x)/x)^(N-2) / x^2 is negligible: log x in [log a, log a + span]
        hi = max(log_a[i], math.log(n) + 40.0) + 5.0
        lx = np.linspace(log_a[i], hi, x_points)
        x = np.exp(lx)
        mx = mu(lx)
        ell = np.clip(mx / x, 0.0, 1.0)
        with np.errstate(divide="ignore"):
            log_f = (n - 2) * np.log(ell) + np.log(F(lx)) - lx  # dx / x^2 = e^-lx d(log x)
        f = np.exp(log_f)
        dl = lx[1] - lx[0]
        f[0] *= 0.5
        f[-1] *= 0.5
        pi = np.clip(mu_a[i] / np.maximum(mx, 1e-300), 0.0, 1.0)
        binom = ss.binom.pmf(k[:, None], n - 2, pi[None, :])  # (N-1, x_points)
        out[:n - 1] += wt[i] * (n - 1) * dl * (binom @ f)
    # the N-th arrival wins: E_p[(mu(a)/a)^(N-1)], a under p: log a = -kappa + s t
    log_ap = -kappa + s * t
    ell_p = np.clip(mu(log_ap) / np.exp(log_ap), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        out[n - 1] += float(wt @ np.exp((n - 1) * np.log(ell_p)))
    return out


def pfr_index_pmf_reference(kl_bits: float, k_max: int, points: int = 4001) -> list[float]:
    """Plain reference of the untruncated law (pure Python, one k and one node at a time):
    P(K = k) = sum_j w_j (1 - rho_j) rho_j^(k - 1)."""
    kappa = kl_bits * _LN2
    if kappa <= 0.0:
        return [1.0] + [0.0] * (k_max - 1)
    s = math.sqrt(2.0 * kappa)
    nodes = [-_T_SPAN + 2 * _T_SPAN * j / (points - 1) for j in range(points)]
    ws = [math.exp(-0.5 * t * t) for t in nodes]
    total = sum(ws)
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0))  # noqa: E731
    out = []
    rhos = []
    for t in nodes:
        la = kappa + s * t
        m = math.exp(la) * phi((la + kappa) / s) - phi((la - kappa) / s)
        rhos.append(m / (1.0 + m))
    for k in range(1, k_max + 1):
        out.append(sum(w * (1.0 - r) * r ** (k - 1) for w, r in zip(ws, rhos)) / total)
    return out


def index_entropy_bits(kl_bits: float) -> float:
    """H[K] in bits of the untruncated index, from range masses over 1/64-octave bins plus the
    within-bin entropy of a smooth decreasing law (exact below k = 2^12)."""
    k_exact = 4096
    p = range_masses(kl_bits, np.arange(1, k_exact + 1))
    h = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    edges = np.unique(np.floor(k_exact * 2.0 ** (np.arange(0, 64 * 70) / 64.0))).astype(np.float64)
    edges = np.append(edges, np.inf)
    m = range_masses(kl_bits, edges)
    width = np.diff(edges[:-1])
    width = np.append(width, 1.0)
    ok = m > 0
    h += float(-(m[ok] * (np.log2(m[ok]) - np.log2(width[ok]))).sum())
    return h
