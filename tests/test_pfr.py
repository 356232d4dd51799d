"""The Poisson functional representation channel (rcc.PFR; Li & El Gamal, 2018).

What is checked, and why:

* round trips bit for bit over shapes, families and seeds (hypothesis), and from a fresh process
  with NUMBA_DISABLE_JIT=1 or NUMBA_NUM_THREADS=1 (the bitstream must not depend on either);
* exactness: KS tests of decoded samples against q at fixed seeds;
* the race itself: the batched, parallel race gives the index of a naive one-candidate-at-a-time
  race (tests/naive.py);
* the cost: mean real bits under KL + log2(KL + 1) + 4, and E log2 K as in docs/references.md;
* decoding is O(d) whatever the index (index 2**40);
* golden bitstreams, so that any format change is deliberate;
* every error path: ValueError for bad arguments, DecodeError for bad blobs.
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import rcc
from rcc import DecodeError
from rcc._kernels import Pair
from rcc._race import poisson_race, scorer
from rcc.coding import BitWriter, golomb_param_for_kl, write_zipf_index, zipf_index_bits
from rcc.container import Payload, pack, unpack
from rcc.random import seed_key

import naive

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
KS_P_MIN = 1e-3
LN2 = math.log(2.0)

# The two pairs of docs/references.md ("Exact PFR, p = N(0, 1)"), with E log2 K over 4000 runs.
P_STD = rcc.Gaussian(0.0, 1.0)
Q_REF1 = rcc.Gaussian(1.0, 0.5)  # KL 1.18 bits, E log2 K 1.09
Q_REF2 = rcc.Gaussian(2.0, 0.3)  # KL 3.97 bits, E log2 K 3.39


@functools.lru_cache(maxsize=None)
def _messages(name: str, num_seeds: int) -> list:
    """PFR messages of a named pair for seeds 0 .. num_seeds-1 (cached: several tests share them)."""
    q, p = {"ref1": (Q_REF1, P_STD), "ref2": (Q_REF2, P_STD)}[name]
    return [rcc.PFR().encode(q, p, seed=s) for s in range(num_seeds)]


def _gaussian_pair_with_kl(kl: float) -> tuple[rcc.Gaussian, rcc.Gaussian]:
    """1-D q = N(mu, s^2), p = N(0, 1) with KL = kl bits: s = 2^(-kl/2), mu from the rest. Both the
    shrinkage and the shift carry KL, and D_inf stays within 1 bit of KL (few candidates)."""
    s = 2.0 ** (-kl / 2)
    mu = math.sqrt(2.0 * (kl * LN2 + math.log(s) - (s * s - 1.0) / 2.0))
    return rcc.Gaussian(mu, s), P_STD


# ----------------------------------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------------------------------

SHAPES = [(), (1,), (3,), (2, 2)]
FAMILY_PAIRS = ["gauss|gauss", "uniform|gauss", "uniform|logistic", "uniform|laplace", "laplace|laplace"]


@st.composite
def pfr_pairs(draw):
    """(q, p) of one shape with finite D_inf <= 12 bits: Gaussian/Uniform/Laplace targets on
    Gaussian/Logistic/Laplace priors (every pair kl_bits and dinf_bits have closed forms for)."""
    shape = draw(st.sampled_from(SHAPES))
    size = int(np.prod(shape, dtype=int))
    qfam, pfam = draw(st.sampled_from(FAMILY_PAIRS)).split("|")

    def arr(lo, hi):
        return np.array(draw(st.lists(st.floats(lo, hi), min_size=size, max_size=size))).reshape(shape)

    p_loc, p_scale = arr(-1.0, 1.0), arr(0.5, 2.0)
    p = {"gauss": rcc.Gaussian, "logistic": rcc.Logistic, "laplace": rcc.Laplace}[pfam](p_loc, p_scale)
    offset = p_loc + p_scale * arr(-1.0, 1.0)
    if qfam == "gauss":
        q = rcc.Gaussian(offset, p_scale * arr(0.2, 0.8))
    elif qfam == "laplace":
        q = rcc.Laplace(offset, p_scale * arr(0.3, 1.0))
    else:
        half = 0.5 * p_scale * arr(0.3, 2.0)
        q = rcc.Uniform(offset - half, offset + half)
    assume(rcc.dinf_bits(q, p) <= 12.0)
    return q, p


@PROPERTY
@given(pair=pfr_pairs(), seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_round_trip_bit_for_bit(pair, seed):
    """decode(encode(q, p, seed).to_bytes(), p) == msg.sample bit for bit (float64, q's shape),
    with or without the seed at decode; the sample lies in q's support; num_bits is the Zipf code
    length of the index; the header carries m = golomb_param_for_kl(KL) and max_candidates 0."""
    q, p = pair
    msg = rcc.PFR().encode(q, p, seed=seed)
    blob = msg.to_bytes()
    shape = np.broadcast_shapes(q.shape, p.shape)
    assert msg.sample.shape == shape and msg.sample.dtype == np.float64
    np.testing.assert_array_equal(rcc.PFR().decode(blob, p, seed=seed), msg.sample)
    np.testing.assert_array_equal(rcc.PFR().decode(blob, p), msg.sample)
    assert np.all(np.isfinite(q.logpdf(msg.sample)))
    m = golomb_param_for_kl(msg.info["kl_bits"])
    assert msg.params == (m, 0)
    assert msg.num_bits == int(zipf_index_bits(msg.info["index"], m))
    assert not msg.info["truncated"]
    assert 1 <= msg.info["index"] <= msg.info["num_scored"]


def test_round_trip_with_broadcast_shapes():
    """q of shape (3,) against a scalar prior (and the reverse) encodes a (3,) sample; the decoder
    can pass the prior in either broadcastable form."""
    q, p = rcc.Gaussian([0.5, -0.5, 0.2], 0.6), rcc.Gaussian(0.0, 1.0)
    msg = rcc.PFR().encode(q, p, seed=3)
    assert msg.sample.shape == (3,)
    np.testing.assert_array_equal(rcc.PFR().decode(msg.to_bytes(), p), msg.sample)
    np.testing.assert_array_equal(rcc.PFR().decode(msg.to_bytes(), rcc.Gaussian([0.0] * 3, 1.0)), msg.sample)
    msg2 = rcc.PFR().encode(rcc.Gaussian(0.5, 0.6), rcc.Gaussian([0.0, 0.1, 0.2], 1.0), seed=3)
    assert msg2.sample.shape == (3,)


def test_encoding_is_reproducible_and_seed_dependent():
    """The same (q, p, seed) gives the same blob; another seed gives another sample."""
    a = rcc.PFR().encode(Q_REF2, P_STD, seed=99)
    b = rcc.PFR().encode(Q_REF2, P_STD, seed=99)
    c = rcc.PFR().encode(Q_REF2, P_STD, seed=100)
    assert a.to_bytes() == b.to_bytes() and a.info == b.info
    assert a.sample != c.sample


# ----------------------------------------------------------------------------------------------
# independence of the JIT, the thread count and the process
# ----------------------------------------------------------------------------------------------

_SUBPROCESS_SCRIPT = r"""
import sys
import numpy as np
import rcc
p = rcc.Gaussian(0.0, 1.0)
exact = rcc.PFR().encode(rcc.Gaussian(1.0, 0.5), p, seed=1234)
# 64-d equal-variance pair, truncated at 1024: the last batch (512 x 64) takes the parallel kernel
wide_q = rcc.Gaussian(np.linspace(-0.2, 0.2, 64), 1.0)
wide = rcc.PFR(max_candidates=1024).encode(wide_q, p, seed=2**64 - 1)
for msg in (exact, wide):
    print(msg.to_bytes().hex(), msg.info["num_scored"], *[float(x).hex() for x in msg.sample.ravel()])
print(*[float(x).hex() for x in rcc.PFR().decode(bytes.fromhex(sys.argv[1]), p).ravel()])
"""


def _in_process_lines(blob_hex: str) -> list[str]:
    p = P_STD
    exact = rcc.PFR().encode(rcc.Gaussian(1.0, 0.5), p, seed=1234)
    wide = rcc.PFR(max_candidates=1024).encode(rcc.Gaussian(np.linspace(-0.2, 0.2, 64), 1.0), p, seed=2**64 - 1)
    lines = [" ".join([m.to_bytes().hex(), str(m.info["num_scored"])] + [float(x).hex() for x in m.sample.ravel()])
             for m in (exact, wide)]
    lines.append(" ".join(float(x).hex() for x in rcc.PFR().decode(bytes.fromhex(blob_hex), p).ravel()))
    return lines


@pytest.mark.parametrize("env", [{"NUMBA_DISABLE_JIT": "1"}, {"NUMBA_NUM_THREADS": "1"}], ids=["nojit", "1thread"])
def test_fresh_process_env_gives_same_bits(env):
    """A fresh Python process with NUMBA_DISABLE_JIT=1 (pure-Python kernels) or NUMBA_NUM_THREADS=1
    encodes the same blobs and samples (float.hex) as this process -- an exact message and a
    64-d truncated one whose batches reach the parallel scoring kernel -- and decodes a blob
    encoded here into the same sample."""
    sent = rcc.PFR().encode(rcc.Gaussian([0.3, -0.7, 1.1], [0.5, 0.6, 0.4]), P_STD, seed=2**40 + 17)
    blob_hex = sent.to_bytes().hex()
    full_env = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS_SCRIPT, blob_hex], env=full_env,
                         capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines == _in_process_lines(blob_hex)
    assert lines[2] == " ".join(float(x).hex() for x in sent.sample)
    assert lines[1].split()[1] == "1024"  # the wide message was truncated at max_candidates


# ----------------------------------------------------------------------------------------------
# the race: batched == naive
# ----------------------------------------------------------------------------------------------

RACE_PAIRS = [
    ("gauss 1-d", Q_REF2, P_STD),
    ("gauss 3-d", rcc.Gaussian([0.5, -0.3, 1.0], [0.6, 0.8, 0.5]), rcc.Gaussian(0.0, [1.0, 1.0, 1.5])),
    ("uniform|logistic 2-d", rcc.Uniform([-1.0, 0.0], [0.5, 0.7]), rcc.Logistic(0.3, 0.8)),
]


@pytest.mark.parametrize("name, q, p", RACE_PAIRS, ids=[n for n, _, _ in RACE_PAIRS])
def test_race_matches_naive_sequential_race(name, q, p):
    """For 50 seeds the batched race (rcc._race.poisson_race, as rcc.PFR runs it) returns the
    winner and the stopping point of the naive one-candidate-at-a-time race of tests/naive.py,
    and PFR.encode reports the same (1-based) index and count."""
    dinf = rcc.dinf_bits(q, p)
    pair = Pair(q, p)
    for seed in range(50):
        ref_index, ref_scored = naive.pfr_race(q, p, seed, dinf)
        index, scored, certified = poisson_race(scorer(pair, seed, 0), seed, 0, dinf * LN2, None)
        assert (index, scored, certified) == (ref_index, ref_scored, True), seed
        info = rcc.PFR().encode(q, p, seed=seed).info
        assert (info["index"], info["num_scored"]) == (ref_index + 1, ref_scored)


def test_race_ignores_a_nan_score():
    """A candidate whose log ratio is NaN (not a number, so no evidence that it is likely under q)
    must never win nor hide the true winner of its batch."""
    pair = Pair(Q_REF2, P_STD)
    seed = next(s for s in range(100) if 1 <= naive.pfr_race(Q_REF2, P_STD, s, rcc.dinf_bits(Q_REF2, P_STD))[0] < 60)
    clean = scorer(pair, seed, 0)

    def with_nan(start, count):
        log_r = clean(start, count)
        if start == 0:
            log_r[0] = math.nan  # candidate 0 is not this seed's winner
        return log_r

    log_rmax = rcc.dinf_bits(Q_REF2, P_STD) * LN2
    expected = poisson_race(clean, seed, 0, log_rmax, None)[0]
    assert poisson_race(with_nan, seed, 0, log_rmax, None)[0] == expected


def test_truncated_race_matches_naive():
    """Cut at N = 100 candidates (equal variances, no stopping rule), the race's winner is the
    naive argmin over the first 100 candidates."""
    q, p = rcc.Gaussian([0.8, -0.4], 1.0), rcc.Gaussian(0.0, 1.0)
    pair = Pair(q, p)
    for seed in range(10):
        ref_index, ref_scored = naive.pfr_race(q, p, seed, math.inf, max_candidates=100)
        index, scored, certified = poisson_race(scorer(pair, seed, 0), seed, 0, math.inf, 100)
        assert (index, scored, certified) == (ref_index, 100, False)
        assert ref_scored == 100


# ----------------------------------------------------------------------------------------------
# exactness: decoded samples follow q
# ----------------------------------------------------------------------------------------------


def test_ks_decoded_samples_1d():
    """Decoded samples of q = N(1, 0.5^2) on p = N(0, 1) over seeds 0..1999 pass a KS test against
    q (p > 1e-3, fixed seeds), and their mean is within 4 standard errors of 1."""
    msgs = _messages("ref1", 4000)[:2000]
    x = np.array([rcc.PFR().decode(m.to_bytes(), P_STD, seed=m.seed) for m in msgs])
    assert scipy.stats.kstest(x, scipy.stats.norm(1.0, 0.5).cdf).pvalue > KS_P_MIN
    assert abs(x.mean() - 1.0) < 4 * 0.5 / math.sqrt(len(x))


def test_ks_decoded_samples_3d_marginals():
    """d = 3 Gaussian pair with different scales per coordinate: each marginal of 2000 decoded
    samples passes a KS test against q's marginal, and the coordinates are uncorrelated (|r| < 0.1)."""
    q, p = rcc.Gaussian([0.5, -0.3, 1.0], [0.6, 0.8, 0.5]), rcc.Gaussian(0.0, [1.0, 1.0, 1.5])
    x = np.array([rcc.PFR().decode(rcc.PFR().encode(q, p, seed=s).to_bytes(), p) for s in range(2000)])
    assert x.shape == (2000, 3)
    for j in range(3):
        assert scipy.stats.kstest(x[:, j], scipy.stats.norm(q.a[j], q.b[j]).cdf).pvalue > KS_P_MIN, j
    corr = np.corrcoef(x.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.1)


@pytest.mark.parametrize(
    "q, p, target",
    [
        (rcc.Uniform(-1.0, 0.5), rcc.Logistic(0.3, 0.8), scipy.stats.uniform(-1.0, 1.5)),
        (rcc.Laplace(0.5, 0.4), rcc.Laplace(0.0, 1.0), scipy.stats.laplace(0.5, 0.4)),
    ],
    ids=["uniform|logistic", "laplace|laplace"],
)
def test_ks_decoded_samples_non_gaussian(q, p, target):
    """Non-Gaussian pairs (inverse-CDF candidates, generic log ratio): 1000 decoded samples pass a
    KS test against q."""
    x = np.array([rcc.PFR().decode(rcc.PFR().encode(q, p, seed=s).to_bytes(), p) for s in range(1000)])
    assert scipy.stats.kstest(x, target.cdf).pvalue > KS_P_MIN


# ----------------------------------------------------------------------------------------------
# coding cost
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kl", [0.5, 1.0, 2.0, 4.0, 8.0, pytest.param(16.0, marks=pytest.mark.slow)]
)
def test_mean_bits_under_kl_bound(kl):
    """Mean real payload bits (msg.num_bits) over 1000 seeds stay under KL + log2(KL + 1) + 4
    (Li & El Gamal's bound with the Zipf code), and above KL - 1 (no channel beats the KL by
    much on average). KL 16 scores ~1e5 candidates per message: slow."""
    q, p = _gaussian_pair_with_kl(kl)
    assert rcc.kl_bits(q, p) == pytest.approx(kl, rel=1e-9)
    bits = np.array([rcc.PFR().encode(q, p, seed=s).num_bits for s in range(1000)])
    assert kl - 1.0 < bits.mean() < kl + math.log2(kl + 1.0) + 4.0


