"""Ordered random coding and minimal random coding: round trips, index codes, and output laws.

ORC (Theis & Yosri, 2022) and MRC (Havasi et al., 2019) select among the same N candidates with
probability proportional to dq/dp -- ORC by a race over sorted exponentials, MRC by Gumbel-max --
so their output laws are equal for equal N. ORC's index concentrates on small values and costs
fewer bits than MRC's log2 N.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import rcc
from rcc.container import unpack

P = rcc.Gaussian(0.0, 1.0)
# equal variances: D_inf is infinite, the case these approximate channels exist for
Q_EQ = rcc.Gaussian(math.sqrt(2 * 6 * math.log(2)), 1.0)  # KL = 6 bits


@pytest.mark.parametrize("channel", [rcc.ORC(num_candidates=2**9), rcc.MRC(num_candidates=2**9)])
@given(seed=st.integers(0, 2**64 - 1), shape=st.sampled_from([(), (1,), (3,), (2, 2)]))
@settings(max_examples=20, deadline=None, derandomize=True)
def test_round_trip_bit_for_bit(channel, seed, shape):
    """The decoder regenerates exactly the encoder's sample, for any seed and shape."""
    q = rcc.Gaussian(np.full(shape, 0.7), 0.9)
    msg = channel.encode(q, P, seed=seed)
    x = channel.decode(msg.to_bytes(), P, seed=seed)
    assert x.shape == shape
    assert x.tobytes() == msg.sample.tobytes()


def test_mrc_index_costs_exactly_log2_n():
    """MRC sends the index with ceil(log2 N) bits, whatever the pair."""
    for n, width in [(1, 0), (2, 1), (5, 3), (2**10, 10)]:
        msg = rcc.MRC(num_candidates=n).encode(Q_EQ, P, seed=3)
        assert msg.num_bits == width
        assert 1 <= msg.info["index"] <= n


def test_orc_and_mrc_have_the_same_output_law():
    """Equal N: the decoded samples of ORC and MRC are draws from one law (two-sample KS)."""
    n = 2**7
    xo = [float(rcc.ORC(num_candidates=n).encode(Q_EQ, P, seed=s).sample) for s in range(1500)]
    xm = [float(rcc.MRC(num_candidates=n).encode(Q_EQ, P, seed=10**6 + s).sample) for s in range(1500)]
    assert stats.ks_2samp(xo, xm).pvalue > 1e-3
    # ...and both are visibly biased at N = 2^(KL+1): the mean falls short of mu
    assert np.mean(xo) < 0.95 * float(Q_EQ.a)


def test_orc_index_is_cheaper_than_mrc():
    """ORC's entropy-coded index costs fewer bits than MRC's log2 N at N = 2^(KL+4)."""
    n = 2**10
    bits = [rcc.ORC(num_candidates=n).encode(Q_EQ, P, seed=s).num_bits for s in range(300)]
    assert np.mean(bits) < math.log2(n) - 1.0


def test_bias_shrinks_with_more_candidates():
    """With N = 2^(KL+8) ORC is close to exact: mean within 5 % of mu, KS against q not rejected."""
    q = rcc.Gaussian(math.sqrt(2 * 3 * math.log(2)), 1.0)  # KL = 3 bits
    xs = [float(rcc.ORC(num_candidates=2**11).encode(q, P, seed=s).sample) for s in range(1500)]
    assert abs(np.mean(xs) / float(q.a) - 1) < 0.05
    assert stats.kstest(xs, stats.norm(float(q.a), 1.0).cdf).pvalue > 1e-3


def test_orc_stops_early_when_dinf_is_finite():
    """A narrower target has a finite D_inf: ORC stops long before N and says so."""
    q = rcc.Gaussian(1.0, 0.5)
    msg = rcc.ORC(num_candidates=2**20).encode(q, P, seed=1)
    assert not msg.info["truncated"]
    assert msg.info["num_scored"] < 2**12


def test_orc_golden_bitstream():
    """Pins the ORC format: a change here must be deliberate (and bump FORMAT_VERSION)."""
    msg = rcc.ORC(num_candidates=64).encode(rcc.Gaussian(3.0, 0.2), P, seed=3)
    assert msg.to_bytes().hex() == "5243430203020a40030009558051a8caab"
    assert rcc.ORC(num_candidates=64).decode(bytes.fromhex("5243430203020a40030009558051a8caab"), P).tobytes() == msg.sample.tobytes()


def test_mrc_golden_bitstream():
    msg = rcc.MRC(num_candidates=64).encode(rcc.Gaussian(3.0, 0.2), P, seed=3)
    assert msg.to_bytes().hex() == "52434302040140030006a8d5c752dc"


@pytest.mark.parametrize("cls", [rcc.ORC, rcc.MRC])
@pytest.mark.parametrize("bad", [0, -1, 2**63, 1.5, True, None, "8"])
def test_bad_num_candidates(cls, bad):
    with pytest.raises(ValueError, match="num_candidates"):
        cls(num_candidates=bad)


@pytest.mark.parametrize("channel", [rcc.ORC(num_candidates=64), rcc.MRC(num_candidates=64)])
def test_decode_rejects_mismatches(channel):
    blob = channel.encode(rcc.Gaussian(np.zeros(3), 0.5), P, seed=9).to_bytes()
    with pytest.raises(rcc.DecodeError, match="seed"):
        channel.decode(blob, P, seed=10)
    with pytest.raises(rcc.DecodeError, match="shape"):
        channel.decode(blob, rcc.Gaussian(np.zeros(4), 1.0))
    other = rcc.PFR(max_candidates=8)
    with pytest.raises(rcc.DecodeError, match="not"):
        other.decode(blob, P)


@pytest.mark.parametrize("channel", [rcc.ORC(num_candidates=64), rcc.MRC(num_candidates=64)])
@given(data=st.data())
@settings(max_examples=40, deadline=None, derandomize=True)
def test_corrupted_blobs_raise_decode_error(channel, data):
    """Bit flips and truncations of a real blob give rcc.DecodeError, nothing else."""
    blob = bytearray(channel.encode(rcc.Gaussian(np.zeros(2), 0.5), P, seed=4).to_bytes())
    if data.draw(st.booleans()):
        pos = data.draw(st.integers(0, 8 * len(blob) - 1))
        blob[pos // 8] ^= 1 << (pos % 8)
    else:
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    with pytest.raises(rcc.DecodeError):
        channel.decode(bytes(blob), P)


def test_header_records_candidate_count():
    """The decoder rejects an index past N: N is in the header."""
    c = unpack(rcc.ORC(num_candidates=100).encode(Q_EQ, P, seed=1).to_bytes(), prior=P)
    assert c.params[1] == 100
