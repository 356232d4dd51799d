"""Chunked coding of high-dimensional pairs: rcc.compress / rcc.decompress (rcc/chunked.py).

Round trips bit for bit for every inner channel and several shapes, decoded marginals (KS tests
and the projection on the mean shift, fixed seeds, so the thresholds cannot flake), real payload
bits against the KL, the KL = 0 and d = 10**5 corner cases, corrupted / truncated / crafted blobs,
and a golden bitstream.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import rcc
from rcc._kernels import candidate
from rcc.container import Payload, pack, prior_fingerprint, unpack
from rcc.random import seed_key

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def gaussian_pair(shape, seed=0, scale=0.5, shift=1.0):
    mu = shift * np.random.default_rng(seed).normal(size=shape)
    return rcc.Gaussian(mu, scale), rcc.Gaussian(0.0, 1.0)


METHODS = {
    "pfr": "pfr",
    "orc": rcc.ORC(num_candidates=2**10),
    "mrc": rcc.MRC(num_candidates=2**8),
    "pfr-truncated": rcc.PFR(max_candidates=2**10),
}


# ----------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("shape", [(1,), (3, 4), (2000,)])
def test_round_trip(name, shape):
    q, p = gaussian_pair(shape, seed=1)
    msg = rcc.compress(q, p, method=METHODS[name], seed=1234, chunk_bits=6.0)
    blob = msg.to_bytes()
    assert isinstance(blob, bytes)
    assert rcc.compress(q, p, method=METHODS[name], seed=1234, chunk_bits=6.0).to_bytes() == blob  # reproducible
    x = rcc.decompress(blob, p)
    assert x.shape == shape and x.dtype == np.float64
    np.testing.assert_array_equal(x, msg.sample)
    d = int(np.prod(shape))
    assert msg.chunks.sizes.sum() == d and msg.info["num_chunks"] == msg.chunks.sizes.size
    assert msg.chunks.kl_bits.sum() == pytest.approx(msg.info["kl_bits"], rel=1e-9)
    assert msg.info["kl_bits"] == pytest.approx(rcc.kl_bits(q, p), rel=1e-9)
    assert msg.num_bits + msg.overhead_bits == 8 * len(blob)
    assert unpack(blob, prior=p).num_bits == msg.num_bits


def test_chunk_c_uses_stream_chunk_c():
    """Candidate K_c of chunk c is a pure function of (seed, c, K_c): regenerate it directly."""
    q, p = gaussian_pair((40,), seed=2)
    msg = rcc.compress(q, p, seed=99, chunk_bits=5.0)
    assert msg.info["num_chunks"] > 3
    flat_p = p.broadcast_to((40,))
    start = 0
    for c, (size, k) in enumerate(zip(msg.chunks.sizes, msg.chunks.index)):
        pc = flat_p.take(np.arange(start, start + size))
        np.testing.assert_array_equal(msg.sample[start:start + size], candidate(pc, seed_key(99), c, int(k) - 1))
        start += size


def test_even_layout_round_trip():
    q, p = gaussian_pair((300,), seed=3)
    msg = rcc.compress(q, p, seed=5, chunk_bits=6.0, layout="even")
    blob = msg.to_bytes()
    assert msg.chunks.sizes.max() - msg.chunks.sizes.min() <= 1
    np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    name=st.sampled_from(sorted(METHODS)),
    seed=st.integers(0, 2**64 - 1),
    chunk_bits=st.floats(1.0, 8.0),
    scale=st.floats(0.3, 0.9),
    layout=st.sampled_from(["kl", "even", "kl/2", "kl/3", "kl/7"]),
)
def test_round_trip_property(shape, name, seed, chunk_bits, scale, layout):
    q, p = gaussian_pair(shape, seed=seed % 1000, scale=scale)
    layout, _, step = layout.partition("/")
    msg = rcc.compress(q, p, method=METHODS[name], seed=seed, chunk_bits=chunk_bits,
                       layout=layout, size_multiple=int(step or 1))
    blob = msg.to_bytes()
    np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)
    np.testing.assert_array_equal(msg.chunks.sizes, naive_sizes(rcc.kl_bits(q, p, elementwise=True).ravel(),
                                                                msg.info["chunk_bits"], int(step or 1))
                                  if layout == "kl" else msg.chunks.sizes)


def naive_sizes(kl, chunk_bits, step, max_size=None):
    """Plain-Python reference of the "kl" layout: close at the multiple of ``step`` where the
    chunk's KL crosses chunk_bits, or at the multiple before if that is closer (step > 1), or
    once the chunk holds ``max_size`` coordinates."""
    sizes, start, d = [], 0, len(kl)
    while start < d:
        ends = list(range(start + step, d + 1, step))
        crossing = next((e for e in ends if kl[start:e].sum() >= chunk_bits), None)
        if max_size is not None and (crossing or d + 1) - start > max_size and start + max_size <= d:
            sizes.append(max_size)
            start += max_size
            continue
        if crossing is None:
            sizes.append(d - start)
            break
        end = crossing
        if step > 1 and crossing > start + step:
            prev = crossing - step
            if chunk_bits - kl[start:prev].sum() < kl[start:crossing].sum() - chunk_bits:
                end = prev
        sizes.append(end - start)
        start = end
    return np.array(sizes)


@pytest.mark.parametrize("max_size", [None, 36])
@pytest.mark.parametrize("step", [1, 2, 4, 9])
def test_greedy_layout_matches_reference(step, max_size):
    kl = np.random.default_rng(step).exponential(1.0, size=500) * (np.arange(500) % 7 != 0)
    kl[[17, 200]] = [30.0, 9.0]  # blocks whose KL alone exceeds chunk_bits
    kl[300:400] = 0.01  # a stretch a size limit cuts
    from rcc._chunk_kernels import greedy_sizes

    out = np.empty(kl.size, dtype=np.int64)
    got = out[:greedy_sizes(kl, 6.0, step, kl.size + 1 if max_size is None else max_size, out)]
    want = naive_sizes(kl, 6.0, step, max_size)
    if max_size is not None:
        assert got.max() <= max_size and (got == max_size).sum() >= 2
    np.testing.assert_array_equal(got, want)
    assert (got[:-1] % step == 0).all() and got.sum() == kl.size


def test_size_multiple_costs_fewer_bits_at_equal_chunk_kl():
    """Coarser sizes cost less side information: on a pair whose coordinates carry ~0.6 bit of
    KL each, size_multiple 4 at the same chunk_bits writes fewer payload bits than size_multiple 1, with
    chunks of about the same mean KL."""
    q, p = gaussian_pair((4000,), seed=11, scale=0.8, shift=0.6)
    msgs = {}
    for step in (1, 4):
        msgs[step] = rcc.compress(q, p, method=rcc.PFR(max_candidates=2**12), seed=3, chunk_bits=8.0,
                                  size_multiple=step)
        np.testing.assert_array_equal(rcc.decompress(msgs[step], p), msgs[step].sample)
        assert (msgs[step].chunks.sizes[:-1] % step == 0).all()
        assert unpack(msgs[step].to_bytes(), prior=p).params[3:] == ((step,) if step > 1 else ())
    mean_kl = {s: m.info["kl_bits"] / m.info["num_chunks"] for s, m in msgs.items()}
    assert mean_kl[4] == pytest.approx(mean_kl[1], rel=0.1)
    assert msgs[4].num_bits < msgs[1].num_bits - 0.5 * msgs[1].info["num_chunks"]


def test_other_families_round_trip():
    q = rcc.Uniform(np.linspace(-1, 1, 30), np.linspace(-1, 1, 30) + 0.3)
    p = rcc.Logistic(0.0, 1.0)
    msg = rcc.compress(q, p, seed=3, chunk_bits=6.0)
    blob = msg.to_bytes()
    np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)
    assert np.all((msg.sample >= q.low) & (msg.sample <= q.high))  # exact PFR: in q's support


# ----------------------------------------------------------------------------------------------
# decoded marginals (exact PFR)

MU6 = np.array([-1.0, -0.5, 0.0, 0.3, 0.8, 1.2])


@pytest.fixture(scope="module")
def pfr_samples():
    q, p = rcc.Gaussian(MU6, 0.5), rcc.Gaussian(0.0, 1.0)
    xs = [rcc.decompress(rcc.compress(q, p, seed=s, chunk_bits=3.0), p) for s in range(300)]
    return np.array(xs)


def test_pfr_marginals_ks(pfr_samples):
    z = (pfr_samples - MU6) / 0.5
    for group in (slice(0, 2), slice(2, 4), slice(4, 6)):
        assert scipy.stats.kstest(z[:, group].ravel(), "norm").pvalue > 1e-3


def test_pfr_projection_on_mean_shift(pfr_samples):
    """E[(x - mu_p) . (mu_q - mu_p)] / |mu_q - mu_p|^2 = 1 for an exact sampler."""
    ratio = np.mean(pfr_samples @ MU6) / (MU6 @ MU6)
    # one sample's projection has std 0.5 / |mu| = 0.22; over 300 seeds 0.013: 4 sigma
    assert abs(ratio - 1.0) < 0.055


# ----------------------------------------------------------------------------------------------
# real bits


def test_real_bits_exact_pfr_d512():
    """Exact PFR, chunk_bits = 12, d = 512, q = N(mu, 0.1^2), p = N(0, 1): KL 1475 bits.

    Measured (seed 11): payload 1870 bits over 107 chunks, payload / KL = 1.268; about 1 bit of
    mantissa per bit of KL, 3-4 bits of index bit length and 2-3 bits of chunk size per chunk.
    """
    rng = np.random.default_rng(1)
    mu = rng.normal(size=512) * np.sqrt(0.22)
    q, p = rcc.Gaussian(mu, 0.1), rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, seed=11, chunk_bits=12.0)
    blob = msg.to_bytes()
    assert msg.info["num_truncated"] == 0
    assert 1400 < msg.info["kl_bits"] < 1550
    assert 1.15 < msg.num_bits / msg.info["kl_bits"] < 1.40
    assert msg.overhead_bits <= 8 * 24  # header, padding and CRC-32 only
    np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)


def test_mrc_bits_are_fixed_width():
    q, p = gaussian_pair((64,), seed=4)
    msg = rcc.compress(q, p, method=rcc.MRC(num_candidates=2**8), seed=2, chunk_bits=6.0, layout="even")
    # gamma(C) + layout bit + 8 bits per chunk, plus at most 32 bits of ANS state
    c = msg.info["num_chunks"]
    assert 8 * c <= msg.num_bits <= 8 * c + 2 * c.bit_length() + 1 + 32


# ----------------------------------------------------------------------------------------------
# corner cases


def test_kl_zero():
    p = rcc.Gaussian(np.linspace(-1, 1, 1000), 2.0)
    q = rcc.Gaussian(np.linspace(-1, 1, 1000), 2.0)
    for method in ("pfr", rcc.ORC(num_candidates=16), rcc.MRC(num_candidates=16)):
        msg = rcc.compress(q, p, method=method, seed=8)
        blob = msg.to_bytes()
        assert msg.info["kl_bits"] == 0.0 and msg.info["num_chunks"] == 1 and msg.info["num_scored"] == 0
        assert msg.chunks.index.tolist() == [1]
        np.testing.assert_array_equal(msg.sample, candidate(p, seed_key(8), 0, 0))
        np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)
        assert msg.num_bits <= 16


def test_large_d_small_kl():
    shape = (100, 1000)
    scale = np.ones(shape)
    scale[0, :20] = 0.05  # 20 coordinates of 3.6 bits each, the rest q == p
    q, p = rcc.Gaussian(0.0, scale), rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, seed=1, chunk_bits=3.0)
    blob = msg.to_bytes()
    assert msg.info["num_chunks"] == 21
    x = rcc.decompress(blob, p)
    assert x.shape == shape
    np.testing.assert_array_equal(x, msg.sample)


def test_exact_pfr_refuses_infinite_dinf():
    q, p = rcc.Gaussian(np.ones(8), 1.0), rcc.Gaussian(0.0, 1.0)
    with pytest.raises(ValueError, match="max_candidates"):
        rcc.compress(q, p, seed=1, chunk_bits=4.0)
    msg = rcc.compress(q, p, method=rcc.PFR(max_candidates=2**8), seed=1, chunk_bits=4.0)
    blob = msg.to_bytes()
    assert msg.info["num_truncated"] >= 1
    np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "astar"}, "method"),
        ({"method": 3}, "method"),
        ({"chunk_bits": 0.0}, "chunk_bits"),
        ({"chunk_bits": float("nan")}, "chunk_bits"),
        ({"chunk_bits": True}, "chunk_bits"),
        ({"seed": -1}, "seed"),
        ({"layout": "random"}, "layout"),
        ({"size_multiple": 0}, "size_multiple"),
        ({"size_multiple": 2.0}, "size_multiple"),
        ({"size_multiple": 2, "layout": "even"}, "size_multiple"),
    ],
)
def test_bad_arguments(kwargs, match):
    q, p = gaussian_pair((4,))
    with pytest.raises(ValueError, match=match):
        rcc.compress(q, p, **kwargs)


# ----------------------------------------------------------------------------------------------
# bad blobs


@pytest.fixture(scope="module")
def small_blob():
    q, p = gaussian_pair((3, 4), seed=6)
    return rcc.compress(q, p, seed=77, chunk_bits=4.0).to_bytes(), p


@SETTINGS
@given(data=st.data())
def test_bit_flip_is_decode_error(small_blob, data):
    blob, p = small_blob
    pos = data.draw(st.integers(0, 8 * len(blob) - 1))
    bad = bytearray(blob)
    bad[pos // 8] ^= 1 << (pos % 8)
    with pytest.raises(rcc.DecodeError):
        rcc.decompress(bytes(bad), p)


@SETTINGS
@given(data=st.data())
def test_truncation_is_decode_error(small_blob, data):
    blob, p = small_blob
    n = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(rcc.DecodeError):
        rcc.decompress(blob[:n], p)


@SETTINGS
@given(data=st.data())
def test_crafted_payload_never_crashes(small_blob, data):
    """Payloads altered *with* a valid CRC: a DecodeError or a sample of the right shape."""
    blob, p = small_blob
    c = unpack(blob, prior=p)
    bits = data.draw(st.integers(0, 80))
    payload = data.draw(st.binary(min_size=(bits + 7) // 8, max_size=(bits + 7) // 8))
    if bits % 8:
        payload = payload[:-1] + bytes([payload[-1] & (0xFF << (8 - bits % 8)) & 0xFF])
    params = data.draw(st.sampled_from([c.params, (2, 0, 64), (3, 5, 64), (4, 1, 64), (4, 2**62, 1), (9, 0, 1), (2, 0),
                                        (2, 0, 64, 2), (2, 0, 64, 1), (2, 0, 64, 2**40), (2, 0, 64, 3, 1),
                                        (5, 0, 4, 0, 64), (5, 1, 3, 16, 64), (5, 0, 1, 0, 64), (5, 1, 4, 0, 64),
                                        (5, 2, 4, 0, 64), (5, 0, 2**24, 0, 64, 2), (5, 0, 4, 0)]))
    crafted = pack(Payload("chunked", params, c.seed, c.shape, payload, bits), prior=p)
    try:
        x = rcc.decompress(crafted, p)
    except rcc.DecodeError:
        return
    assert x.shape == c.shape


def test_wrong_prior_shape_is_decode_error(small_blob):
    blob, _ = small_blob
    with pytest.raises(rcc.DecodeError, match="shape"):
        rcc.decompress(blob, rcc.Gaussian(np.zeros(5), 1.0))


def test_other_method_blob_is_decode_error():
    q, p = rcc.Gaussian(0.5, 0.5), rcc.Gaussian(0.0, 1.0)
    with pytest.raises(rcc.DecodeError, match="chunked"):
        rcc.decompress(rcc.PFR().encode(q, p, seed=1).to_bytes(), p)


def test_huge_shape_is_decode_error():
    blob = pack(Payload("chunked", (2, 0, 192), 1, (2**20, 2**20), b"\x80", 1))
    with pytest.raises(rcc.DecodeError):
        rcc.decompress(blob, rcc.Gaussian(0.0, 1.0))


def test_crc_folds_in_the_prior_fingerprint():
    q, p = gaussian_pair((5,))
    blob = rcc.compress(q, p, seed=2, chunk_bits=4.0).to_bytes()
    body = blob[:-4]
    assert int.from_bytes(blob[-4:], "little") == zlib.crc32(body, prior_fingerprint(p.broadcast_to((5,))))


# ----------------------------------------------------------------------------------------------
# golden bitstream: a format change must be deliberate

# chunked format 2: PFR indices under PFR's index law (inner code 2 + 256 * index code 1 = 258)
GOLDEN_HEX = "52434302100382020030e80f010625496e7258e8cd9a0318"
# chunked format 1 (index code 0, bit lengths under a KT categorical): still decoded
GOLDEN_HEX_V1 = "524343021003020030e80f0106314940076cccc9802dbd81ea"


def test_golden_bitstream():
    q = rcc.Gaussian([0.5, -0.25, 1.0, 0.0, -0.75, 0.25], 0.5)
    p = rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, seed=2024, chunk_bits=3.0)
    blob = msg.to_bytes()
    assert blob.hex() == GOLDEN_HEX
    assert msg.params == (258, 0, 48) and msg.num_bits == 37
    np.testing.assert_array_equal(rcc.decompress(bytes.fromhex(GOLDEN_HEX), p), msg.sample)
    # the same race in format 1 (49 payload bits) decodes to the same sample
    np.testing.assert_array_equal(rcc.decompress(bytes.fromhex(GOLDEN_HEX_V1), p), msg.sample)


GOLDEN_STEP_HEX = "5243430210048202003002e80f010c3564b153b1b6fde85eebced3"
GOLDEN_STEP_HEX_V1 = "52434302100402003002e80f010c3e648308c5d08bc65018d6500d"


def test_golden_bitstream_with_size_multiple():
    q = rcc.Gaussian(np.linspace(-1.0, 1.0, 12), 0.5)
    p = rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, seed=2024, chunk_bits=3.0, size_multiple=2)
    blob = msg.to_bytes()
    assert blob.hex() == GOLDEN_STEP_HEX
    np.testing.assert_array_equal(rcc.decompress(bytes.fromhex(GOLDEN_STEP_HEX), p), msg.sample)
    np.testing.assert_array_equal(rcc.decompress(bytes.fromhex(GOLDEN_STEP_HEX_V1), p), msg.sample)


def test_pfr_headroom_budget_follows_each_chunk_kl():
    """PFR(headroom_bits=h) scores at most 2^ceil(KL_c + h) candidates in chunk c (and at most
    max_candidates); equal-variance chunks (D_inf infinite) always use their whole budget."""
    q, p = rcc.Gaussian(np.linspace(-2.0, 2.0, 60), 1.0), rcc.Gaussian(0.0, 1.0)
    for ch, cap in ((rcc.PFR(headroom_bits=3), None), (rcc.PFR(2**9, headroom_bits=3), 2**9)):
        msg = rcc.compress(q, p, method=ch, seed=5, chunk_bits=4.0)
        blob = msg.to_bytes()
        budget = 2.0 ** np.ceil(msg.chunks.kl_bits + 3)
        if cap:
            budget = np.minimum(budget, cap)
        np.testing.assert_array_equal(msg.chunks.num_scored, budget)
        assert msg.info["num_truncated"] == msg.info["num_chunks"]
        np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)
    assert "headroom_bits=3" in repr(rcc.PFR(headroom_bits=3))
    for bad in (-1, 63, float("nan"), True, "3"):
        with pytest.raises(ValueError, match="headroom_bits"):
            rcc.PFR(headroom_bits=bad)


def test_size_multiple_auto_follows_the_mean_coordinate_kl():
    """size_multiple="auto" = round(0.4 chunk_bits / mean coordinate KL) in [1, 16], in the header."""
    for shift, scale in ((0.3, 0.9), (1.0, 0.5), (3.0, 0.2)):
        q, p = gaussian_pair((600,), seed=2, scale=scale, shift=shift)
        mean = rcc.kl_bits(q, p) / 600
        want = int(min(16, max(1, round(0.4 * 12.0 / mean))))
        msg = rcc.compress(q, p, method=rcc.PFR(max_candidates=2**12), seed=1, chunk_bits=12.0, size_multiple="auto")
        blob = msg.to_bytes()
        assert msg.info["size_multiple"] == want
        assert unpack(blob, prior=p).params[3:] == ((want,) if want > 1 else ())
        np.testing.assert_array_equal(rcc.decompress(blob, p), msg.sample)
    with pytest.raises(ValueError, match="size_multiple"):
        rcc.compress(q, p, size_multiple="big")
