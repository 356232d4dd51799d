"""Universal quantization (rcc.uq): round trips, exactness of the channel, bits vs information
content, reproducibility, the pinned format, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rcc.container import Payload, pack, unpack
from rcc.distributions import Gaussian, Laplace, Logistic, Uniform
from rcc.errors import DecodeError
from rcc.random import DOMAIN_DITHER, uniforms
from rcc.uq import MODE_GAUSSIAN, MODE_LAPLACE, MODE_TABLE, UQ, dither

FAMILIES = {"gaussian": Gaussian, "laplace": Laplace, "logistic": Logistic, "uniform": Uniform}
SHAPES = [(), (7,), (3, 4)]


class ShiftedLogistic(Logistic):
    """A Distribution rcc.uq does not know by type: coded through its generic cdf/sf/ppf."""


def make_prior(family: str, loc, scale):
    loc, scale = np.asarray(loc, float), np.asarray(scale, float)
    if family == "uniform":
        return Uniform(loc - 2.0 * scale, loc + 2.0 * scale)
    return {**FAMILIES, "generic": ShiftedLogistic}[family](loc, scale)


def make_pair(family: str, shape, seed: int, width=0.5, prior_scale=1.5):
    """(q, p, mu): mu drawn from p; q = Uniform(mu - width/2, mu + width/2)."""
    rng = np.random.default_rng(seed)
    p = make_prior(family, rng.normal(size=shape), prior_scale * np.exp(0.3 * rng.normal(size=shape)))
    mu = p.ppf(rng.uniform(0.001, 0.999, size=shape))
    return Uniform(mu - width / 2, mu + width / 2), p, np.asarray(mu, float)


def roundtrip(q, p, seed, **kw):
    msg = UQ().encode(q, p, seed, **kw)
    x = UQ().decode(msg.to_bytes(), p, seed=seed, width=None if msg.params[1] else kw.get("width"))
    assert x.shape == q.shape
    assert x.dtype == np.float64
    assert np.array_equal(x, msg.sample)  # bit for bit
    assert msg.num_bits == 8 * len(msg.payload)
    return msg, x


# ----------------------------------------------------------------------------------------------
# dither


def test_dither_equals_numpy_reference():
    for seed, n in [(0, 1), (7, 5), (2**64 - 1, 1001)]:
        ref = uniforms(seed, DOMAIN_DITHER, 0, 0, n) - 0.5
        assert np.array_equal(dither(seed, n), ref)
    u = dither(3, 10_000)
    assert u.min() > -0.5 and u.max() < 0.5


# ----------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("family", ["gaussian", "laplace", "logistic", "uniform", "generic"])
def test_roundtrip_each_family(family, shape):
    q, p, mu = make_pair(family, shape, seed=11)
    msg, x = roundtrip(q, p, seed=123)
    assert np.all(np.abs(x - mu) <= 0.25 * (1 + 1e-12))
    expected_mode = {"gaussian": MODE_GAUSSIAN, "laplace": MODE_LAPLACE}.get(family, MODE_TABLE)
    assert msg.params == (expected_mode, 1)
    assert msg.info["num_elements"] == max(1, int(np.prod(shape)))
    assert msg.info["escapes"] == 0


@pytest.mark.parametrize(
    "family, prior_scale, width",
    [("gaussian", 2e3, 1.0), ("gaussian", 3e7, 1.0), ("logistic", 1e5, 0.5), ("laplace", 1e-4, 1e-7),
     ("gaussian", 1e-3, 1.0), ("uniform", 300.0, 1.0)],
)
def test_roundtrip_wide_and_narrow_priors(family, prior_scale, width):
    """Windows from one bin to ~2**28 bins (multi-level tables) and wide Gaussian ranges."""
    q, p, mu = make_pair(family, (300,), seed=5, width=width, prior_scale=prior_scale)
    msg, x = roundtrip(q, p, seed=9)
    assert np.all(np.abs(x - mu) <= width / 2 * (1 + 1e-9))
    assert abs(msg.num_bits - msg.info["info_bits"]) <= 0.01 * msg.info["info_bits"] + 200


def test_escapes_roundtrip():
    """Inputs far outside the prior's bulk go through the escape symbol and still decode."""
    mu = np.array([0.1, 50.0, -1e6, 0.4, 1e8, -0.2])
    p = Uniform(-1.0, 1.0)
    msg, x = roundtrip(Uniform(mu - 0.05, mu + 0.05), p, seed=4)
    assert msg.info["escapes"] == 3
    assert np.all(np.abs(x - mu) <= 0.05 * (1 + 1e-9))
    msg, x = roundtrip(Uniform(mu - 0.05, mu + 0.05), Logistic(0.0, 0.1), seed=4)
    assert msg.info["escapes"] == 3
    # a Gaussian prior with an outlier beyond the quantized range falls back to tables
    msg, x = roundtrip(Uniform(mu - 0.05, mu + 0.05), Gaussian(0.0, 0.1), seed=4)
    assert msg.params[0] == MODE_TABLE and msg.info["escapes"] == 3


