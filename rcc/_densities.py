"""Scalar log-densities and inverse CDFs for numba kernels (private).

The four families of :mod:`rcc.distributions`, addressed by an integer family code
(``GAUSSIAN=0, UNIFORM=1, LOGISTIC=2, LAPLACE=3``) and two float64 parameters ``a, b``:

=========  =========  =========
family     a          b
=========  =========  =========
GAUSSIAN   loc        scale (standard deviation)
UNIFORM    low        high
LOGISTIC   loc        scale
LAPLACE    loc        scale (b)
=========  =========  =========

Every function here is compiled by :func:`rcc._config.njit` and uses only the
``math`` module, so that it can be called from other njit kernels and gives the same floats
with ``NUMBA_DISABLE_JIT=1``. The public, validated, vectorised counterparts are the methods of
:class:`rcc.distributions.Distribution`; the tests compare the two.

Example (inside or outside an njit function)::

    >>> from rcc._densities import logpdf, ppf, GAUSSIAN
    >>> round(logpdf(GAUSSIAN, 0.0, 1.0, 0.0), 12)      # -log(2 pi) / 2, nats
    -0.918938533205
    >>> ppf(GAUSSIAN, 0.0, 1.0, 0.975)                  # doctest: +ELLIPSIS
    1.959963984540...
"""

from __future__ import annotations

import math

import numpy as np

from ._config import njit

__all__ = [
    "GAUSSIAN",
    "UNIFORM",
    "LOGISTIC",
    "LAPLACE",
    "logpdf",
    "ppf",
    "ndtri",
    "logpdf_array",
    "ppf_array",
]

GAUSSIAN = 0
UNIFORM = 1
LOGISTIC = 2
LAPLACE = 3

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))
_SQRT_HALF = math.sqrt(0.5)

@njit
def _acklam_lower(p):
    """Acklam's rational approximation of the standard normal quantile, for 0 < p <= 0.5.

    Relative error below 1.15e-9; refined by one Halley step in :func:`ndtri`.
    """
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        num = ((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                 - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
               + 4.374664141464968e+00) * q + 2.938163982698783e+00
        den = (((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
                + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0
        return num / den
    q = p - 0.5
    r = q * q
    num = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
              - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
            - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
    den = ((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
             - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
           - 1.328068155288572e+01) * r + 1.0
    return num / den


@njit
def ndtri(p):
    """Standard normal quantile Phi^{-1}(p), float64 scalar in, float64 scalar out.

    Acklam's rational approximation, refined by one Halley step whose residual
    ``Phi(x) - p`` is computed without cancellation: from ``erf`` and the exact ``p - 0.5``
    in the centre, from ``erfc`` and the exact ``1 - p`` in the upper tail. Relative error
    about 1e-15 against :func:`scipy.special.ndtri` for p in [1e-300, 1 - 1e-16].
    Returns -inf at 0, +inf at 1 and nan outside [0, 1].
    """
    if not (p > 0.0 and p < 1.0):
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        return math.nan
    upper = p > 0.5
    pc = 1.0 - p if upper else p  # exact for p >= 0.5 (Sterbenz)
    x = _acklam_lower(pc)  # x <= 0
    if upper:
        x = -x
    if 0.25 <= p <= 0.75:
        # Phi(x) - p = erf(x / sqrt 2) / 2 - (p - 1/2); p - 1/2 is exact here.
        e = 0.5 * math.erf(x * _SQRT_HALF) - (p - 0.5)
        u = e * _SQRT_2PI * math.exp(0.5 * x * x)
    else:
        if upper:
            # Phi(x) - p = (1 - p) - Q(x)
            e = pc - 0.5 * math.erfc(x * _SQRT_HALF)
        else:
            e = 0.5 * math.erfc(-x * _SQRT_HALF) - p
        if e == 0.0:
            return x
        # u = e / phi(x), in logs so that phi(x) may underflow
        mag = math.exp(math.log(abs(e)) + _LOG_SQRT_2PI + 0.5 * x * x)
        u = mag if e > 0.0 else -mag
    return x - u / (1.0 + 0.5 * x * u)


@njit
def logpdf(family, a, b, x):
    """Log-density in nats of one coordinate at x; -inf outside the support.

    family: int code (GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE); a, b: float64 parameters (see the
    module docstring); x: float64. Returns nan for an unknown family code.
    """
    if family == GAUSSIAN:
        z = (x - a) / b
        return -0.5 * z * z - math.log(b) - _HALF_LOG_2PI
    if family == UNIFORM:
        if x >= a and x <= b:
            return -math.log(b - a)
        if x != x:
            return math.nan
        return -math.inf
    if family == LOGISTIC:
        z = abs((x - a) / b)
        return -z - 2.0 * math.log1p(math.exp(-z)) - math.log(b)
    if family == LAPLACE:
        return -abs(x - a) / b - math.log(2.0 * b)
    return math.nan


@njit
def ppf(family, a, b, u):
    """Inverse CDF of one coordinate at u in the open interval (0, 1).

    Closed forms: Gaussian ``a + b * ndtri(u)``; Uniform ``a + (b - a) * u``;
    Logistic ``a + b * (log u - log1p(-u))``; Laplace ``a + b log(2u)`` for u <= 1/2 and
    ``a - b log(2(1 - u))`` above. At u = 0 or 1 returns the support's end (+-inf or low/high);
    nan outside [0, 1] or for an unknown family code.
    """
    if not (u >= 0.0 and u <= 1.0):
        return math.nan
    if family == GAUSSIAN:
        return a + b * ndtri(u)
    if family == UNIFORM:
        return a + (b - a) * u
    if family == LOGISTIC:
        if u == 0.0:
            return -math.inf
        if u == 1.0:
            return math.inf
        return a + b * (math.log(u) - math.log1p(-u))
    if family == LAPLACE:
        if u <= 0.5:
            if u == 0.0:
                return -math.inf
            return a + b * math.log(2.0 * u)
        if u == 1.0:
            return math.inf
        return a - b * math.log(2.0 * (1.0 - u))  # 1 - u is exact for u >= 1/2
    return math.nan


@njit
def logpdf_array(family, a, b, x):
    """Elementwise :func:`logpdf` over 1-d float64 arrays a, b, x of equal length (nats)."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = logpdf(family, a[i], b[i], x[i])
    return out


@njit
def ppf_array(family, a, b, u):
    """Elementwise :func:`ppf` over 1-d float64 arrays a, b, u of equal length."""
    n = u.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = ppf(family, a[i], b[i], u[i])
    return out