@pytest.mark.parametrize("name, expected, tol", [("ref1", 1.09, 0.10), ("ref2", 3.39, 0.15)])
def test_expected_log_index_matches_references(name, expected, tol):
    """E log2 K over 4000 seeds reproduces docs/references.md (N(1, 0.5^2): 1.09; N(2, 0.3^2): 3.39,
    independent simulations) within 0.10 / 0.15 bits, and stays under KL + 1.53 (the PFR bound)."""
    msgs = _messages(name, 4000)
    log_k = np.log2([m.info["index"] for m in msgs])
    assert abs(log_k.mean() - expected) < tol
    assert log_k.mean() <= msgs[0].info["kl_bits"] + 1.53


def test_candidates_scored_about_two_to_the_dinf():
    """The stopping rule scores about 2^D_inf candidates (mean within a factor 4 of it; for
    N(2, 0.3^2), D_inf = 4.9 bits)."""
    msgs = _messages("ref2", 4000)
    mean_scored = np.mean([m.info["num_scored"] for m in msgs])
    dinf = msgs[0].info["dinf_bits"]
    assert 2.0 ** dinf / 4 < mean_scored < 4 * 2.0**dinf


# ----------------------------------------------------------------------------------------------
# decoding is O(d) in the index
# ----------------------------------------------------------------------------------------------