def test_per_element_step_given_to_decoder():
    rng = np.random.default_rng(2)
    mu, width = rng.normal(size=(4, 5)), rng.uniform(0.1, 2.0, size=(4, 5))
    q, p = Uniform(mu - width / 2, mu + width / 2), Logistic(0.0, 1.0)
    msg = UQ().encode(q, p, seed=8, width=width)
    assert msg.params[1] == 0  # per-element steps are not sent
    with pytest.raises(ValueError, match="width"):
        UQ().decode(msg.to_bytes(), p)
    x = UQ().decode(msg.to_bytes(), p, width=width)
    assert np.array_equal(x, msg.sample)
    assert np.all(np.abs(x - mu) <= width / 2 * (1 + 1e-12))
    # a common width may be withheld too; then the decoder must be given it
    msg = UQ().encode(Uniform(mu - 0.5, mu + 0.5), p, seed=8, width=1.0, send_width=False)
    assert np.array_equal(UQ().decode(msg.to_bytes(), p, width=1.0), msg.sample)
    assert msg.num_bits == UQ().encode(Uniform(mu - 0.5, mu + 0.5), p, seed=8).num_bits - 64
    with pytest.raises(DecodeError, match="width"):
        msg = UQ().encode(Uniform(mu - 0.5, mu + 0.5), p, seed=8)
        UQ().decode(msg.to_bytes(), p, width=0.75)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    family=st.sampled_from(["gaussian", "laplace", "logistic", "uniform", "generic"]),
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple),
    log_scale=st.floats(-3.0, 4.0),
    log_width=st.floats(-3.0, 2.0),
    per_element_width=st.booleans(),
    data_seed=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 2**64 - 1),
)
def test_roundtrip_property(family, shape, log_scale, log_width, per_element_width, data_seed, seed):
    rng = np.random.default_rng(data_seed)
    p = make_prior(family, rng.normal(size=shape) * 10**log_scale, 10**log_scale * rng.uniform(0.5, 2.0, size=shape))
    mu = p.ppf(rng.uniform(0.0005, 0.9995, size=shape)) + rng.normal(size=shape) * 10**log_width
    width = 10**log_width * (rng.uniform(0.5, 2.0, size=shape) if per_element_width else 1.0)
    q = Uniform(mu - width / 2, mu + width / 2)
    msg = UQ().encode(q, p, seed, width=width)
    x = UQ().decode(msg.to_bytes(), p, seed=seed, width=None if msg.params[1] else width)
    assert x.shape == tuple(shape)
    assert np.array_equal(x, msg.sample)
    assert np.all(np.abs(x - mu) <= width / 2 * (1 + 1e-9))


# ----------------------------------------------------------------------------------------------
# the channel is exact: (x - mu)/width + 1/2 ~ U(0, 1), independent of mu


@pytest.mark.parametrize("family", ["gaussian", "logistic", "laplace"])
def test_error_is_uniform_and_independent_of_mu(family):
    n, width = 20_000, 0.7
    q, p, mu = make_pair(family, (n,), seed=21, width=width)
    msg = UQ().encode(q, p, seed=2024)
    v = (msg.sample - mu) / width + 0.5
    assert stats.kstest(v, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(v, mu)[0, 1]) < 0.03
    # binned chi-square of the error within quartiles of mu
    bins = np.searchsorted(np.quantile(mu, [0.25, 0.5, 0.75]), mu)
    table = np.array([np.histogram(v[bins == b], bins=8, range=(0, 1))[0] for b in range(4)])
    assert stats.chi2_contingency(table).pvalue > 1e-3


# ----------------------------------------------------------------------------------------------
# real bits vs information content


def test_bits_match_information_content_gaussian_1e6():
    n = 10**6
    rng = np.random.default_rng(0)
    p = Gaussian(rng.normal(size=n), np.exp(0.3 * rng.normal(size=n)))
    mu = p.ppf(rng.random(n))
    msg = UQ().encode(Uniform(mu - 0.25, mu + 0.25), p, seed=0)
    info = msg.info["info_bits"]
    assert abs(msg.num_bits - info) <= 1e-3 * info + 64
    assert 2.5 < msg.num_bits / n < 3.5  # ~ h(p) - log2(width) bits per element


def test_bits_match_information_content_logistic_1e5():
    n = 10**5
    rng = np.random.default_rng(1)
    p = Logistic(rng.normal(size=n), np.exp(0.3 * rng.normal(size=n)))
    mu = p.ppf(rng.random(n))
    msg = UQ().encode(Uniform(mu - 0.25, mu + 0.25), p, seed=1)
    x = UQ().decode(msg.to_bytes(), p)
    assert np.array_equal(x, msg.sample)
    info = msg.info["info_bits"]
    assert abs(msg.num_bits - info) <= 1e-3 * info + 64


