"""Shared randomness (rcc.random) and the candidate / scoring kernels (rcc._kernels).

Every numba kernel is compared with its plain-numpy twin in rcc.random and with the slow reference
in tests/naive.py, bit for bit where the formulas are the same; samplers are checked with KS tests
at fixed seeds (deterministic, so a p-value threshold of 1e-3 cannot flake).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import rcc
from rcc import _kernels
from rcc import random as rr

import naive

# Random123 known-answer vectors for Philox4x32-10: (counter, key, output).
KNOWN_ANSWERS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]

# Addresses (seed, domain, chunk, index) that exercise every word of the counter and key: indices
# past 2**31 / d (the int32 overflow of earlier public code), past 2**32 (the high counter word),
# 2**40 and near 2**64; seeds on both sides of 2**32 and near 2**64 - 1.
ADDRESSES = [
    (0, rr.DOMAIN_CANDIDATE, 0, 0),
    (1234, rr.DOMAIN_CANDIDATE, 0, 7),
    (2**32 - 1, rr.DOMAIN_ARRIVAL, 3, 2**31 // 3 + 1),
    (2**32, rr.DOMAIN_CANDIDATE, rr.MAX_CHUNK, 2**32 + 5),
    (2**64 - 1, rr.DOMAIN_DITHER, 17, 2**40),
    (2**64 - 2, rr.DOMAIN_SELECT, 1, 2**63 + 3),
    (987654321987654321, rr.DOMAIN_HYBRID, 2**20, 2**64 - 1),
]
DIMS = [1, 2, 3, 6, 7]


def _numba_fill(kernel, seed, domain, chunk, index, d):
    out = np.empty(d)
    k0, k1 = rr.seed_key(seed)
    kernel(k0, k1, domain, chunk, np.uint64(index), out)
    return out


# ----------------------------------------------------------------------------------------------
# Philox4x32-10
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_known_answers(counter, key, expected):
    """The numpy block function, the numba kernel and the naive reference all give the Random123
    known answers (Salmon et al. 2011): the generator is Philox4x32-10 and nothing else."""
    assert rr.philox4x32_10(np.array(counter, np.uint32), np.array(key, np.uint32)).tolist() == expected
    assert rr.philox4x32_10(counter, key).dtype == np.uint32
    jit = rr._philox(*[np.uint64(c) for c in counter], *[np.uint64(k) for k in key])
    assert [int(w) for w in jit] == expected
    assert naive.philox4x32_10(counter, key) == expected


def test_philox_vectorised_broadcasts_key():
    """A (n, 4) counter array with one (2,) key gives, row by row, the single-block answers."""
    counters = np.array([c for c, _, _ in KNOWN_ANSWERS], np.uint32)
    key = np.array([0xA4093822, 0x299F31D0], np.uint32)
    out = rr.philox4x32_10(counters, key)
    assert out.shape == (3, 4)
    for row, counter in zip(out, counters):
        assert row.tolist() == naive.philox4x32_10(counter, key)


@pytest.mark.parametrize(
    "counter, key",
    [([0, 0, 0], [0, 0]), ([0, 0, 0, 0], [0]), ([0, 0, 0, 2**32], [0, 0]), ([0, 0, 0, -1], [0, 0]),
     ([0.0, 0.0, 0.0, 0.0], [0, 0])],
)
def test_philox_rejects_bad_words(counter, key):
    """Wrong last-axis sizes, values outside uint32 and float words are ValueErrors."""
    with pytest.raises(ValueError):
        rr.philox4x32_10(np.array(counter), np.array(key))


def test_philox_docstring_example_runs():
    """The docstring example of philox4x32_10 is a doctest and must pass."""
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(rr.philox4x32_10, "philox4x32_10", globs={"philox4x32_10": rr.philox4x32_10}):
        runner.run(test)
    assert runner.failures == 0


# ----------------------------------------------------------------------------------------------
# uniforms, normals, exponentials: numba == numpy == naive
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("seed, domain, chunk, index", ADDRESSES)
def test_uniforms_numba_numpy_naive_agree_bit_for_bit(seed, domain, chunk, index, d):
    """``_fill_uniforms`` (numba), ``uniforms`` (numpy) and the naive reference give identical
    floats at addresses that use every counter and key word (odd and even d)."""
    jit = _numba_fill(rr._fill_uniforms, seed, domain, chunk, index, d)
    ref = rr.uniforms(seed, domain, chunk, index, d)
    slow = naive.uniforms(seed, domain, chunk, index, d)
    assert ref.shape == (d,)
    np.testing.assert_array_equal(jit, ref)
    np.testing.assert_array_equal(ref, slow)
    assert np.all((ref > 0.0) & (ref < 1.0))


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("seed, domain, chunk, index", ADDRESSES)
def test_normals_numba_numpy_naive_agree_bit_for_bit(seed, domain, chunk, index, d):
    """``_fill_normals`` (numba), ``normals`` (numpy) and the naive Box--Muller give identical floats."""
    jit = _numba_fill(rr._fill_normals, seed, domain, chunk, index, d)
    ref = rr.normals(seed, domain, chunk, index, d)
    slow = naive.normals(seed, domain, chunk, index, d)
    assert ref.shape == (d,)
    np.testing.assert_array_equal(jit, ref)
    np.testing.assert_array_equal(ref, slow)


@pytest.mark.parametrize("seed, domain, chunk, index", ADDRESSES[:4])
def test_exponentials_match_naive(seed, domain, chunk, index):
    """``exponentials`` is -log of the same uniforms (numpy's vector log may differ from libm's by
    an ulp, hence rtol 1e-15); all positive."""
    ref = rr.exponentials(seed, domain, chunk, index, 5)
    np.testing.assert_allclose(ref, naive.exponentials(seed, domain, chunk, index, 5), rtol=1e-15, atol=0)
    assert np.all(ref > 0)


def test_vectorised_stream_matches_scalar_calls():
    """Broadcasting chunk against index gives, entry by entry, the scalar stream; d = 0 is empty."""
    chunk = np.array([[0], [5]])
    index = np.array([0, 2**31 + 1, 2**40])
    u = rr.uniforms(99, rr.DOMAIN_CANDIDATE, chunk, index, 3)
    z = rr.normals(99, rr.DOMAIN_CANDIDATE, chunk, index, 3)
    assert u.shape == z.shape == (2, 3, 3)
    for c in range(2):
        for i in range(3):
            np.testing.assert_array_equal(u[c, i], rr.uniforms(99, 1, int(chunk[c, 0]), int(index[i]), 3))
            np.testing.assert_array_equal(z[c, i], naive.normals(99, 1, int(chunk[c, 0]), int(index[i]), 3))
    assert rr.uniforms(1, 1, 0, 0, 0).shape == (0,)


def test_index_uniforms_kernel_matches_naive():
    """``index_uniforms`` (arrival-time stream, numba) is coordinate 0 of the stream per index,
    also across the 2**32 boundary of the counter's low word."""
    key = rr.seed_key(2**40 + 3)
    for start in (0, 2**32 - 2):
        got = _kernels.index_uniforms(key, rr.DOMAIN_ARRIVAL, 4, start, 5)
        np.testing.assert_array_equal(got, naive.index_uniforms(2**40 + 3, rr.DOMAIN_ARRIVAL, 4, start, 5))