def _crafted_blob(index: int, seed: int, shape=(3,), m: int = 4, max_candidates: int = 0, extra=None,
                  header_m: int | None = None, prior=P_STD) -> bytes:
    """A PFR blob written by hand: index coded with Golomb parameter m, optional extra bits
    (value, nbits) after it, and ``header_m`` (default m) announced in the header; the checksum
    folds in ``prior``."""
    w = BitWriter()
    write_zipf_index(w, index, m)
    if extra is not None:
        w.write(*extra)
    payload, nbits = w.getvalue()
    header_m = m if header_m is None else header_m
    return pack(Payload("pfr", (header_m, max_candidates), seed, shape, payload, nbits), prior=prior)


@pytest.mark.parametrize("index", [2**40, 2**64 - 1])
def test_decode_huge_index_is_constant_time(index):
    """A blob carrying index 2**40 (or 2**64 - 1) decodes to candidate index - 1 of the shared
    stream (naive reference). That this test finishes at all shows nothing before the index is
    generated; the timing ratio is in `rcc bench --speed`."""
    p = rcc.Gaussian([0.0, 1.0, -1.0], [1.0, 2.0, 0.5])
    blob = _crafted_blob(index, seed=77, prior=p)
    x = rcc.PFR().decode(blob, p, seed=77)
    np.testing.assert_array_equal(x, naive.candidate(p, 77, 0, index - 1))