# ----------------------------------------------------------------------------------------------
# reproducibility and the pinned format


def test_encoding_is_reproducible():
    q, p, _ = make_pair("logistic", (50,), seed=3)
    a, b = UQ().encode(q, p, seed=99), UQ().encode(q, p, seed=99)
    assert a.to_bytes() == b.to_bytes()
    assert np.array_equal(a.sample, b.sample)
    assert UQ().encode(q, p, seed=100).to_bytes() != a.to_bytes()


@pytest.mark.parametrize("family", ["gaussian", "logistic"])
def test_fresh_process_decodes_bit_for_bit(family, tmp_path):
    q, p, _ = make_pair(family, (40,), seed=6)
    msg = UQ().encode(q, p, seed=31337)
    (tmp_path / "blob").write_bytes(msg.to_bytes())
    np.save(tmp_path / "a.npy", p.a)
    np.save(tmp_path / "b.npy", p.b)
    code = (
        "import sys, numpy as np; from rcc.uq import UQ; from rcc import distributions as d; "
        f"p = d.{type(p).__name__}(np.load(sys.argv[1] + '/a.npy'), np.load(sys.argv[1] + '/b.npy')); "
        "x = UQ().decode(open(sys.argv[1] + '/blob', 'rb').read(), p); "
        "sys.stdout.write(x.tobytes().hex())"
    )
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         check=True, env=env, timeout=120)
    assert out.stdout == msg.sample.tobytes().hex()


GOLDEN_MU = np.array([0.3, -1.2, 2.5, 0.0, 4.75])
GOLDEN = {
    "gaussian": "52434302010200010701059001000000000000e03f0314ddc3a5f080a49604abae1d10",
    "logistic": "52434302010202010701058001000000000000e03f90c3a5647a3af730a4b12a80",
}
GOLDEN_SAMPLE = [0.4559044916496403, -1.201102220723553, 2.748193429710932, 0.03716117216253334,
                 4.9261720682050765]


@pytest.mark.parametrize("family", sorted(GOLDEN))
def test_golden_bitstream(family):
    """Five elements, width 0.5, prior (0.5, 2.0), seed 7. A change here is a format change."""
    p = {"gaussian": Gaussian, "logistic": Logistic}[family](0.5, 2.0)
    msg = UQ().encode(Uniform(GOLDEN_MU - 0.25, GOLDEN_MU + 0.25), p, seed=7)
    assert msg.to_bytes().hex() == GOLDEN[family]
    assert msg.sample.tolist() == GOLDEN_SAMPLE
    x = UQ().decode(bytes.fromhex(GOLDEN[family]), p, seed=7)
    assert x.tolist() == GOLDEN_SAMPLE


# ----------------------------------------------------------------------------------------------
# bad input


def _q(n=3):
    mu = np.linspace(-1, 1, n)
    return Uniform(mu - 0.5, mu + 0.5)


@pytest.mark.parametrize(
    "q, p, seed, match",
    [
        (Gaussian(0.0, 1.0), Gaussian(0.0, 1.0), 1, "Gaussian"),
        (np.zeros(3), Gaussian(0.0, 1.0), 1, "ndarray"),
        (_q(3), np.zeros(3), 1, "ndarray"),
        (_q(3), "gaussian", 1, "str"),
        (_q(3), Gaussian(np.zeros(4), 1.0), 1, "broadcast"),
        (_q(3), Gaussian(np.zeros((2, 3)), 1.0), 1, "broadcast"),
        (_q(3), Gaussian(0.0, 1.0), -1, "seed"),
        (_q(3), Gaussian(0.0, 1.0), 2**64, "seed"),
        (_q(3), Gaussian(0.0, 1.0), 1.5, "seed"),
        (_q(3), Gaussian(0.0, 1.0), None, "seed"),
        (Uniform([0.0, 1e12], [1e-3, 1e12 + 1e-3]), Gaussian(0.0, 1.0), 1, "too large"),
    ],
)
def test_encode_bad_input(q, p, seed, match):
    with pytest.raises(ValueError, match=match):
        UQ().encode(q, p, seed)


def test_encode_bad_step_arguments():
    with pytest.raises(ValueError, match="width"):
        UQ().encode(_q(3), Gaussian(0.0, 1.0), 1, width=0.5)  # widths are 1.0
    with pytest.raises(ValueError, match="width"):
        UQ().encode(_q(3), Gaussian(0.0, 1.0), 1, width=[1.0, 1.0])
    with pytest.raises(ValueError, match="send_width"):
        UQ().encode(Uniform([0.0, 0.0], [1.0, 2.0]), Gaussian(0.0, 1.0), 1, send_width=True)
    with pytest.raises(ValueError, match="send_width"):
        UQ().encode(_q(3), Gaussian(0.0, 1.0), 1, send_width="yes")


