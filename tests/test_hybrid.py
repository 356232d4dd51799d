"""Hybrid coding (rcc.Hybrid): dithered quantization in CDF space + a PFR/ORC race in one bin.

Everything runs at fixed seeds, so the statistical thresholds (KS p > 1e-3, ratio bands) cannot
flake; the bands are stated next to the figures they were measured at (300 seeds each).
"""

from __future__ import annotations

import doctest
import functools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import rcc
from rcc import _hybrid_kernels as hk
from rcc import hybrid as hy
from rcc import random as rr
from rcc.coding import truncated_binary_bits
from rcc.container import Payload, pack

P = rcc.Gaussian(0.0, 1.0)
Q_WIDE = rcc.Gaussian(2.0, 0.3)  # KL 3.97 bits, D_inf 4.91 bits
Q_NARROW = rcc.Gaussian(3.0, 0.2)  # KL 8.12 bits, D_inf 9.08 bits

# (q, p) pairs with a finite D_inf, one per supported family combination
PAIRS = [
    (Q_WIDE, P),
    (rcc.Gaussian(-1.0, 0.5), rcc.Gaussian(0.5, 2.0)),
    (rcc.Laplace(1.0, 0.4), rcc.Laplace(0.0, 1.0)),
    (rcc.Uniform(0.2, 1.1), rcc.Logistic(0.0, 1.0)),
    (rcc.Uniform(-3.0, -2.5), rcc.Gaussian(0.0, 1.0)),
    (rcc.Gaussian([0.5, -1.0], [0.6, 0.4]), rcc.Gaussian(0.0, 1.0)),
]


def _encode_many(ch, q, p, seeds):
    return [ch.encode(q, p, seed=s) for s in seeds]


@functools.lru_cache(maxsize=None)
def _stats(q_name: str, m: int | None) -> tuple[float, float, frozenset]:
    """(mean candidates, mean bits, set of integer_bits) over seeds 0..299 on p = N(0, 1);
    ``m=None`` is rcc.PFR(). Cached: the PFR baselines serve several tests."""
    q = {"wide": Q_WIDE, "narrow": Q_NARROW}[q_name]
    ch = rcc.PFR() if m is None else rcc.Hybrid(num_bins=m)
    msgs = _encode_many(ch, q, P, range(300))
    return (float(np.mean([x.info["num_scored"] for x in msgs])), float(np.mean([x.num_bits for x in msgs])),
            frozenset(x.info.get("integer_bits", 0) for x in msgs))


# ----------------------------------------------------------------------------------------------
# kernels against a plain-numpy / scipy reference
# ----------------------------------------------------------------------------------------------

_SCIPY = {
    rcc.distributions.GAUSSIAN: lambda a, b: scipy.stats.norm(a, b),
    rcc.distributions.LOGISTIC: lambda a, b: scipy.stats.logistic(a, b),
    rcc.distributions.LAPLACE: lambda a, b: scipy.stats.laplace(a, b),
    rcc.distributions.UNIFORM: lambda a, b: scipy.stats.uniform(a, b - a),
}


def naive_candidates(seed, indices, kbins, dither, m, p):
    """Candidates in x, shape (len(indices), d): u = ((k + delta + v) / M) mod 1, x = F_p^-1(u)."""
    d = len(kbins)
    v = rr.uniforms(seed, rr.DOMAIN_CANDIDATE, 0, np.asarray(indices, dtype=np.uint64), d)
    t = (kbins + dither) + v
    t = np.where(t >= m, t - m, t)
    u = np.clip(t / m, 2.0**-60, 1 - 2.0**-53)
    return _SCIPY[int(p.family)](p.a, p.b).ppf(u)


def naive_log_ratio(q, p, x):
    return np.sum(_SCIPY[int(q.family)](q.a, q.b).logpdf(x) - _SCIPY[int(p.family)](p.a, p.b).logpdf(x), axis=-1)


@pytest.mark.parametrize("q, p", [(rcc.Gaussian([2.0, 0.1, -1.0], 0.3), rcc.Gaussian(0.0, 1.0)),
                                  (rcc.Laplace([1.0, 0.0, 2.0], 0.5), rcc.Laplace(0.0, 1.0)),
                                  (rcc.Uniform([0.0, -1.0, 0.5], [1.0, 0.0, 0.9]), rcc.Logistic(0.0, 1.5))])