# ----------------------------------------------------------------------------------------------
# truncated mode and refusals
# ----------------------------------------------------------------------------------------------


def test_infinite_dinf_without_max_candidates_is_value_error():
    """Equal-variance Gaussians have D_inf = inf: exact PFR has no stopping rule and says to pass
    max_candidates; so do wider targets and a D_inf above 32 bits."""
    for q in (rcc.Gaussian(1.0, 1.0), rcc.Gaussian(0.0, 2.0), rcc.Gaussian(0.0, 1e-11)):
        with pytest.raises(ValueError, match="max_candidates"):
            rcc.PFR().encode(q, P_STD, seed=1)


def test_truncated_mode_round_trips_and_reports():
    """With max_candidates = 2**10 on equal-variance Gaussians the race is cut: the message round
    trips, info says truncated (not certified) after exactly 1024 candidates, the index is at most
    1024 and max_candidates travels in the header."""
    q, p = rcc.Gaussian([0.5, -0.5], 1.0), rcc.Gaussian(0.0, 1.0)
    for seed in range(5):
        msg = rcc.PFR(max_candidates=2**10).encode(q, p, seed=seed)
        assert msg.info["truncated"]
        assert msg.info["num_scored"] == 2**10
        assert 1 <= msg.info["index"] <= 2**10
        assert msg.params[1] == 2**10
        np.testing.assert_array_equal(rcc.PFR().decode(msg.to_bytes(), p, seed=seed), msg.sample)