def test_decode_mismatches():
    q, p, _ = make_pair("gaussian", (6,), seed=1)
    blob = UQ().encode(q, p, seed=5).to_bytes()
    with pytest.raises(DecodeError, match="seed"):
        UQ().decode(blob, p, seed=6)
    with pytest.raises(ValueError, match="seed"):
        UQ().decode(blob, p, seed=-3)
    with pytest.raises(DecodeError, match="broadcast"):
        UQ().decode(blob, Gaussian(np.zeros(7), 1.0))
    with pytest.raises(DecodeError, match="prior"):  # the prior's fingerprint is in the checksum
        UQ().decode(blob, Logistic(0.0, 1.0))
    with pytest.raises(ValueError, match="Distribution"):
        UQ().decode(blob, None)
    assert UQ().decode(blob, p).shape == (6,)
    # a scalar prior broadcasts to the blob's shape
    q2 = Uniform(np.zeros((2, 3)) - 0.5, np.zeros((2, 3)) + 0.5)
    blob2 = UQ().encode(q2, Logistic(0.0, 1.0), seed=5).to_bytes()
    assert UQ().decode(blob2, Logistic(0.0, 1.0)).shape == (2, 3)
    with pytest.raises(DecodeError):
        UQ().decode(blob2, Logistic(0.0, 1.0), width=0.5)


def _repack(blob: bytes, payload: bytes, p) -> bytes:
    c = unpack(blob, prior=p)
    return pack(Payload(c.method, c.params, c.seed, c.shape, payload, 8 * len(payload)), prior=p)


@pytest.mark.parametrize("family", ["gaussian", "logistic"])
def test_zero_and_garbage_ans_streams_with_valid_crc(family):
    """Streams that pass the CRC (re-packed) but are not what an encoder writes."""
    q, p, _ = make_pair(family, (200,), seed=8)
    blob = UQ().encode(q, p, seed=8).to_bytes()
    payload = unpack(blob, prior=p).data
    head = 8 + (2 if family == "gaussian" else 0)  # width, and kmin/kmax varints (small here)
    rng = np.random.default_rng(0)
    bad = [
        payload[:head] + bytes(len(payload) - head),  # all-zero words
        payload[:head] + bytes(4),
        payload[:head],  # empty stream for 200 symbols
        payload[:head] + rng.bytes(len(payload) - head),
        payload + rng.bytes(8),
        payload[:-5],
    ]
    for pl in bad:
        with pytest.raises(DecodeError):
            UQ().decode(_repack(blob, pl, p), p)


_BLOB_CASE = make_pair("logistic", (30,), seed=12)
_BLOB = UQ().encode(_BLOB_CASE[0], _BLOB_CASE[1], seed=12).to_bytes()
_BLOB_G = make_pair("gaussian", (30,), seed=12)
_BLOB_GB = UQ().encode(_BLOB_G[0], _BLOB_G[1], seed=12).to_bytes()


def _decode_only_decode_error(blob, p):
    try:
        x = UQ().decode(blob, p)
    except DecodeError:
        return None
    return x


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_decode_error(data):
    with pytest.raises(DecodeError):
        UQ().decode(data, _BLOB_CASE[1])
    with pytest.raises(DecodeError):
        UQ().decode(b"RCC\x01\x01" + data, _BLOB_CASE[1])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(which=st.booleans(), cut=st.integers(0, 10**6), bit=st.integers(0, 10**6), fix_crc=st.booleans())
