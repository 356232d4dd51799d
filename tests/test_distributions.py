"""Tests for rcc.distributions and rcc._densities.

References: scipy.stats for densities and moments, scipy.integrate.quad for KL, dense grids for
D_inf, scipy.special.ndtri for the numba inverse normal CDF.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from rcc import _densities as dens
from rcc.distributions import (
    GAUSSIAN,
    LAPLACE,
    LOGISTIC,
    UNIFORM,
    Distribution,
    Gaussian,
    Laplace,
    Logistic,
    Uniform,
    dinf_bits,
    kl_bits,
)

LN2 = math.log(2.0)
HYPO = settings(max_examples=50, deadline=None, derandomize=True)

A = np.array([-1.5, 0.0, 2.3])
B = np.array([0.5, 1.0, 3.0])


def _pair(family):
    """(our distribution, the scipy.stats frozen reference) with parameters A, B (shape (3,))."""
    if family == "gaussian":
        return Gaussian(A, B), stats.norm(A, B)
    if family == "uniform":
        return Uniform(A, A + B), stats.uniform(A, B)
    if family == "logistic":
        return Logistic(A, B), stats.logistic(A, B)
    return Laplace(A, B), stats.laplace(A, B)


FAMILIES = ["gaussian", "uniform", "logistic", "laplace"]
X = np.linspace(-20.0, 20.0, 161)[:, None]  # broadcasts against shape (3,) -> (161, 3)
U = np.concatenate([[1e-300, 1e-100, 1e-20, 1e-8], np.linspace(0.001, 0.999, 101),
                    [1 - 1e-8, 1 - 1e-14]])[:, None]


# ---------------------------------------------------------------------------------------------
# densities and moments vs scipy.stats


@pytest.mark.parametrize("family", FAMILIES)
def test_logpdf_cdf_sf_vs_scipy(family):
    d, ref = _pair(family)
    with np.errstate(divide="ignore"):
        ref_logpdf = ref.logpdf(X)
    np.testing.assert_allclose(d.logpdf(X), ref_logpdf, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(d.cdf(X), ref.cdf(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(d.sf(X), ref.sf(X), rtol=1e-12, atol=1e-300)
    assert d.logpdf(X).shape == (161, 3)


@pytest.mark.parametrize("family", ["gaussian", "logistic", "laplace"])
def test_sf_accurate_in_upper_tail(family):
    d, ref = _pair(family)
    x = d.a + 30.0 * d.b  # cdf rounds to 1 here; sf must not
    sf = d.sf(x)
    assert np.all(sf > 0) and np.all(sf < 1e-12)
    np.testing.assert_allclose(sf, ref.sf(x), rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_ppf_vs_scipy_and_round_trip(family):
    d, ref = _pair(family)
    x = d.ppf(U)
    np.testing.assert_allclose(x, ref.ppf(U), rtol=1e-12, atol=1e-12)
    mid = (U > 1e-6) & (U < 1 - 1e-6)
    u_back = d.cdf(x)
    np.testing.assert_allclose(u_back[np.broadcast_to(mid, x.shape)],
                               np.broadcast_to(U, x.shape)[np.broadcast_to(mid, x.shape)],
                               rtol=1e-12)
    if family == "uniform":
        return  # low + width * 1e-300 rounds to low
    # lower tail: cdf(ppf(u)) == u in relative terms
    lo = U[:4]
    np.testing.assert_allclose(d.cdf(d.ppf(lo)), np.broadcast_to(lo, (4, 3)), rtol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_ppf_ends_and_outside(family):
    d, _ = _pair(family)
    lo, hi = (d.a, d.b) if family == "uniform" else (-np.inf, np.inf)
    np.testing.assert_array_equal(d.ppf(0.0), np.broadcast_to(lo, (3,)))
    np.testing.assert_array_equal(d.ppf(1.0), np.broadcast_to(hi, (3,)))
    assert np.isnan(d.ppf(-0.1)).all()
    assert np.isnan(d.ppf(1.1)).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_moments_and_entropy_vs_scipy(family):
    d, ref = _pair(family)
    np.testing.assert_allclose(d.mean(), ref.mean(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(d.var(), ref.var(), rtol=1e-14)
    np.testing.assert_allclose(d.entropy_bits(), ref.entropy() / LN2, rtol=1e-13, atol=1e-14)
    assert d.mean().shape == d.var().shape == d.entropy_bits().shape == (3,)


# ---------------------------------------------------------------------------------------------
# structure


def test_parameters_are_broadcast_readonly_float64():
    g = Gaussian([[0.0], [1.0]], [1, 2, 3])
    assert g.shape == (2, 3) and g.size == 6 and g.ndim == 2
    for arr in (g.a, g.b):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and not arr.flags.writeable
        assert arr.shape == (2, 3)
    with pytest.raises(ValueError):
        g.a[0, 0] = 5.0
    assert g.loc is g.a and g.scale is g.b
    u = Uniform(0, 1)
    assert u.shape == () and u.size == 1 and u.low is u.a and u.high is u.b
    np.testing.assert_array_equal(u.width, 1.0)


def test_inputs_are_copied():
    loc = np.zeros(3)
    g = Gaussian(loc, 1.0)
    loc[0] = 7.0
    assert g.a[0] == 0.0


def test_family_codes():
    assert (GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE) == (0, 1, 2, 3)
    assert Gaussian.family == GAUSSIAN and Uniform.family == UNIFORM
    assert Logistic.family == LOGISTIC and Laplace.family == LAPLACE
    for cls in (Gaussian, Uniform, Logistic, Laplace):
        assert issubclass(cls, Distribution)


@pytest.mark.parametrize("cls", [Gaussian, Uniform, Logistic, Laplace])
def test_reshape_ravel_take_broadcast(cls):
    a = np.arange(6.0).reshape(2, 3)
    d = cls(a, a + 0.5)
    r = d.ravel()
    assert type(r) is cls and r.shape == (6,)
    np.testing.assert_array_equal(r.a, a.ravel())
    assert d.reshape((3, 2)).shape == (3, 2)
    t = d.take([5, 0, 2])
    assert type(t) is cls and t.shape == (3,)
    np.testing.assert_array_equal(t.a, [5.0, 0.0, 2.0])
    np.testing.assert_array_equal(t.b, [5.5, 0.5, 2.5])
    assert not t.a.flags.writeable
    assert d.take(np.array([[1, 2]])).shape == (1, 2)
    bc = cls(0.0, 1.0).broadcast_to((4, 2))
    assert bc.shape == (4, 2) and bc.a.flags.c_contiguous and not bc.b.flags.writeable
    with pytest.raises(ValueError, match="indices"):
        d.take([])
    with pytest.raises(ValueError, match="indices"):
        d.take([6])
    with pytest.raises(ValueError, match="indices"):
        d.take([0.5])
    with pytest.raises(ValueError, match="broadcast"):
        d.broadcast_to((4,))


def test_repr():
    assert repr(Gaussian(0.0, 1.0)) == "Gaussian(loc=0.0, scale=1.0)"
    r = repr(Uniform(np.zeros(100), 1.0))
    assert r.startswith("Uniform(low=[") and "high=" in r and "..." in r


# ---------------------------------------------------------------------------------------------
# kl_bits against quadrature


def _kl_quad_nats(q, p):
    """KL[q||p] in nats for scalar q, p by quadrature of q log(q/p)."""
    if isinstance(q, Uniform):
        lo, hi = float(q.a), float(q.b)
        pts = [float(p.a)] if lo < float(p.a) < hi else None
    else:
        lo, hi = float(q.a) - 40 * float(q.b), float(q.a) + 40 * float(q.b)
        pts = sorted({float(q.a), float(p.a)})
        pts = [t for t in pts if lo < t < hi]

    def f(x):
        lq = float(q.logpdf(x))
        return math.exp(lq) * (lq - float(p.logpdf(x)))

    val, _ = integrate.quad(f, lo, hi, points=pts, epsabs=1e-14, epsrel=1e-12, limit=400)
    return val


KL_CASES = [
    (Gaussian(0.3, 0.7), Gaussian(-0.2, 1.3)),
    (Gaussian(1.0, 2.0), Gaussian(0.0, 0.5)),
    (Laplace(0.3, 0.7), Laplace(-0.2, 1.3)),
    (Laplace(-1.0, 2.0), Laplace(0.5, 0.4)),
    (Uniform(-0.5, 0.25), Uniform(-1.0, 2.0)),
    (Uniform(-0.5, 0.25), Gaussian(0.4, 0.8)),
    (Uniform(1.0, 4.0), Gaussian(0.0, 1.0)),
    (Uniform(-0.5, 0.25), Laplace(0.1, 0.8)),
    (Uniform(1.0, 4.0), Laplace(0.0, 1.0)),
    (Uniform(-0.5, 0.25), Logistic(0.1, 0.3)),
    (Uniform(-3.0, 8.0), Logistic(0.7, 0.2)),
    (Uniform(2.0, 2.001), Logistic(0.0, 1.0)),
]


@pytest.mark.parametrize("q, p", KL_CASES, ids=lambda d: repr(d))
def test_kl_vs_quad(q, p):
    got = kl_bits(q, p)
    assert isinstance(got, float)
    ref = _kl_quad_nats(q, p) / LN2
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_kl_known_values():
    # KL[N(0,1) || N(0,2)] = log 2 + 1/8 - 1/2 nats
    assert kl_bits(Gaussian(0, 1), Gaussian(0, 2)) == pytest.approx(
        (math.log(2) - 0.375) / LN2, rel=1e-15)
    # KL[U(0,1) || U(0,4)] = 2 bits
    assert kl_bits(Uniform(0, 1), Uniform(0, 4)) == 2.0
    # Uniform not inside Uniform, or unbounded q against a box: infinite
    assert kl_bits(Uniform(0, 1), Uniform(0.5, 4)) == math.inf
    assert kl_bits(Gaussian(0, 1), Uniform(-10, 10)) == math.inf


# ---------------------------------------------------------------------------------------------
# dinf_bits against dense-grid maximisation


def _dinf_grid_nats(q, p):
    if isinstance(q, Uniform):
        x = np.linspace(float(q.a), float(q.b), 200_001)
    else:
        c = float(q.a)
        x = np.concatenate([np.linspace(c - 30, c + 30, 600_001), [c, float(p.a)]])
    return float(np.max(q.logpdf(x) - p.logpdf(x)))


DINF_CASES = [
    (Gaussian(0.3, 0.7), Gaussian(-0.2, 1.3)),
    (Gaussian(0.0, 0.2), Gaussian(1.5, 1.0)),
    (Laplace(0.3, 0.7), Laplace(-0.2, 1.3)),
    (Laplace(0.3, 1.0), Laplace(-0.2, 1.0)),
    (Uniform(-0.5, 0.25), Uniform(-1.0, 2.0)),
    (Uniform(-0.5, 0.25), Gaussian(0.4, 0.8)),
    (Uniform(1.0, 4.0), Gaussian(0.0, 1.0)),
    (Uniform(-0.5, 0.25), Laplace(0.1, 0.8)),
    (Uniform(-0.5, 0.25), Logistic(0.1, 0.3)),
    (Uniform(-3.0, 8.0), Logistic(0.7, 0.2)),
]


@pytest.mark.parametrize("q, p", DINF_CASES, ids=lambda d: repr(d))
def test_dinf_vs_grid(q, p):
    got = dinf_bits(q, p)
    grid = _dinf_grid_nats(q, p) / LN2
    # the grid max is a lower bound, within the grid's resolution
    assert grid <= got + 1e-12
    assert got == pytest.approx(grid, abs=1e-6)


def test_dinf_known_values():
    assert dinf_bits(Gaussian(0, 1), Gaussian(0, 2)) == pytest.approx(1.0, rel=1e-15)
    assert dinf_bits(Gaussian(0.5, 1), Gaussian(0.5, 1)) == 0.0
    assert dinf_bits(Laplace(0.5, 2.0), Laplace(-0.5, 2.0)) == pytest.approx(0.5 / LN2)
    assert dinf_bits(Uniform(0, 1), Uniform(-1, 3)) == 2.0


@pytest.mark.parametrize("q, p", [
    (Gaussian(0.0, 2.0), Gaussian(0.0, 1.0)),      # wider q
    (Gaussian(0.1, 1.0), Gaussian(0.0, 1.0)),      # same scale, shifted
    (Laplace(0.0, 2.0), Laplace(0.0, 1.0)),        # wider q
    (Uniform(0.0, 1.0), Uniform(0.5, 2.0)),        # not contained
    (Gaussian(0.0, 1.0), Uniform(-5.0, 5.0)),      # unbounded q, bounded p
    (Laplace(0.0, 1.0), Uniform(-5.0, 5.0)),
    (Logistic(0.0, 1.0), Uniform(-5.0, 5.0)),
])
def test_dinf_infinite(q, p):
    assert dinf_bits(q, p) == math.inf
    assert dinf_bits(q, p, elementwise=True).item() == math.inf


def test_dinf_elementwise_mixed_finite_infinite():
    q = Gaussian(0.0, [0.5, 1.0, 1.0, 2.0])
    p = Gaussian([0.0, 0.0, 1.0, 0.0], 1.0)
    got = dinf_bits(q, p, elementwise=True)
    np.testing.assert_array_equal(got, [1.0, 0.0, np.inf, np.inf])
    assert dinf_bits(q, p) == math.inf


@pytest.mark.parametrize("fn", [kl_bits, dinf_bits])
@pytest.mark.parametrize("q, p", [
    (Logistic(0, 1), Logistic(0, 2)),
    (Gaussian(0, 1), Laplace(0, 1)),
    (Laplace(0, 1), Gaussian(0, 1)),
    (Logistic(0, 1), Gaussian(0, 1)),
])
def test_unsupported_pairs(fn, q, p):
    with pytest.raises(NotImplementedError, match=f"{type(q).__name__}.*{type(p).__name__}"):
        fn(q, p)


# ---------------------------------------------------------------------------------------------
# shapes and broadcasting


@pytest.mark.parametrize("fn", [kl_bits, dinf_bits])
def test_elementwise_broadcasting(fn):
    q = Gaussian(np.linspace(-1, 1, 3)[:, None], 0.5)      # (3, 1)
    p = Gaussian(0.0, np.linspace(1, 2, 4))                # (4,)
    e = fn(q, p, elementwise=True)
    assert e.shape == (3, 4) and e.dtype == np.float64
    assert fn(q, p) == pytest.approx(float(e.sum()), rel=1e-14)
    # each element equals the scalar computation
    assert e[2, 1] == pytest.approx(fn(Gaussian(1.0, 0.5), Gaussian(0.0, float(p.b[1]))), rel=1e-14)
    # a scalar prior broadcast against a vector target
    assert fn(Uniform(0, [1.0, 2.0]), Gaussian(0, 1), elementwise=True).shape == (2,)


@pytest.mark.parametrize("fn", [kl_bits, dinf_bits])
def test_shape_mismatch(fn):
    with pytest.raises(ValueError, match=r"q of shape \(3,\) and p of shape \(4,\)"):
        fn(Gaussian(np.zeros(3), 1.0), Gaussian(np.zeros(4), 1.0))
    with pytest.raises(TypeError, match="p must be"):
        fn(Gaussian(0, 1), 0.0)


def test_uniform_logistic_large_input_is_chunked():
    n = 40_000  # more than one quadrature block
    rng = np.random.default_rng(0)
    low = rng.normal(size=n)
    q = Uniform(low, low + rng.uniform(0.01, 3.0, size=n))
    p = Logistic(0.0, 1.0)
    e = kl_bits(q, p, elementwise=True)
    assert e.shape == (n,) and np.all(np.isfinite(e)) and np.all(e > 0)
    assert e[12345] == kl_bits(q.take([12345]), p)


# ---------------------------------------------------------------------------------------------
# property tests

_loc = st.floats(-10.0, 10.0)
_scale = st.floats(-4.0, 4.0).map(lambda t: math.exp(t))  # log-uniform-ish in [0.018, 55]


@st.composite
def _dist(draw, family):
    a = draw(_loc)
    b = draw(_scale)
    return {"gaussian": Gaussian, "logistic": Logistic, "laplace": Laplace,
            "uniform": lambda lo, w: Uniform(lo, lo + w)}[family](a, b)


_SUPPORTED = [("gaussian", "gaussian"), ("laplace", "laplace"), ("uniform", "uniform"),
              ("uniform", "gaussian"), ("uniform", "laplace"), ("uniform", "logistic")]


@st.composite
def _qp(draw):
    fq, fp = draw(st.sampled_from(_SUPPORTED))
    return draw(_dist(fq)), draw(_dist(fp))


@HYPO
@given(_qp())
def test_kl_nonnegative_and_below_dinf(qp):
    q, p = qp
    kl = kl_bits(q, p)
    dinf = dinf_bits(q, p)
    assert kl >= 0.0
    if math.isinf(kl):
        assert dinf == math.inf
    else:
        assert dinf >= kl - 1e-9 * (1.0 + kl)


@HYPO
@given(st.sampled_from(["gaussian", "laplace", "uniform"]).flatmap(_dist))
def test_kl_self_is_zero(q):
    assert kl_bits(q, q) == 0.0
    assert dinf_bits(q, q) == 0.0


@HYPO
@given(st.sampled_from(["gaussian", "uniform", "logistic", "laplace"]).flatmap(_dist),
       st.floats(1e-12, 1.0 - 1e-12))
def test_cdf_ppf_round_trip(d, u):
    assert float(d.cdf(d.ppf(u))) == pytest.approx(u, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# bad input


BAD = [
    (Gaussian, (np.nan, 1.0), "loc must be finite"),
    (Gaussian, ([0.0, 1.0], [1.0, np.inf]), r"scale must be finite; got inf at index \(1,\)"),
    (Gaussian, ([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 0.0]),
     r"Gaussian: scale must be > 0 everywhere; got min 0.0 at index \(3,\)"),
    (Logistic, (0.0, -1.0), "Logistic: scale must be > 0"),
    (Laplace, (0.0, [1.0, -2.0]), r"Laplace: scale must be > 0 everywhere; got min -2.0"),
    (Uniform, (1.0, 1.0), "Uniform: high must be > low"),
    (Uniform, ([0.0, 2.0], [1.0, 1.0]), r"high must be > low .* index \(1,\)"),
    (Uniform, (-1e308, 1e308), "high - low must be finite"),
    (Gaussian, ([], 1.0), "non-empty"),
    (Uniform, (np.zeros((0, 3)), 1.0), "non-empty"),
    (Gaussian, ([0.0, 1.0], [1.0, 1.0, 1.0]), r"loc of shape \(2,\) and scale of shape \(3,\)"),
    (Gaussian, (1j, 1.0), "loc must be a real number"),
    (Laplace, (0.0, "1.0"), "scale must be a real number"),
    (Logistic, (True, 1.0), "loc must be a real number"),
    (Uniform, (0.0, None), "high must be a real number"),
    (Uniform, ([0.0, [1.0]], 2.0), "low must be a real number"),
]


@pytest.mark.parametrize("cls, args, msg", BAD, ids=[m for _, _, m in BAD])
def test_bad_parameters(cls, args, msg):
    with pytest.raises(ValueError, match=msg):
        cls(*args)


@HYPO
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.sampled_from([np.nan, np.inf, -np.inf]), st.sampled_from(["loc", "scale"]))
def test_nonfinite_anywhere_is_rejected(n_i, bad, which):
    n, i = n_i
    loc, scale = np.zeros(n), np.ones(n)
    (loc if which == "loc" else scale)[i] = bad
    with pytest.raises(ValueError, match=rf"Gaussian: {which} must be finite; .* index \({i},\)"):
        Gaussian(loc, scale)


# ---------------------------------------------------------------------------------------------
# numba scalar kernels vs the numpy/scipy references

_CLASSES = {GAUSSIAN: Gaussian, UNIFORM: Uniform, LOGISTIC: Logistic, LAPLACE: Laplace}


def _params(family):
    return (A, A + B) if family == UNIFORM else (A, B)


@pytest.mark.parametrize("family", [GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE])
def test_numba_logpdf_vs_reference(family):
    a, b = _params(family)
    d = _CLASSES[family](a, b)
    x = np.broadcast_to(X, (161, 3))
    ref = d.logpdf(x)
    aa, bb = np.broadcast_to(a, x.shape), np.broadcast_to(b, x.shape)
    got = np.array([dens.logpdf(family, ai, bi, xi)
                    for ai, bi, xi in zip(aa.ravel(), bb.ravel(), x.ravel())]).reshape(x.shape)
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-14)
    arr = dens.logpdf_array(family, np.ascontiguousarray(aa.ravel()),
                            np.ascontiguousarray(bb.ravel()), np.ascontiguousarray(x.ravel()))
    np.testing.assert_array_equal(arr, got.ravel())
    assert math.isnan(dens.logpdf(family, 0.0, 1.0, math.nan))


@pytest.mark.parametrize("family", [GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE])
def test_numba_ppf_vs_reference(family):
    a, b = _params(family)
    d = _CLASSES[family](a, b)
    u = np.broadcast_to(U, (U.shape[0], 3))
    ref = d.ppf(u)
    aa, bb = np.broadcast_to(a, u.shape), np.broadcast_to(b, u.shape)
    got = dens.ppf_array(family, np.ascontiguousarray(aa.ravel()),
                         np.ascontiguousarray(bb.ravel()), np.ascontiguousarray(u.ravel()))
    np.testing.assert_allclose(got.reshape(u.shape), ref, rtol=1e-13, atol=1e-13)
    assert dens.ppf(family, 0.0, 1.0, 0.0) == (0.0 if family == UNIFORM else -math.inf)
    assert dens.ppf(family, 0.0, 1.0, 1.0) == (1.0 if family == UNIFORM else math.inf)
    assert math.isnan(dens.ppf(family, 0.0, 1.0, 1.5))


def test_numba_ndtri_vs_scipy():
    u = np.concatenate([
        np.logspace(-300, -1, 1500),
        np.linspace(0.001, 0.999, 2001),
        0.5 + np.logspace(-17, -1, 200), 0.5 - np.logspace(-17, -1, 200),
        1.0 - np.logspace(-16, -1, 1500),
        [0.02425, 1 - 0.02425, 0.25, 0.75, 0.5],
    ])
    n = u.size
    got = dens.ppf_array(GAUSSIAN, np.zeros(n), np.ones(n), u)
    np.testing.assert_allclose(got, special.ndtri(u), rtol=1e-12, atol=0)
    assert dens.ndtri(0.0) == -math.inf and dens.ndtri(1.0) == math.inf
    assert math.isnan(dens.ndtri(-0.5))


def test_numba_matches_pure_python():
    """Same floats with and without the JIT (what NUMBA_DISABLE_JIT=1 would run)."""
    ppf_py = getattr(dens.ppf, "py_func", dens.ppf)
    logpdf_py = getattr(dens.logpdf, "py_func", dens.logpdf)
    rng = np.random.default_rng(1)
    u = np.concatenate([rng.uniform(size=300), 10.0 ** rng.uniform(-300, -1, 100),
                        1.0 - 10.0 ** rng.uniform(-16, -1, 100)])
    xs = rng.normal(scale=5.0, size=200)
    for family in (GAUSSIAN, UNIFORM, LOGISTIC, LAPLACE):
        a, b = (-0.3, 1.7)
        for ui in u:
            assert dens.ppf(family, a, b, ui) == ppf_py(family, a, b, ui)
        for xi in xs:
            assert dens.logpdf(family, a, b, xi) == logpdf_py(family, a, b, xi)


def test_numba_unknown_family_is_nan():
    assert math.isnan(dens.logpdf(7, 0.0, 1.0, 0.0))
    assert math.isnan(dens.ppf(7, 0.0, 1.0, 0.5))