def test_max_candidates_not_reached_is_not_truncated():
    """A finite-D_inf race that stops before max_candidates is certified, with the same index as
    the untruncated race."""
    exact = rcc.PFR().encode(Q_REF1, P_STD, seed=5)
    capped = rcc.PFR(max_candidates=10_000).encode(Q_REF1, P_STD, seed=5)
    assert not capped.info["truncated"]
    assert capped.info["index"] == exact.info["index"]
    np.testing.assert_array_equal(capped.sample, exact.sample)


@pytest.mark.parametrize("bad", [0, -1, 2**63, 1.5, True, "10"])
def test_bad_max_candidates_is_value_error(bad):
    """max_candidates must be an int in [1, 2**63) or None."""
    with pytest.raises(ValueError, match="max_candidates"):
        rcc.PFR(max_candidates=bad)


# ----------------------------------------------------------------------------------------------
# golden bitstreams
# ----------------------------------------------------------------------------------------------

# Pinned blobs (hex) and samples (float.hex). A change here changes the bitstream format or the
# shared stream: it must be deliberate (bump FORMAT_VERSION or document it), never incidental.
GOLDEN = [
    ("gauss 1-d", rcc.Gaussian(1.0, 0.5), rcc.Gaussian(0.0, 1.0), 1234, None,
     "5243430202020300d209000200f2997ff8", ["-0x1.b90a7e228afcep-5"]),
    ("uniform|logistic 3-d, seed 2**64-1", rcc.Uniform([-0.5, 0.0, 1.0], [0.5, 2.0, 1.5]), rcc.Logistic(0.3, 0.8),
     2**64 - 1, None, "5243430202020800ffffffffffffffffff01010306284a8a2d44",
     ["0x1.e523f1b8ec052p-3", "0x1.b6c01becd4580p-2", "0x1.2f0c13f843e15p+0"]),
    ("laplace (2,2)", rcc.Laplace([[0.5, -1.0], [0.0, 0.25]], 0.5), rcc.Laplace(0.0, 1.0), 7, None,
     "52434302020204000702020204200c2c128c",
     ["0x1.b59b2bfeaabbap+0", "-0x1.cfd61c23f6356p-1", "-0x1.83e0f9e503459p-7", "0x1.0856a489c919dp-2"]),
    ("truncated equal-variance 2-d", rcc.Gaussian([0.5, -0.5], 1.0), rcc.Gaussian(0.0, 1.0), 42, 2**10,
     "5243430202020280082a01020360222a1998", ["0x1.07f2120d9e5b6p-2", "-0x1.3239e92b9de3dp-4"]),
]