@pytest.mark.parametrize("m, kbins", [(1, [0, 0, 0]), (5, [4, 0, 2]), (16, [15, 15, 3])])
def test_kernels_match_reference(q, p, m, kbins):
    seed, d = 987654321, 3
    q, p = q.broadcast_to((d,)), p.broadcast_to((d,))
    kbins = np.array(kbins, dtype=np.int64)
    dither = rr.uniforms(seed, rr.DOMAIN_HYBRID, 0, 0, d)
    indices = [0, 1, 63, 2**31 // 3 + 1, 2**32 + 5, 2**40]
    want = naive_candidates(seed, indices, kbins, dither, m, p)
    got = np.array([hk.hybrid_candidate(rr.seed_key(seed), 0, i, kbins, dither, m, p) for i in indices])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    scores = hk.hybrid_score_batch(rr.seed_key(seed), 0, 0, 64, kbins, dither, m, q, p)
    want_scores = naive_log_ratio(q, p, naive_candidates(seed, np.arange(64), kbins, dither, m, p))
    np.testing.assert_allclose(scores, want_scores, rtol=1e-10, atol=1e-10)
    # candidates lie in their bins: ((k + delta + v)/M) mod 1 -- check through F_p
    u = _SCIPY[int(p.family)](p.a, p.b).cdf(got)
    offset = (u * m - dither - kbins) % m
    assert np.all((offset > -1e-9) & (offset < 1 + 1e-9))


def test_parallel_and_serial_kernels_agree():
    q, p = rcc.Gaussian([2.0, -0.3], [0.3, 0.8]), rcc.Gaussian(0.0, 1.0).broadcast_to((2,))
    kbins, dither = np.array([7, 2], np.int64), np.array([0.25, 0.75])
    count = hk.PARALLEL_MIN_BATCH + 3
    outs = []
    for kernel in (hk._score_batch_serial, hk._score_batch_parallel):
        out = np.empty(count)
        kernel(5, 6, 0, np.uint64(2**33), kbins, dither, 8, 0, p.a, p.b, 0, q.a, q.b, out)
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])


def test_window_u_stays_in_open_unit_interval():
    assert 0.0 < hk.window_u(3, 1.0 - 2.0**-53, 1.0 - 2.0**-53, 4) < 1.0  # t == M after rounding
    assert 0.0 < hk.window_u(2, 0.999999999, 0.999999999, 3) < 1.0
    assert hk.window_u(0, 0.5, 0.25, 1) == 0.75


# ----------------------------------------------------------------------------------------------
# bins: masses and the per-bin supremum of q/p that the stopping rule relies on
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q, p", PAIRS[:5])
@pytest.mark.parametrize("m", [1, 3, 16])
def test_bin_masses_and_suprema(q, p, m):
    q, p = q.ravel(), p.ravel()
    dither = np.array([0.3137])
    edges = hy.bin_edges(p, dither, m)
    masses = hy.bin_masses(q, edges)
    assert masses.shape == (m, 1) and abs(masses.sum() - 1.0) < 1e-12
    # the supremum bounds q/p on a fine grid of each bin and is attained up to the grid spacing
    u = (np.arange(1, 200_000) / 200_000.0)
    x = p.ppf(u[:, None])
    lr = q.logpdf(x)[:, 0] - p.logpdf(x)[:, 0]
    kb = np.floor((u * m - dither[0]) % m).astype(int)
    for k in range(m):
        sup = hy.bin_sup_log_ratio(q, p, edges, np.array([k]), True)
        in_bin = lr[kb == k]
        finite = in_bin[np.isfinite(in_bin)]
        if finite.size == 0:
            continue
        assert finite.max() <= sup + 1e-9
        assert sup - finite.max() < 0.05  # tight: the grid gets within 5 % of the bound


def test_sup_is_infinite_without_a_bound():
    # equal-variance Gaussians: q/p grows without bound towards +inf
    g, a = rcc.distributions.GAUSSIAN, (1.0, 1.0)
    assert hy.sup_log_ratio(g, *a, g, 0.0, 1.0, 2.0, math.inf, False) == math.inf
    assert math.isfinite(hy.sup_log_ratio(g, *a, g, 0.0, 1.0, -1.0, 2.0, False))
    lg = rcc.distributions.LOGISTIC
    assert hy.sup_log_ratio(lg, 0.0, 0.5, lg, 0.0, 1.0, -1.0, 1.0, True) == math.inf