def test_streams_are_separated():
    """Changing any one of seed (either key word), domain, chunk or index (either counter word)
    changes every coordinate: no two addresses share raw words."""
    base = (1234, rr.DOMAIN_CANDIDATE, 3, 2**33 + 9)
    variants = [
        (1235, 1, 3, 2**33 + 9),
        (1234 + 2**32, 1, 3, 2**33 + 9),
        (1234, rr.DOMAIN_ARRIVAL, 3, 2**33 + 9),
        (1234, 1, 4, 2**33 + 9),
        (1234, 1, 3 + 2**23, 2**33 + 9),
        (1234, 1, 3, 2**33 + 10),
        (1234, 1, 3, 9),
        (1234, 1, 3, 2**32 + 9),
    ]
    u0 = rr.uniforms(*base, 4)
    seen = {tuple(u0)}
    for v in variants:
        u = rr.uniforms(*v, 4)
        assert np.all(u != u0), v
        seen.add(tuple(u))
    assert len(seen) == len(variants) + 1
    # and the two coordinates of one block are different numbers
    assert u0[0] != u0[1]


@pytest.mark.parametrize("seed", [-1, 2**64, 2**70, 1.0, 3.5, True, False, np.bool_(True), "7", None])
def test_bad_seeds_raise_value_error(seed):
    """Seeds must be integers in [0, 2**64): negatives, 2**64, floats (even integral ones), bools,
    strings and None are ValueErrors, from check_seed, the stream and the channel alike."""
    with pytest.raises(ValueError, match="seed"):
        rr.check_seed(seed)
    with pytest.raises(ValueError, match="seed"):
        rr.uniforms(seed, 1, 0, 0, 2)
    with pytest.raises(ValueError, match="seed"):
        rcc.PFR().encode(rcc.Gaussian(0.5, 0.5), rcc.Gaussian(0.0, 1.0), seed=seed)