@pytest.mark.parametrize("name, q, p, seed, max_candidates, blob_hex, sample_hex", GOLDEN,
                         ids=[g[0] for g in GOLDEN])
def test_golden_bitstreams(name, q, p, seed, max_candidates, blob_hex, sample_hex):
    """Encoding the pinned pairs gives the pinned blobs; decoding the pinned blobs gives the
    pinned samples, bit for bit."""
    msg = rcc.PFR(max_candidates=max_candidates).encode(q, p, seed=seed)
    assert msg.to_bytes().hex() == blob_hex
    decoded = rcc.PFR().decode(bytes.fromhex(blob_hex), p, seed=seed)
    assert [float(x).hex() for x in decoded.ravel()] == sample_hex
    assert [float(x).hex() for x in msg.sample.ravel()] == sample_hex


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blob3() -> bytes:
    """A (3,)-shaped PFR blob, seed 1234."""
    return rcc.PFR().encode(rcc.Gaussian([1.0, -0.5, 0.25], 0.5), P_STD, seed=1234).to_bytes()


def test_seed_mismatch_is_decode_error(blob3):
    """Decoding with another seed than the blob's is refused (it would give a wrong sample)."""
    with pytest.raises(DecodeError, match="seed"):
        rcc.PFR().decode(blob3, P_STD, seed=1235)


@pytest.mark.parametrize("p", [rcc.Gaussian([0.0, 0.0], 1.0), rcc.Gaussian(np.zeros((2, 3)), 1.0),
                               rcc.Gaussian(np.zeros(4), 1.0)], ids=["(2,)", "(2,3)", "(4,)"])
def test_wrong_prior_shape_is_decode_error(blob3, p):
    """A prior that does not broadcast to the blob's shape (3,) is refused."""
    with pytest.raises(DecodeError, match="shape"):
        rcc.PFR().decode(blob3, p)