# ----------------------------------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**64 - 1),
    pair=st.sampled_from(PAIRS),
    m=st.sampled_from([1, 2, 3, 4, 7, 16, 64]),
    inner=st.sampled_from(["pfr", "orc"]),
)
def test_round_trip_bit_for_bit(seed, pair, m, inner):
    q, p = pair
    ch = rcc.Hybrid(num_bins=m, inner=inner, num_candidates=2**12 if inner == "orc" else None)
    msg = ch.encode(q, p, seed=seed)
    blob = msg.to_bytes()
    x = rcc.Hybrid().decode(blob, p, seed=seed)  # the header, not the instance, drives decoding
    assert x.dtype == np.float64 and x.shape == msg.sample.shape
    assert np.array_equal(x.view(np.uint64), msg.sample.view(np.uint64))
    assert msg.num_bits == msg.info["integer_bits"] + msg.info["index_bits"]
    assert len(msg.payload) == (msg.num_bits + 7) // 8
    d = msg.sample.size
    assert msg.info["integer_bits"] == sum(truncated_binary_bits(k, m) for k in np.atleast_1d(msg.info["integer"]))
    assert msg.info["integer_bits"] in range(d * (m.bit_length() - 1), d * m.bit_length() + 1)
    assert q.logpdf(x).sum() > -np.inf  # the sample lies in q's support
    assert ch.encode(q, p, seed=seed).to_bytes() == blob  # encoding is reproducible


def test_scalar_and_shaped_pairs():
    for q, p in [(rcc.Gaussian(2.0, 0.3), P), (rcc.Gaussian([[2.0]], 0.3), P), (rcc.Gaussian([1.0, 2.0, 0.0], 0.5), P)]:
        msg = rcc.Hybrid(num_bins=4).encode(q, p, seed=3)
        assert msg.sample.shape == np.broadcast_shapes(q.shape, p.shape)
        assert np.array_equal(rcc.Hybrid().decode(msg.to_bytes(), p), msg.sample)
    assert isinstance(rcc.Hybrid(num_bins=4).encode(Q_WIDE, P, seed=3).info["integer"], int)


def test_truncated_and_orc_modes_on_unbounded_ratio():
    q = rcc.Gaussian(1.0, 1.0)  # equal variance: D_inf infinite
    msg = rcc.Hybrid(num_bins=4, max_candidates=2**10).encode(q, P, seed=1)
    assert msg.info["num_scored"] <= 2**10 and "truncated" in msg.info
    assert np.array_equal(rcc.Hybrid().decode(msg.to_bytes(), P, seed=1), msg.sample)
    msg = rcc.Hybrid(num_bins=4, inner="orc", num_candidates=2**10).encode(q, P, seed=2)
    assert msg.info["num_scored"] <= 2**10 and msg.params[0] == 1 and msg.params[3] == 2**10
    assert np.array_equal(rcc.Hybrid().decode(msg.to_bytes(), P, seed=2), msg.sample)


# ----------------------------------------------------------------------------------------------
# exactness, candidates and bits (information theory)
# ----------------------------------------------------------------------------------------------


def test_exact_gaussian_ks_2000_seeds():
    msgs = _encode_many(rcc.Hybrid(num_bins=8), Q_WIDE, P, range(2000))
    x = np.array([m.sample[()] for m in msgs])
    assert scipy.stats.kstest(x, scipy.stats.norm(2.0, 0.3).cdf).pvalue > 1e-3
    assert not any(m.info["truncated"] for m in msgs)
    # the bin law: K ~ Q, so the chosen bin's mass is large on average (q is 3 sigma = 0.05 wide in u)
    assert np.mean([m.info["window_mass"] for m in msgs]) > 0.8


@pytest.mark.parametrize("q, p, m, n", [
    (rcc.Laplace(1.0, 0.4), rcc.Laplace(0.0, 1.0), 4, 1000),
    (rcc.Uniform(0.2, 1.1), rcc.Logistic(0.0, 1.0), 4, 1000),
    (Q_NARROW, P, 32, 1000),
    (rcc.Gaussian(-1.0, 0.5), rcc.Gaussian(0.5, 2.0), 3, 1000),
])
def test_exact_other_pairs_ks(q, p, m, n):
    x = np.array([rcc.Hybrid(num_bins=m).encode(q, p, seed=10_000 + s).sample[()] for s in range(n)])
    ref = _SCIPY[int(q.family)](float(q.a), float(q.b))
    assert scipy.stats.kstest(x, ref.cdf).pvalue > 1e-3