@pytest.mark.parametrize("seed", [0, 2**64 - 1, np.uint64(2**64 - 1), np.int64(5)])
def test_good_seeds_accepted(seed):
    """Both ends of [0, 2**64) and numpy integer scalars are valid seeds."""
    assert rr.check_seed(seed) == int(seed)
    assert rr.seed_key(seed) == (int(seed) & 0xFFFFFFFF, int(seed) >> 32)


def test_chunk_out_of_range_raises():
    """Chunks are 24-bit: 2**24 would alias the domain byte, so the numpy stream refuses it."""
    with pytest.raises(ValueError, match="chunk"):
        rr.uniforms(0, 1, rr.MAX_CHUNK + 1, 0, 2)


def test_uniform_transform_stays_below_one_for_all_ones_word(monkeypatch):
    """Philox is a bijection on counters, so the all-ones output occurs in the addressable stream
    (about 2**-53 per draw). Feed it to the word-to-uniform transform: the result must be < 1."""
    all_ones = lambda counter, key: np.full(np.shape(counter), 0xFFFFFFFF, np.uint32)  # noqa: E731
    monkeypatch.setattr(rr, "philox4x32_10", all_ones)
    u = rr.uniforms(0, 1, 0, 0, 2)
    assert np.all(u < 1.0), u


# ----------------------------------------------------------------------------------------------
# distribution of the stream (KS tests at fixed seeds)
# ----------------------------------------------------------------------------------------------

KS_N = 20_000
KS_P_MIN = 1e-3