def test_prior_with_more_dims_than_scalar_blob_is_decode_error():
    """A scalar blob decoded with a (3,) prior is refused too (no silent broadcasting up)."""
    blob = rcc.PFR().encode(Q_REF1, P_STD, seed=1).to_bytes()
    with pytest.raises(DecodeError, match="shape"):
        rcc.PFR().decode(blob, rcc.Gaussian(np.zeros(3), 1.0))


@pytest.mark.parametrize(
    "q, p",
    [(1.0, rcc.Gaussian(0.0, 1.0)), (rcc.Gaussian(0.0, 0.5), scipy.stats.norm(0, 1)),
     (None, None), ("gauss", rcc.Gaussian(0.0, 1.0)), (rcc.Gaussian(0.0, 0.5), np.zeros(3))],
    ids=["float q", "scipy p", "None", "str q", "array p"],
)
def test_non_distribution_inputs_are_value_errors(q, p):
    """encode() accepts only rcc distributions: anything else is a ValueError naming q or p."""
    with pytest.raises(ValueError, match=r"\b[qp]\b"):
        rcc.PFR().encode(q, p, seed=1)


@pytest.mark.parametrize("p", [None, 0.0, scipy.stats.norm(0, 1)])
def test_decode_with_non_distribution_prior_is_value_error(blob3, p):
    """decode() needs an rcc distribution as the prior."""
    with pytest.raises(ValueError, match="p must be"):
        rcc.PFR().decode(blob3, p)


def test_shapes_that_do_not_broadcast_are_value_error():
    """q of shape (2,) and p of shape (3,) is a ValueError naming both shapes."""
    with pytest.raises(ValueError, match="broadcast"):
        rcc.PFR().encode(rcc.Gaussian([0.0, 0.0], 0.5), rcc.Gaussian([0.0, 0.0, 0.0], 1.0), seed=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(index=2000, max_candidates=1024), "max_candidates"),
        (dict(index=5, header_m=0), "Golomb"),
        (dict(index=5, header_m=65), "Golomb"),
        (dict(index=5, extra=(1, 3)), "unread"),
    ],
    ids=["index > max_candidates", "m = 0", "m > 64", "trailing bits"],
)
def test_crafted_bad_pfr_payloads_are_decode_errors(kwargs, match):
    """Blobs with a valid container but an impossible PFR payload: an index above the message's
    max_candidates, a Golomb parameter out of range, or bits after the index code."""
    blob = _crafted_blob(seed=9, **kwargs)
    with pytest.raises(DecodeError, match=match):
        rcc.PFR().decode(blob, P_STD)


def test_wrong_parameter_count_is_decode_error():
    """A PFR blob must carry exactly (m, max_candidates)."""
    w = BitWriter()
    write_zipf_index(w, 3, 4)
    payload, nbits = w.getvalue()
    for params in [(), (4,), (4, 0, 0)]:
        blob = pack(Payload("pfr", params, 1, (3,), payload, nbits), prior=P_STD)
        with pytest.raises(DecodeError, match="parameters"):
            rcc.PFR().decode(blob, P_STD)


def test_blob_of_another_method_is_decode_error(blob3):
    """A blob whose method is not 'pfr' is refused by the PFR decoder."""
    c = unpack(blob3, prior=P_STD)
    other = pack(Payload("orc", c.params, c.seed, c.shape, c.data, c.num_bits), prior=P_STD)
    with pytest.raises(DecodeError, match="pfr"):
        rcc.PFR().decode(other, P_STD)


def test_sample_is_candidate_of_winning_index():
    """msg.sample is exactly candidate index-1 of the shared stream (naive reference), i.e. the
    decoder needs nothing but the index, the seed and p."""
    q, p = rcc.Uniform([-0.5, 0.0, 1.0], [0.5, 2.0, 1.5]), rcc.Logistic(0.3, 0.8)
    msg = rcc.PFR().encode(q, p, seed=31)
    np.testing.assert_array_equal(msg.sample, naive.candidate(p, 31, 0, msg.info["index"] - 1, (3,)))
    np.testing.assert_array_equal(
        msg.sample, rcc._kernels.candidate(Pair(q, p), seed_key(31), 0, msg.info["index"] - 1))