def test_exact_factorised_pair_ks():
    q = rcc.Gaussian([0.5, -1.0], [0.6, 0.4])
    x = np.array([rcc.Hybrid(num_bins=4).encode(q, P, seed=s).sample for s in range(1000)])
    for j, (mu, sd) in enumerate([(0.5, 0.6), (-1.0, 0.4)]):
        assert scipy.stats.kstest(x[:, j], scipy.stats.norm(mu, sd).cdf).pvalue > 1e-3
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.1  # coordinates independent (3 sigma is 0.095)


@pytest.mark.parametrize("q_name, m, band", [
    ("narrow", 4, (3.0, 5.5)),  # measured 3.6 .. 4.3 over three blocks of 300 seeds
    ("narrow", 16, (11.0, 21.0)),  # measured 14.7 .. 16.0
    ("wide", 16, (7.0, 14.0)),  # measured 9.6 .. 11.2: q spans about one bin of 1/16 in u
    ("narrow", 1, (0.8, 1.25)),  # M = 1 is PFR in CDF space
])
def test_candidates_about_m_times_fewer_than_pfr(q_name, m, band):
    assert band[0] <= _stats(q_name, None)[0] / _stats(q_name, m)[0] <= band[1]


@pytest.mark.parametrize("q_name", ["wide", "narrow"])
@pytest.mark.parametrize("m", [4, 16])
def test_bits_close_to_pfr(q_name, m):
    # measured (1000 seeds), hybrid minus PFR mean bits: wide -0.10 (M=4), +0.13 (M=16);
    # narrow -0.76 (M=4), -0.72 (M=16). The extra cost is about H(K), the smaller index code gains.
    _, pfr, _ = _stats(q_name, None)
    _, hyb, integer_bits = _stats(q_name, m)
    assert -1.5 <= hyb - pfr <= 1.0
    kl = rcc.kl_bits({"wide": Q_WIDE, "narrow": Q_NARROW}[q_name], P)
    assert hyb <= kl + math.log2(kl + 1) + 4  # the PFR bound still holds
    assert integer_bits == {int(math.log2(m))}


# ----------------------------------------------------------------------------------------------
# bad input and corrupted blobs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    dict(num_bins=0), dict(num_bins=-3), dict(num_bins=1.5), dict(num_bins=True), dict(num_bins=2**24 + 1),
    dict(num_bins="4"), dict(inner="mrc"), dict(inner="pfr", num_candidates=16),
    dict(inner="orc", max_candidates=16), dict(max_candidates=0), dict(inner="orc", num_candidates=0),
])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        rcc.Hybrid(**kwargs)


@pytest.mark.parametrize("q, p, seed", [
    (rcc.Gaussian(1.0, 1.0), P, 1),  # D_inf infinite: exact PFR impossible
    (rcc.Gaussian(0.0, 2.0), P, 1),  # q wider than p
    (rcc.Logistic(0.0, 0.5), rcc.Logistic(0.0, 1.0), 1),  # no closed-form KL
    (rcc.Gaussian(0.0, 0.5), rcc.Uniform(-1.0, 1.0), 1),  # KL infinite
    (rcc.Gaussian(np.zeros(65), 0.5), P, 1),  # too many coordinates
    (rcc.Gaussian(np.zeros(3), 0.5), rcc.Gaussian(np.zeros(2), 1.0), 1),  # shapes do not broadcast
    ("not a distribution", P, 1),
    (Q_WIDE, P, -1),
    (Q_WIDE, P, 2**64),
    (Q_WIDE, P, 1.0),
    (rcc.Gaussian(0.0, 1e-12), P, 1),  # D_inf about 40 bits: too many candidates
])
def test_bad_encode_input(q, p, seed):
    with pytest.raises(ValueError):
        rcc.Hybrid(num_bins=4).encode(q, p, seed=seed)


def _blob(params, payload_bits, payload, shape=(), seed=5):
    return pack(Payload("hybrid", tuple(params), seed, tuple(shape), payload, payload_bits), prior=P)


