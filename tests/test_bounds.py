"""rcc.bounds: the channel-simulation divergence D_CS of Gaussian pairs."""

import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rcc
from rcc import Gaussian, Uniform, dcs_bits, dcs_bits_equal_variance, kl_bits
from rcc.bounds import _dcs_nats_fft, _quadratic, _standard_form

ROOT = Path(__file__).resolve().parent.parent


def _fft_bits(q, p):
    A, B, C, (mq, sq), _ = _quadratic(q, p)
    return _dcs_nats_fft(_standard_form(A, B, C, mq, sq)) / math.log(2.0)


def _mc_bits(q, p, n, seed):
    """Brute force: D_CS = E[-log2 w_P(H)], H = r(X) V, X ~ q, V ~ U(0, 1). w_P(h) is estimated
    from an independent sample of p where it is >= 0.01 and, in its tail, by importance sampling
    from q (w_P(h) = E_q[1{r >= h} / r]). Returns (mean, standard error)."""
    rng = np.random.default_rng(seed)
    shape = np.broadcast_shapes(q.shape, p.shape)

    def log_r(x):
        return np.sum((q.logpdf(x) - p.logpdf(x)).reshape(x.shape[0], -1), axis=-1)

    def draw(d, m):
        return d.a + d.b * rng.standard_normal((m,) + shape)

    log_h = log_r(draw(q, n)) + np.log(rng.random(n))
    lp = np.sort(log_r(draw(p, 4 * n)))
    sf_p = (lp.size - np.searchsorted(lp, log_h, side="left")) / lp.size
    lq = np.sort(log_r(draw(q, 4 * n)))
    tail = np.concatenate((np.cumsum(np.exp(-lq[::-1]))[::-1], [0.0])) / lq.size
    sf_q = tail[np.searchsorted(lq, log_h, side="left")]
    sf = np.where(sf_p >= 0.01, sf_p, sf_q)
    vals = -np.log2(sf)
    return float(vals.mean()), float(vals.std() / math.sqrt(n))


def test_issue_numbers_equal_variance():
    got = dcs_bits_equal_variance([10.0, 11.0, 12.0, 16.0, 20.0]) - [10.0, 11.0, 12.0, 16.0, 20.0]
    np.testing.assert_allclose(got, [2.551, 2.615, 2.675, 2.872, 3.027], atol=1e-3)


def test_equal_variance_against_adaptive_quadrature():
    from scipy import integrate, special as sc
    for kl in (0.01, 1.0, 10.0, 40.0):
        k = kl * math.log(2.0)
        s = math.sqrt(2.0 * k)
        f = lambda u: -math.exp(u) * sc.ndtr((-k - u) / s) * sc.log_ndtr((-k - u) / s)
        ref, _ = integrate.quad(f, -60.0, k + 40.0 * s, limit=500, points=[-k, 0.0, k],
                                epsabs=1e-13, epsrel=1e-12)
        assert dcs_bits_equal_variance(kl) == pytest.approx(ref / math.log(2.0), rel=1e-9)


def test_equal_variance_shapes_and_zero():
    assert dcs_bits_equal_variance(0.0) == 0.0
    assert isinstance(dcs_bits_equal_variance(1.0), float)
    out = dcs_bits_equal_variance(np.full((2, 3), 5.0))
    assert out.shape == (2, 3) and np.all(out == out[0, 0])
    # -> 0 as KL -> 0 (like sqrt(KL))
    assert dcs_bits_equal_variance(1e-8) < 1e-3


def test_q_equals_p_is_zero():
    for q in (Gaussian(0.3, 2.0), Gaussian([0.0, 1.0, -2.0], [1.0, 0.5, 3.0])):
        assert dcs_bits(q, q) == 0.0
    # near q == p with unequal variances (the FFT path, d = 2; the exact path, d = 1)
    assert dcs_bits(Gaussian([0.0, 0.0], [1.0, 1.001]), Gaussian(0.0, 1.0)) < 5e-3
    assert dcs_bits(Gaussian(0.0, 1.001), Gaussian(0.0, 1.0)) < 5e-3


@settings(max_examples=25, deadline=None)
@given(
    mq=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=3),
    sq=st.floats(0.2, 3.0),
    mp=st.floats(-1.0, 1.0),
    sp=st.floats(0.5, 2.0),
)
def test_dcs_at_least_kl(mq, sq, mp, sp):
    q, p = Gaussian(mq, sq), Gaussian(mp, sp)
    assert dcs_bits(q, p) >= kl_bits(q, p) - 1e-6