@pytest.mark.parametrize("seed, chunk", [(2024, 0), (2**64 - 1, 77)])
def test_ks_uniform(seed, chunk):
    """Both coordinates of a block are U(0, 1), and they are independent (their sum is the
    triangular law on [0, 2]); indices start past 2**32 to use the high counter word."""
    index = np.arange(KS_N, dtype=np.uint64) + np.uint64(2**32 - KS_N // 2)
    u = rr.uniforms(seed, rr.DOMAIN_CANDIDATE, chunk, index, 2)
    assert scipy.stats.kstest(u[:, 0], "uniform").pvalue > KS_P_MIN
    assert scipy.stats.kstest(u[:, 1], "uniform").pvalue > KS_P_MIN
    assert scipy.stats.kstest(u.sum(axis=1), scipy.stats.triang(c=0.5, loc=0, scale=2).cdf).pvalue > KS_P_MIN


@pytest.mark.parametrize("seed", [7, 2**40 + 1])
def test_ks_normal(seed):
    """Box--Muller outputs (cos and sin halves) are N(0, 1), and so is their scaled difference."""
    z = rr.normals(seed, rr.DOMAIN_CANDIDATE, 0, np.arange(KS_N // 2), 2)
    assert scipy.stats.kstest(z[:, 0], "norm").pvalue > KS_P_MIN
    assert scipy.stats.kstest(z[:, 1], "norm").pvalue > KS_P_MIN
    assert scipy.stats.kstest((z[:, 0] - z[:, 1]) / math.sqrt(2.0), "norm").pvalue > KS_P_MIN


@pytest.mark.parametrize("seed", [11, 2**63])
def test_ks_exponential(seed):
    """-log(u) is Exp(1)."""
    e = rr.exponentials(seed, rr.DOMAIN_ARRIVAL, 2, np.arange(KS_N), 1)[:, 0]
    assert scipy.stats.kstest(e, "expon").pvalue > KS_P_MIN


# ----------------------------------------------------------------------------------------------
# candidate and scoring kernels (rcc._kernels) vs tests/naive.py
# ----------------------------------------------------------------------------------------------

# (name, q, p): one Gaussian pair per parity of d (quadratic shortcut) and the non-Gaussian pairs.
KERNEL_PAIRS = [
    ("gauss-gauss d=1", rcc.Gaussian(1.0, 0.5), rcc.Gaussian(0.0, 1.0)),
    ("gauss-gauss d=4", rcc.Gaussian([0.3, -1.0, 2.0, 0.0], [0.2, 0.9, 1.5, 1.0]), rcc.Gaussian([0.0, 0.5, 1.0, 0.0], [1.0, 1.1, 2.0, 1.0])),
    ("gauss-gauss d=3 broadcast p", rcc.Gaussian([0.5, -0.5, 0.1], 0.7), rcc.Gaussian(0.2, 1.3)),
    ("uniform-gauss d=3", rcc.Uniform([-0.5, 0.0, 1.0], [0.5, 2.0, 1.5]), rcc.Gaussian(0.0, 1.0)),
    ("laplace-laplace d=2", rcc.Laplace([0.5, -1.0], [0.5, 1.0]), rcc.Laplace(0.0, [1.0, 2.0])),
    ("uniform-logistic d=5", rcc.Uniform(-1.0, [0.0, 0.5, 1.0, 2.0, 4.0]), rcc.Logistic(0.3, 0.8)),
]
KERNEL_SEEDS = [5, 2**64 - 1]
KERNEL_INDICES = [0, 1, 2**31 // 3 + 1, 2**32 + 7, 2**40]


@pytest.mark.parametrize("seed", KERNEL_SEEDS)
@pytest.mark.parametrize("name, q, p", KERNEL_PAIRS, ids=[n for n, _, _ in KERNEL_PAIRS])
def test_candidate_kernel_matches_naive_bit_for_bit(name, q, p, seed):
    """``_kernels.candidate`` equals the naive candidate (loc + scale * Box--Muller normal, or the
    closed-form inverse CDF of the stream's uniform) bit for bit, also at indices 2**31/3 + 1,
    past 2**32 and at 2**40; passing the Pair or the prior gives the same candidate."""
    pair = _kernels.Pair(q, p)
    key = rr.seed_key(seed)
    for index in KERNEL_INDICES:
        got = _kernels.candidate(pair, key, 3, index)
        np.testing.assert_array_equal(got, naive.candidate(p, seed, 3, index, pair.shape))
        np.testing.assert_array_equal(got, _kernels.candidate(pair.p, key, 3, index))


@pytest.mark.parametrize("name, q, p", KERNEL_PAIRS[4:], ids=[n for n, _, _ in KERNEL_PAIRS[4:]])
def test_candidate_ppf_matches_scipy(name, q, p):
    """Non-Gaussian priors: the candidate is p's inverse CDF (checked against scipy.stats at
    rtol 1e-12) at the stream's uniforms. (Gaussian priors use Box--Muller normals instead.)"""
    pair = _kernels.Pair(q, p)
    frozen = {
        rcc.Logistic: lambda a, b: scipy.stats.logistic(a, b),
        rcc.Laplace: lambda a, b: scipy.stats.laplace(a, b),
    }[type(p)](pair.pa, pair.pb)
    for index in KERNEL_INDICES:
        u = rr.uniforms(5, rr.DOMAIN_CANDIDATE, 0, index, pair.d)
        got = _kernels.candidate(pair, rr.seed_key(5), 0, index)
        np.testing.assert_allclose(got, frozen.ppf(u), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", KERNEL_SEEDS)
@pytest.mark.parametrize("name, q, p", KERNEL_PAIRS, ids=[n for n, _, _ in KERNEL_PAIRS])
def test_score_batch_matches_naive(name, q, p, seed):
    """``score_batch`` (numba, parallel) equals log q(x_i) - log p(x_i) of the naive candidates
    to rtol 1e-12 (atol 1e-12 nats for ratios near 0), with -inf exactly where x_i is outside q's
    support; batches starting at 0, past 2**32 and at 2**40 - 3 (crossing 2**40)."""
    pair = _kernels.Pair(q, p)
    key = rr.seed_key(seed)
    for start in (0, 2**32 - 3, 2**40 - 3):
        got = _kernels.score_batch(pair, key, 3, start, 24)
        ref = naive.score_batch(q, p, seed, 3, start, 24)
        assert got.shape == (24,)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
        assert not np.any(np.isnan(got))


@pytest.mark.parametrize("seed", KERNEL_SEEDS)
@pytest.mark.parametrize("name, q, p", KERNEL_PAIRS[:3], ids=[n for n, _, _ in KERNEL_PAIRS[:3]])
def test_score_batch_gaussian_shortcut_bit_for_bit(name, q, p, seed):
    """For a Gaussian pair the kernel uses the quadratic form in z; the naive twin of that form,
    accumulated in the same order, agrees bit for bit (and the score of one candidate does not
    depend on the batch it is scored in)."""
    pair = _kernels.Pair(q, p)
    assert pair.gaussian
    key = rr.seed_key(seed)
    got = _kernels.score_batch(pair, key, 0, 2**40 - 2, 5)
    ref = [naive.log_ratio_gaussian_shortcut(q, p, seed, 0, 2**40 - 2 + i) for i in range(5)]
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(_kernels.score_batch(pair, key, 0, 2**40, 1), got[2:3])


def test_candidate_at_2_40_equals_numpy_reference():
    """Candidate 2**40 of a Gaussian prior is loc + scale * rcc.random.normals(..., 2**40, d):
    no 32-bit truncation of the index anywhere between the public stream and the kernel."""
    p = rcc.Gaussian([0.0, 1.0, -2.0], [1.0, 0.5, 3.0])
    z = rr.normals(42, rr.DOMAIN_CANDIDATE, 0, 2**40, 3)
    got = _kernels.candidate(p, rr.seed_key(42), 0, 2**40)
    np.testing.assert_array_equal(got, p.a + p.b * z)
    assert not np.array_equal(got, _kernels.candidate(p, rr.seed_key(42), 0, 0))


@pytest.mark.parametrize("name, q, p", [KERNEL_PAIRS[0], KERNEL_PAIRS[5]], ids=["gauss-gauss", "uniform-logistic"])
def test_score_batch_parallel_equals_serial_and_naive(name, q, p):
    """Batches of at least PARALLEL_MIN_WORK candidate-coordinates go to the parallel (prange)
    kernel, smaller ones to the serial kernel: both give identical floats entry by entry, also
    across the 2**32 index boundary, and agree with the naive reference on a sample of entries."""
    pair = _kernels.Pair(q, p)
    key = rr.seed_key(2024)
    count = -(-_kernels.PARALLEL_MIN_WORK // pair.d)
    start = 2**32 - count // 2
    parallel = _kernels.score_batch(pair, key, 1, start, count)
    serial = np.concatenate([_kernels.score_batch(pair, key, 1, start + i, min(256, count - i))
                             for i in range(0, count, 256)])
    np.testing.assert_array_equal(parallel, serial)
    for i in range(0, count, count // 16):
        assert parallel[i] == pytest.approx(naive.log_ratio(q, p, 2024, 1, start + i), rel=1e-12, abs=1e-12)


def test_serial_and_parallel_kernels_are_cached_apart():
    """numba keys its on-disk cache by qualified name and signature, not by the parallel flag:
    the serial and parallel copies of a scoring loop must carry distinct names, or one would load
    the other's machine code (a bug that silently left the parallel kernel serial)."""
    from rcc import _hybrid_kernels, _kernels

    for serial, parallel in [(_kernels._score_batch_serial, _kernels._score_batch),
                             (_hybrid_kernels._score_batch_serial, _hybrid_kernels._score_batch_parallel)]:
        assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
        assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")


# ----------------------------------------------------------------------------------------------
# derive_seed
# ----------------------------------------------------------------------------------------------

# Pinned outputs: a change of these is a change of every bitstream whose seeds are derived.
DERIVED_SEEDS = [
    ((0, 0), 4788190090684445775),
    ((7, 1, 2), 8658156005868422722),
    ((2**64 - 1, 2**64 - 1, 0, 5), 3115574947099922456),
]


@pytest.mark.parametrize("args, expect", DERIVED_SEEDS)
def test_derive_seed_known_answers(args, expect):
    assert rr.derive_seed(*args) == expect
    assert naive.derive_seed(*args) == expect


@pytest.mark.parametrize("args", [
    (0, 0), (1, 0), (0, 1), (2**32, 2**32 - 1, 2**40), (2**63, 5, 6, 7, 8), (12345, 2**64 - 1),
    (np.uint64(2**64 - 1), np.int64(3)),
])
def test_derive_seed_matches_naive_and_is_a_63_bit_int(args):
    got = rr.derive_seed(*args)
    assert type(got) is int and 0 <= got < 2**63
    assert got == naive.derive_seed(*(int(a) for a in args))


def test_derive_seed_no_collisions_on_a_grid():
    """(seed, item, step) on a 16 x 64 x 16 grid, plus the paths of other lengths: all distinct,
    and none equals the arithmetic ``seed * 1_000_003 + i`` collisions it replaces would give."""
    seen = {rr.derive_seed(s, i, t) for s in range(16) for i in range(64) for t in range(16)}
    assert len(seen) == 16 * 64 * 16
    shorter = {rr.derive_seed(s, i) for s in range(16) for i in range(64)}
    assert len(shorter) == 16 * 64 and not shorter & seen
    # seed * K + i collides (seed 1, item 0) with (seed 0, item K); the hash does not
    assert rr.derive_seed(1, 0) != rr.derive_seed(0, 1_000_003)


def test_derive_seed_bits_look_uniform():
    """Each of the 63 output bits is set in about half of 4096 derived seeds (binomial, 5 sigma)."""
    out = np.array([rr.derive_seed(99, i) for i in range(4096)], dtype=np.uint64)
    bits = (out[:, None] >> np.arange(63, dtype=np.uint64)) & np.uint64(1)
    assert np.all(np.abs(bits.sum(axis=0) - 2048.0) < 5 * 32)


@pytest.mark.parametrize("args, match", [
    ((0,), "at least one path element"),
    ((-1, 0), "seed"),
    ((2**64, 0), "seed"),
    ((0, -1), "path element 0"),
    ((0, 1, 2**64), "path element 1"),
    ((0, 1.0), "path element 0"),
    ((0, True), "path element 0"),
    ((0, "3"), "path element 0"),
])
def test_derive_seed_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        rr.derive_seed(*args)