def test_corrupted_blobs_raise_decode_error():
    msg = rcc.Hybrid(num_bins=16).encode(Q_NARROW, P, seed=5)
    blob = msg.to_bytes()
    for n in range(len(blob)):  # every truncation
        with pytest.raises(rcc.DecodeError):
            rcc.Hybrid().decode(blob[:n], P)
    for i in range(len(blob)):  # every single-byte corruption
        bad = bytearray(blob)
        bad[i] ^= 0x41
        with pytest.raises(rcc.DecodeError):
            rcc.Hybrid().decode(bytes(bad), P)
    with pytest.raises(rcc.DecodeError):
        rcc.Hybrid().decode(blob, P, seed=6)
    with pytest.raises(rcc.DecodeError):
        rcc.Hybrid().decode(blob, rcc.Gaussian([0.0, 0.0, 0.0], 1.0))
    with pytest.raises(rcc.DecodeError):
        rcc.Hybrid().decode(rcc.PFR().encode(Q_NARROW, P, seed=5).to_bytes(), P)
    with pytest.raises(rcc.DecodeError):
        rcc.PFR().decode(blob, P)
    with pytest.raises(rcc.DecodeError):
        rcc.Hybrid().decode("not bytes", P)


def test_crafted_headers_raise_decode_error():
    w = rcc.coding.BitWriter()
    w.write(3, 2)  # bin 3 of 4
    rcc.coding.write_zipf_index(w, 5, 2)  # 2 + 5 bits: one padding bit
    payload, nbits = w.getvalue()
    ok = _blob((0, 4, 2, 0), nbits, payload)
    assert rcc.Hybrid().decode(ok, P).shape == ()
    for params in [(0, 4, 2), (2, 4, 2, 0), (0, 0, 2, 0), (0, 2**24 + 1, 2, 0), (0, 4, 0, 0), (0, 4, 5000, 0),
                   (1, 4, 2, 0), (0, 4, 2, 4), (1, 4, 2, 3), (0, 4, 2, 0, 0)]:
        with pytest.raises(rcc.DecodeError):
            rcc.Hybrid().decode(_blob(params, nbits, payload), P)
    with pytest.raises(rcc.DecodeError):  # too many coordinates
        rcc.Hybrid().decode(_blob((0, 4, 2, 0), nbits, payload, shape=(65,)), rcc.Gaussian(np.zeros(65), 1.0))
    with pytest.raises(rcc.DecodeError):  # payload ends inside the second coordinate's bin
        rcc.Hybrid().decode(_blob((0, 4, 2, 0), nbits, payload, shape=(2,)), rcc.Gaussian([0.0, 0.0], 1.0))
    assert nbits % 8 == 7
    padded = (int.from_bytes(payload, "big") | 1).to_bytes(len(payload), "big")
    with pytest.raises(rcc.DecodeError):  # non-zero padding
        rcc.Hybrid().decode(_blob((0, 4, 2, 0), nbits, padded), P)
    w.write(0, 1)  # a stray trailing bit
    payload2, nbits2 = w.getvalue()
    with pytest.raises(rcc.DecodeError):
        rcc.Hybrid().decode(_blob((0, 4, 2, 0), nbits2, payload2), P)


# ----------------------------------------------------------------------------------------------
# golden bitstreams: a change here is a format change
# ----------------------------------------------------------------------------------------------

GOLDEN = [
    # (num_bins, inner, q, seed, blob hex, sample as float.hex)
    (4, "pfr", Q_WIDE, 1234, "52434302050400040400d2090005c0deef595a", "0x1.e6cae008828a2p+0"),
    (16, "pfr", Q_NARROW, 7, "5243430205040010060007000df7a883871164", "0x1.9f78505bc4f65p+1"),
    (5, "orc", rcc.Laplace(1.0, 0.4), 2**40 + 3, "52434302050401050280088380808080200004800e271924", "0x1.cc175b43d53f6p-3"),
]


@pytest.mark.parametrize("m, inner, q, seed, blob_hex, sample_hex", GOLDEN)
def test_golden_bitstreams(m, inner, q, seed, blob_hex, sample_hex):
    p = P if q.family == rcc.distributions.GAUSSIAN else rcc.Laplace(0.0, 1.0)
    ch = rcc.Hybrid(num_bins=m, inner=inner, num_candidates=2**10 if inner == "orc" else None)
    msg = ch.encode(q, p, seed=seed)
    assert msg.to_bytes().hex() == blob_hex
    x = rcc.Hybrid().decode(bytes.fromhex(blob_hex), p, seed=seed)
    assert float(x).hex() == sample_hex


def test_docstring_examples():
    failures, _ = doctest.testmod(hy, verbose=False)
    assert failures == 0