@pytest.mark.parametrize("shift", [[1.0, -0.5], [3.0, 2.0, 1.0], [0.2]])
def test_equal_variance_formula_matches_general_routine(shift):
    q = Gaussian(shift, [1.0, 0.5, 2.0][:len(shift)])
    p = Gaussian(0.0, [1.0, 0.5, 2.0][:len(shift)])
    assert _fft_bits(q, p) == pytest.approx(dcs_bits(q, p), abs=1e-5)
    assert dcs_bits(q, p) == pytest.approx(dcs_bits_equal_variance(kl_bits(q, p)), abs=1e-12)


@pytest.mark.parametrize("q", [Gaussian(0.0, 0.5), Gaussian(1.0, 0.3), Gaussian(1.0, 2.0),
                               Gaussian(3.0, 0.2)])
def test_one_dimension_exact_vs_fft_vs_monte_carlo(q):
    p = Gaussian(0.0, 1.0)
    exact = dcs_bits(q, p)
    assert _fft_bits(q, p) == pytest.approx(exact, abs=2e-4)
    mean, se = _mc_bits(q, p, 100_000, seed=1)
    assert abs(mean - exact) < 5 * se + 5e-3


@pytest.mark.parametrize("q,p", [
    (Gaussian([0.5, -1.0], [0.4, 1.5]), Gaussian(0.0, 1.0)),
    (Gaussian([2.0, 0.0], [0.3, 0.6]), Gaussian([0.0, 0.5], [1.0, 2.0])),
])
def test_two_dimensions_against_monte_carlo(q, p):
    value = dcs_bits(q, p)
    mean, se = _mc_bits(q, p, 100_000, seed=2)
    assert abs(mean - value) < 5 * se + 5e-3
    assert value >= kl_bits(q, p)


def test_bad_input():
    with pytest.raises(ValueError):
        dcs_bits(Uniform(0.0, 1.0), Gaussian(0.0, 1.0))
    with pytest.raises(ValueError):
        dcs_bits(Gaussian([0.0, 1.0], 1.0), Gaussian([0.0, 1.0, 2.0], 1.0))
    with pytest.raises(TypeError):
        dcs_bits(0.0, Gaussian(0.0, 1.0))
    for bad in (-1.0, float("nan"), float("inf"), "3", [1.0, -0.1], 1 + 2j):
        with pytest.raises(ValueError):
            dcs_bits_equal_variance(bad)


def test_public():
    assert {"dcs_bits", "dcs_bits_equal_variance"} <= set(rcc.__all__)


def test_table_script_runs(capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        mod = runpy.run_path(str(ROOT / "examples" / "dcs_table.py"), run_name="dcs_table")
    finally:
        sys.path.pop(0)
    rows = mod["main"](["10"])
    kl, dcs_excess, pfr_excess, zipf_excess = rows[0]
    assert dcs_excess == pytest.approx(2.551, abs=1e-3)
    assert pfr_excess == pytest.approx(3.221, abs=2e-3)
    assert zipf_excess == pytest.approx(3.755, abs=2e-3)
    assert "D_CS-KL" in capsys.readouterr().out


def test_chunked_dcs_bits_sums_the_chunks_and_samples_honestly():
    """chunked_dcs_bits: exact = sum of dcs_bits over the contiguous chunks (se 0); a sampled
    estimate lies within 4 of its standard errors of it; sample >= C is exact; bad sizes are a
    ValueError."""
    import rcc

    rng = np.random.default_rng(5)
    d = 24
    q = rcc.Gaussian(rng.normal(size=d), rng.uniform(0.4, 0.9, size=d))
    p = rcc.Gaussian(np.zeros(d), np.ones(d))
    sizes = [3, 5, 4, 6, 2, 4]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    want = sum(rcc.dcs_bits(rcc.Gaussian(q.a[a:a + s], q.b[a:a + s]), rcc.Gaussian(p.a[a:a + s], p.b[a:a + s]))
               for a, s in zip(starts, sizes))
    got, se = rcc.chunked_dcs_bits(q, p, sizes)
    assert se == 0.0 and got == pytest.approx(want, rel=1e-9)
    assert rcc.chunked_dcs_bits(q, p, sizes, sample=10)[0] == pytest.approx(want, rel=1e-9)
    est, se = rcc.chunked_dcs_bits(q, p, sizes, sample=3, rng=np.random.default_rng(1))
    assert se > 0 and abs(est - want) <= 4 * se
    assert rcc.kl_bits(q, p) < got
    with pytest.raises(ValueError, match="sum to 24"):
        rcc.chunked_dcs_bits(q, p, [3, 5])