def test_truncations_and_bit_flips_raise_decode_error(which, cut, bit, fix_crc):
    blob, p = (_BLOB, _BLOB_CASE[1]) if which else (_BLOB_GB, _BLOB_G[1])
    with pytest.raises(DecodeError):
        UQ().decode(blob[: cut % len(blob)], p)
    flipped = bytearray(blob)
    flipped[(bit // 8) % len(blob)] ^= 1 << (bit % 8)
    if fix_crc:  # a flip the CRC cannot see: must still be DecodeError or (rarely) a valid sample
        body = bytes(flipped[:-4])
        flipped = bytearray(body + zlib.crc32(body).to_bytes(4, "little"))
        x = _decode_only_decode_error(bytes(flipped), p)
        assert x is None or x.shape == (30,)
    else:
        with pytest.raises(DecodeError):
            UQ().decode(bytes(flipped), p)


# ----------------------------------------------------------------------------------------------
# UQStream: many sequential pushes in one ANS stream

from rcc.uq_stream import UQStream, UQStreamDecoder  # noqa: E402

STREAM_FAMILIES = ["gaussian", "laplace", "logistic", "uniform", "generic"]


def _chain(seed: int, n: int, steps: int, families, width=0.3, rng_seed=0):
    """Encode a chain whose prior i depends on sample i-1; returns (blob, samples, enc, priors_fn)."""
    rng = np.random.default_rng(rng_seed)
    u01 = rng.uniform(0.001, 0.999, size=(steps, n))

    def prior(i, prev):
        fam = families[i % len(families)]
        return make_prior(fam, 0.7 * prev, 1.0 + 0.15 * i)

    enc = UQStream(seed=seed)
    prev, samples = np.zeros(n), []
    for i in range(steps):
        p = prior(i, prev)
        mu = np.asarray(p.ppf(u01[i]), float)
        prev = enc.push(Uniform(mu - width / 2, mu + width / 2), p, width=width)
        assert np.all(np.abs(prev - mu) <= width / 2 * (1 + 1e-12))
        samples.append(prev)
    return enc.to_bytes(), samples, enc, prior


def _pop_chain(blob, n, steps, prior, width=0.3, seed=None):
    dec = UQStream.decoder(blob, seed=seed)
    prev, out = np.zeros(n), []
    for i in range(steps):
        prev = dec.pop(prior(i, prev), np.full(n, width))
        out.append(prev)
    dec.finish()
    return out


@pytest.mark.parametrize("families", [["gaussian"], ["logistic"], STREAM_FAMILIES])
def test_stream_roundtrip_sequential_priors(families):
    blob, samples, enc, prior = _chain(4, 50, 7, families)
    out = _pop_chain(blob, 50, 7, prior, seed=4)
    for a, b in zip(samples, out):
        assert np.array_equal(a, b)  # bit for bit
    assert enc.num_pushes == 7 and enc.num_bits == 8 * len(unpack(blob).data)
    c = unpack(blob)
    assert (c.method, c.params, c.shape, c.seed) == ("uq_stream", (7,), (350,), 4)


def test_stream_mixed_shapes_steps_and_escapes():
    """Per-push shapes and per-element steps; an index far outside the prior (explicit range or
    table escape) still round trips."""
    enc = UQStream(seed=11)
    mu1 = np.array([[0.2, -0.4, 30.0], [1.0, 2.0, -3.0]])
    width1 = np.array([0.5, 0.25, 1.0])
    x1 = enc.push(Uniform(mu1 - width1 / 2, mu1 + width1 / 2), Gaussian(0.0, 1.0), width=width1)
    mu2 = np.array([0.1, 40.0, -0.3, 0.0])
    x2 = enc.push(Uniform(mu2 - 0.1, mu2 + 0.1), Logistic(x1.ravel()[:4], 0.5), width=0.2)
    x3 = enc.push(Uniform(mu2 - 0.1, mu2 + 0.1), Laplace(x2, 1.0), width=0.2)
    assert enc.push_info[0]["explicit_range"] and enc.push_info[1]["escapes"] >= 1
    dec = UQStream.decoder(enc.to_bytes())
    y1 = dec.pop(Gaussian(0.0, 1.0), np.broadcast_to(width1, (2, 3)))
    y2 = dec.pop(Logistic(y1.ravel()[:4], 0.5), np.full(4, 0.2))
    y3 = dec.pop(Laplace(y2, 1.0), 0.2)
    dec.finish()
    assert y1.shape == (2, 3) and y2.shape == (4,)
    assert np.array_equal(x1, y1) and np.array_equal(x2, y2) and np.array_equal(x3, y3)


def test_stream_one_push_equals_uq_sample_and_law():
    """Push 0 uses UQ's dither (chunk 0): same sample as UQ.encode; push i uses chunk i."""
    q, p, _ = make_pair("logistic", (64,), seed=3)
    enc = UQStream(seed=9)
    x = enc.push(q, p)
    assert np.array_equal(x, UQ().encode(q, p, seed=9).sample)
    assert np.array_equal(dither(9, 64), uniforms(9, DOMAIN_DITHER, 0, 0, 64) - 0.5)
    x2 = enc.push(q, p)
    width = q.b - q.a
    u2 = uniforms(9, DOMAIN_DITHER, 1, 0, 64) - 0.5
    np.testing.assert_allclose(x2, width[0] * (np.floor((q.a + q.b) / 2 / width[0] - u2 + 0.5) + u2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "logistic"])
def test_stream_error_is_uniform_ks(family):
    """KS: the error x - mu of a stream push is U(-width/2, width/2), at a fixed seed."""
    width = 0.7
    rng = np.random.default_rng(1)
    p = make_prior(family, 0.0, 2.0)
    mu = np.asarray(p.ppf(rng.uniform(0.001, 0.999, 20000)), float)
    enc = UQStream(seed=21)
    enc.push(Uniform(mu[:5] - width / 2, mu[:5] + width / 2), p, width=width)  # a first push
    x = enc.push(Uniform(mu - width / 2, mu + width / 2), p, width=width)
    err = (x - mu) / width
    assert stats.kstest(err, stats.uniform(loc=-0.5, scale=1.0).cdf).pvalue > 1e-3
    assert np.all(np.abs(err) <= 0.5 + 1e-9)


def test_stream_bits_match_information_content_20_pushes():
    """The point of the stream: 20 pushes of 2048 elements cost their information content plus
    one stream's framing (real bits within 0.1 % + 64 bits), not 20 x ~60 bits."""
    blob, samples, enc, prior = _chain(0, 2048, 20, ["gaussian", "laplace", "logistic"], rng_seed=5)
    info = enc.info_bits
    assert enc.num_bits >= info - 1e-6
    assert enc.num_bits <= 1.001 * info + 64, (enc.num_bits, info)
    assert abs(enc.push_bits.sum() + 32 - enc.num_bits) <= 64
    out = _pop_chain(blob, 2048, 20, prior)
    assert np.array_equal(out[-1], samples[-1])


def test_stream_fresh_process_decodes_bit_for_bit(tmp_path):
    blob, samples, _, _ = _chain(13, 300, 4, STREAM_FAMILIES)
    (tmp_path / "s.bin").write_bytes(blob)
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_uq import _chain, _pop_chain\n"
        "_, _, _, prior = _chain(13, 300, 4, ['gaussian', 'laplace', 'logistic', 'uniform', 'generic'])\n"
        "out = _pop_chain(open(sys.argv[1] + '/s.bin', 'rb').read(), 300, 4, prior)\n"
        "print(np.concatenate(out).tobytes().hex())\n"
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    got = subprocess.run([sys.executable, "-c", code, str(tmp_path), os.path.dirname(__file__)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == np.concatenate(samples).tobytes().hex()


#: three pushes (Gaussian, Logistic, Laplace priors, each depending on the last sample), seed 7
GOLDEN_STREAM_HEX = "5243430206010307010f60f8157ff556c3a558d34f8301bc007b51"


def _golden_stream():
    enc = UQStream(seed=7)
    x1 = enc.push(Uniform(GOLDEN_MU - 0.25, GOLDEN_MU + 0.25), Gaussian(0.0, 2.0), width=0.5)
    x2 = enc.push(Uniform(GOLDEN_MU - 0.25, GOLDEN_MU + 0.25), Logistic(x1, 1.0), width=0.5)
    enc.push(Uniform(GOLDEN_MU - 0.25, GOLDEN_MU + 0.25), Laplace(x2, 1.0), width=0.5)
    return enc


def test_stream_golden_bitstream():
    enc = _golden_stream()
    assert enc.to_bytes().hex() == GOLDEN_STREAM_HEX
    dec = UQStream.decoder(bytes.fromhex(GOLDEN_STREAM_HEX), seed=7)
    y1 = dec.pop(Gaussian(0.0, 2.0), np.full(5, 0.5))
    y2 = dec.pop(Logistic(y1, 1.0), np.full(5, 0.5))
    dec.pop(Laplace(y2, 1.0), np.full(5, 0.5))
    dec.finish()


def test_stream_bad_input_and_misuse():
    enc = UQStream(seed=1)
    with pytest.raises(ValueError, match="seed"):
        UQStream(seed=-1)
    with pytest.raises(ValueError, match="Uniform"):
        enc.push(Gaussian(0.0, 1.0), Gaussian(0.0, 1.0))
    with pytest.raises(ValueError, match="broadcast"):
        enc.push(_q(3), Gaussian(np.zeros(4), 1.0))
    with pytest.raises(ValueError, match="width"):
        enc.push(_q(3), Gaussian(0.0, 1.0), width=0.5)
    assert enc.num_pushes == 0  # failed pushes leave the stream as it was
    enc.push(_q(3), Gaussian(0.0, 1.0), width=1.0)
    enc.push(_q(3), Logistic(0.0, 1.0), width=1.0)
    blob = enc.to_bytes()
    with pytest.raises(DecodeError, match="seed"):
        UQStream.decoder(blob, seed=2)
    with pytest.raises(DecodeError, match="uq"):
        UQStream.decoder(UQ().encode(_q(3), Gaussian(0.0, 1.0), 1).to_bytes())
    dec = UQStream.decoder(blob)
    with pytest.raises(ValueError, match="width"):
        dec.pop(Gaussian(0.0, 1.0), [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="broadcast"):
        dec.pop(Gaussian(np.zeros(3), 1.0), np.ones(4))
    with pytest.raises(DecodeError, match="exceeds"):
        dec.pop(Gaussian(0.0, 1.0), np.ones(7))
    with pytest.raises(DecodeError, match="popped"):
        dec.finish()  # nothing popped yet
    dec.pop(Gaussian(0.0, 1.0), np.ones(3))
    dec.pop(Logistic(0.0, 1.0), np.ones(3))
    with pytest.raises(DecodeError, match="all were popped"):
        dec.pop(Logistic(0.0, 1.0), np.ones(3))
    dec.finish()


_STREAM_BLOB, _, _, _STREAM_PRIOR = _chain(17, 40, 3, ["gaussian", "logistic", "laplace"])


def _stream_decode_only_decode_error(blob):
    try:
        _pop_chain(blob, 40, 3, _STREAM_PRIOR)
    except DecodeError:
        return None
    return True


@settings(max_examples=60, deadline=None, derandomize=True)
@given(cut=st.integers(0, 10**6), bit=st.integers(0, 10**6), fix_crc=st.booleans(), junk=st.binary(max_size=80))
def test_stream_corruption_raises_decode_error(cut, bit, fix_crc, junk):
    blob = _STREAM_BLOB
    with pytest.raises(DecodeError):
        _pop_chain(blob[: cut % len(blob)], 40, 3, _STREAM_PRIOR)
    with pytest.raises(DecodeError):
        _pop_chain(junk, 40, 3, _STREAM_PRIOR)
    flipped = bytearray(blob)
    flipped[(bit // 8) % len(blob)] ^= 1 << (bit % 8)
    if fix_crc:  # a flip the CRC cannot see: DecodeError or (rarely) a valid-looking stream
        body = bytes(flipped[:-4])
        _stream_decode_only_decode_error(body + zlib.crc32(body).to_bytes(4, "little"))
    else:
        with pytest.raises(DecodeError):
            _pop_chain(bytes(flipped), 40, 3, _STREAM_PRIOR)


def test_stream_garbage_payload_with_valid_crc():
    c = unpack(_STREAM_BLOB)
    rng = np.random.default_rng(0)
    for pl in (bytes(len(c.data)), b"", rng.bytes(len(c.data)), c.data[:-3], c.data + rng.bytes(8)):
        with pytest.raises(DecodeError):
            _pop_chain(pack(Payload(c.method, c.params, c.seed, c.shape, pl, 8 * len(pl))), 40, 3, _STREAM_PRIOR)


def test_stream_top_alone_decodes_the_first_pushes():
    """Progressive decoding: the last 4 * pop_words[i] bytes of the payload (the top of the
    stack) pop pushes 0..i exactly as the whole stream does; the whole payload also finishes."""
    rng = np.random.default_rng(4)
    width = np.full(400, 0.3)
    enc, priors, samples, prev = UQStream(seed=9), [], [], np.zeros(400)
    for i in range(5):
        p = Logistic(0.9 * prev, 0.6) if i % 2 else Gaussian(0.5 * prev, 1.0 + 0.1 * i)
        mu = rng.normal(size=400)
        samples.append(enc.push(Uniform(mu - width / 2, mu + width / 2), p, width=width))
        priors.append(p)
        prev = samples[-1]
    payload, words = enc.payload, enc.pop_words
    assert words.shape == (5,) and (np.diff(words) > 0).all() and words[-1] == -(-len(payload) // 4)
    short = -len(payload) % 4
    for i in range(5):
        n = min(len(payload), 4 * int(words[i]) - short)
        dec, held = UQStreamDecoder.from_top(payload[len(payload) - n:], len(payload), 9, 5, 2000)
        assert held == words[i]
        for j in range(i + 1):
            np.testing.assert_array_equal(dec.pop(priors[j], width), samples[j])
    dec.finish()  # i = 4: the whole payload
    with pytest.raises(ValueError, match="bytes"):
        UQStreamDecoder.from_top(payload + b"x", len(payload), 9, 5, 2000)


# ----------------------------------------------------------------------------------------------
# the channel contract: width= (step= deprecated), decode_payload, the info vocabulary


def test_step_is_a_deprecated_alias_of_width():
    """step= / send_step= give the same bits as width= / send_width=, with a DeprecationWarning."""
    mu = np.linspace(-1.0, 1.0, 6)
    q, p = Uniform(mu - 0.25, mu + 0.25), Logistic(0.0, 1.0)
    new = UQ().encode(q, p, seed=3, width=0.5, send_width=False)
    with pytest.warns(DeprecationWarning, match="width="):
        old = UQ().encode(q, p, seed=3, step=0.5)
    with pytest.warns(DeprecationWarning, match="send_width="):
        old2 = UQ().encode(q, p, seed=3, width=0.5, send_step=False)
    assert old2.to_bytes() == new.to_bytes() and old.sample.tolist() == new.sample.tolist()
    with pytest.warns(DeprecationWarning, match="width="):
        x = UQ().decode(new.to_bytes(), p, step=0.5)
    assert x.tolist() == new.sample.tolist()
    with pytest.raises(ValueError, match="width= only"):
        UQ().encode(q, p, seed=3, width=0.5, step=0.5)
    with pytest.raises(ValueError, match="send_width= only"):
        UQ().encode(q, p, seed=3, send_width=False, send_step=False)

    enc, enc_old = UQStream(seed=4), UQStream(seed=4)
    a = enc.push(q, p, width=0.5)
    with pytest.warns(DeprecationWarning, match="width="):
        b = enc_old.push(q, p, step=0.5)
    assert a.tolist() == b.tolist() and enc.to_bytes() == enc_old.to_bytes()
    dec = UQStream.decoder(enc.to_bytes())
    with pytest.warns(DeprecationWarning, match="width="):
        y = dec.pop(p, step=np.full(6, 0.5))
    assert y.tolist() == a.tolist()
    dec.finish()
    with pytest.raises(ValueError, match="needs the cell widths"):
        UQStream.decoder(enc.to_bytes()).pop(p)
    with pytest.raises(ValueError, match="width= only"):
        UQStream.decoder(enc.to_bytes()).pop(p, 0.5, step=0.5)


def test_missing_width_names_the_keyword():
    mu = np.linspace(-1.0, 1.0, 4)
    msg = UQ().encode(Uniform(mu - 0.25, mu + 0.25), Gaussian(0.0, 1.0), seed=1, width=0.5, send_width=False)
    with pytest.raises(DecodeError, match="width="):
        UQ().decode(msg.to_bytes(), Gaussian(0.0, 1.0))


@pytest.mark.parametrize("family", ["gaussian", "logistic", "laplace", "uniform"])
def test_decode_payload_equals_decode(family):
    q, p, _ = make_pair(family, (3, 5), seed=2)
    msg = UQ().encode(q, p, seed=11)
    payload = msg.headerless()
    assert payload.method == "uq" and payload.params == msg.params and payload.shape == (3, 5)
    x = UQ().decode_payload(payload, p)
    assert x.tolist() == msg.sample.tolist() == UQ().decode(msg.to_bytes(), p).tolist()
    with pytest.raises(DecodeError, match="broadcast"):
        UQ().decode_payload(payload, Gaussian(np.zeros(4), 1.0))
    with pytest.raises(DecodeError):
        UQ().decode_payload(Payload("uq", (7, 0), 11, (3, 5), payload.data, payload.num_bits), p)
    with pytest.raises(DecodeError):  # another method's payload
        UQ().decode_payload(Payload("pfr", payload.params, 11, (3, 5), payload.data, payload.num_bits), p)


def test_rcc_decode_dispatches_uq():
    import rcc

    q, p, _ = make_pair("logistic", (7,), seed=3)
    msg = UQ().encode(q, p, seed=5)
    assert rcc.decode(msg.to_bytes(), p).tolist() == msg.sample.tolist()
    assert rcc.decode(msg.headerless(), p).tolist() == msg.sample.tolist()


def test_info_vocabulary():
    """kl_bits (KL[q || p] of the uniform target, close to the information content), num_scored 0,
    truncated False; kl_bits is nan for a prior without a closed form."""
    q, p, _ = make_pair("gaussian", (20_000,), seed=6)
    info = UQ().encode(q, p, seed=6).info
    assert info["num_scored"] == 0 and info["truncated"] is False
    assert abs(info["kl_bits"] - info["info_bits"]) < 0.01 * info["info_bits"] + 16

    class Shifted(Logistic):  # a Distribution of a family the divergences do not know
        family = 99

    mu = np.zeros(3)
    info = UQ().encode(Uniform(mu - 0.5, mu + 0.5), Shifted(0.0, 1.0), seed=1).info
    assert np.isnan(info["kl_bits"]) and info["truncated"] is False
    stream = UQStream(seed=1)
    stream.push(Uniform(mu - 0.5, mu + 0.5), Gaussian(0.0, 1.0))
    assert stream.message().info["truncated"] is False and stream.message().info["num_scored"] == 0


def test_non_canonical_ans_tail_is_refused():
    """A stream whose stored form ends in a zero byte is not one an encoder writes."""
    q, p, _ = make_pair("logistic", (50,), seed=8)
    blob = UQ().encode(q, p, seed=8).to_bytes()
    payload = unpack(blob, prior=p).data
    with pytest.raises(DecodeError, match="non-canonical"):
        UQ().decode(_repack(blob, payload + b"\x00", p), p)


def test_pop_prior_check_is_the_shared_one():
    enc = UQStream(seed=2)
    enc.push(_q(3), Gaussian(0.0, 1.0), width=1.0)
    dec = UQStream.decoder(enc.to_bytes())
    with pytest.raises(ValueError, match="Distribution; got ndarray"):
        dec.pop(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="Distribution; got NoneType"):
        UQ().decode(enc.to_bytes(), None)


def test_uq_stream_names_stay_importable_from_rcc_uq():
    from rcc import uq, uq_stream
    from rcc.uq import UQStreamDecoder as Old

    assert uq.UQStream is uq_stream.UQStream and Old is uq_stream.UQStreamDecoder
    with pytest.raises(AttributeError):
        uq.NoSuchName

