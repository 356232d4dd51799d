"""The channel contract (rcc/channel.py): one decode for every method, the headerless form, one
info vocabulary, compress's result type, and a channel defined outside rcc that plugs into
rcc.decode and rcc.compress through the hooks alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rcc
from rcc._chunk_codes import FixedWidthCode
from rcc._race import scorer
from rcc.channel import SelectionChannel, channel_class, expect_params
from rcc.container import METHODS

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

P = rcc.Gaussian(0.0, 1.0)
Q = rcc.Gaussian([0.8, -0.4, 0.3], 0.5)
MU = np.linspace(-1.0, 1.0, 12)
Q_UQ, P_UQ = rcc.Uniform(MU - 0.25, MU + 0.25), rcc.Logistic(0.0, 1.0)
Q_WIDE = rcc.Gaussian(np.linspace(-2.0, 2.0, 40), 0.6)

# name -> (encode() -> Message, the prior, the channel's own decoder(blob, p))
CASES = {
    "pfr": (lambda: rcc.PFR().encode(Q, P, seed=3), P, lambda b, p: rcc.PFR().decode(b, p)),
    "pfr truncated": (lambda: rcc.PFR(max_candidates=64).encode(Q, P, seed=3), P, lambda b, p: rcc.PFR().decode(b, p)),
    "orc": (lambda: rcc.ORC(num_candidates=2**10).encode(Q, P, seed=3), P, lambda b, p: rcc.ORC().decode(b, p)),
    "mrc": (lambda: rcc.MRC(num_candidates=2**8).encode(Q, P, seed=3), P, lambda b, p: rcc.MRC().decode(b, p)),
    "hybrid": (lambda: rcc.Hybrid(num_bins=4).encode(Q, P, seed=3), P, lambda b, p: rcc.Hybrid().decode(b, p)),
    "hybrid orc": (lambda: rcc.Hybrid(num_bins=4, inner="orc", num_candidates=2**8).encode(Q, P, seed=3), P,
                   lambda b, p: rcc.Hybrid().decode(b, p)),
    "uq": (lambda: rcc.UQ().encode(Q_UQ, P_UQ, seed=3), P_UQ, lambda b, p: rcc.UQ().decode(b, p)),
    "chunked pfr": (lambda: rcc.compress(Q_WIDE, P, seed=3, chunk_bits=4.0), P, rcc.decompress),
    "chunked orc": (lambda: rcc.compress(Q_WIDE, P, method=rcc.ORC(num_candidates=2**10), seed=3, chunk_bits=4.0,
                                         layout="even"), P, rcc.decompress),
    "chunked mrc": (lambda: rcc.compress(Q_WIDE, P, method=rcc.MRC(num_candidates=2**8), seed=3, chunk_bits=4.0,
                                         size_multiple=2), P, rcc.decompress),
    "chunked hybrid": (lambda: rcc.compress(Q_WIDE, P, method=rcc.Hybrid(num_bins=4), seed=3, chunk_bits=4.0), P,
                       rcc.decompress),
}


@pytest.fixture(scope="module")
def messages():
    return {name: encode() for name, (encode, _, _) in CASES.items()}


# ----------------------------------------------------------------------------------------------
# rcc.decode: one entry point, dispatched on the method name


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_dispatches_to_the_channel_bit_for_bit(messages, name):
    """rcc.decode of the blob and of the headerless Payload equals the channel's own decoder and
    the encoder's sample, bit for bit."""
    _, p, own = CASES[name]
    msg = messages[name]
    blob = msg.to_bytes()
    want = msg.sample.tobytes()
    assert own(blob, p).tobytes() == want
    assert rcc.decode(blob, p).tobytes() == want
    assert rcc.decode(blob, p, seed=msg.seed).tobytes() == want
    payload = msg.headerless()
    assert isinstance(payload, rcc.Payload) and payload.method == msg.method
    assert rcc.decode(payload, p).tobytes() == want
    assert payload.to_bytes(prior=p) == blob  # the container is the payload plus a header and CRC
    cls = channel_class(msg.method)
    if cls is not None:
        assert cls().decode_payload(payload, p).tobytes() == want


@pytest.mark.parametrize("name", sorted(CASES))
def test_info_vocabulary(messages, name):
    """Every channel's info has kl_bits (float), num_scored (int) and truncated (bool)."""
    info = messages[name].info
    assert isinstance(info["kl_bits"], float) and info["kl_bits"] >= 0.0
    assert isinstance(info["num_scored"], int) and info["num_scored"] >= 0
    assert isinstance(info["truncated"], bool)
    assert "certified" not in info and "stopped_early" not in info and "num_candidates" not in info


def test_truncated_means_what_rcc_channel_says():
    """PFR: truncated iff the budget cut the race; ORC: unless it stopped early; MRC: always; UQ:
    never; compress: any chunk."""
    q_eq = rcc.Gaussian(1.0, 1.0)  # equal variances: D_inf infinite, no stopping rule
    assert not rcc.PFR().encode(rcc.Gaussian(1.0, 0.5), P, seed=1).info["truncated"]
    assert rcc.PFR(max_candidates=16).encode(q_eq, P, seed=1).info["truncated"]
    assert not rcc.ORC(num_candidates=2**12).encode(rcc.Gaussian(0.3, 0.8), P, seed=1).info["truncated"]
    assert rcc.ORC(num_candidates=16).encode(q_eq, P, seed=1).info["truncated"]
    assert rcc.MRC(num_candidates=16).encode(rcc.Gaussian(0.3, 0.8), P, seed=1).info["truncated"]
    assert not rcc.UQ().encode(Q_UQ, P_UQ, seed=1).info["truncated"]
    msg = rcc.compress(rcc.Gaussian(np.ones(8), 1.0), P, method=rcc.PFR(max_candidates=2**6), seed=1, chunk_bits=4.0)
    assert msg.info["truncated"] and msg.info["num_truncated"] == int(msg.chunks.truncated.sum()) >= 1
    msg = rcc.compress(rcc.Gaussian(np.linspace(-1, 1, 8), 0.5), P, seed=1, chunk_bits=4.0)
    assert not msg.info["truncated"] and msg.info["num_truncated"] == 0


@pytest.mark.parametrize("name", ["rcc.channel", "rcc.container"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------
# the headerless form


def test_payload_checks_on_construction():
    """A Payload rebuilt from damaged fields fails on construction with a DecodeError (a ValueError)."""
    good = dict(method="pfr", params=(2, 0), seed=1, shape=(3,), data=b"\x80", num_bits=1)
    assert rcc.Payload(**good).to_bytes()[:3] == b"RCC"
    for change, match in (({"method": "zip"}, "method"), ({"num_bits": 9}, "num_bits"), ({"data": "x"}, "bytes"),
                          ({"seed": -1}, "seed"), ({"seed": 2**64}, "seed"), ({"params": (1.5,)}, "params"),
                          ({"shape": (1,) * 33}, "shape"), ({"params": 3}, "params")):
        with pytest.raises(rcc.DecodeError, match=match):
            rcc.Payload(**{**good, **change})
    p = rcc.Payload("pfr", [2, np.uint64(0)], np.int64(1), [3], bytearray(b"\x80"), 1)
    assert p.params == (2, 0) and p.shape == (3,) and isinstance(p.data, bytes) and type(p.seed) is int


def test_payload_decode_errors(messages):
    """Another seed, another method for a channel, a prior of another shape, a uq_stream payload and
    a non-distribution prior are refused by name."""
    msg = messages["pfr"]
    payload = msg.headerless()
    with pytest.raises(rcc.DecodeError, match="seed"):
        rcc.decode(payload, P, seed=msg.seed + 1)
    with pytest.raises(rcc.DecodeError, match="'pfr'"):
        rcc.ORC().decode_payload(payload, P)
    with pytest.raises(rcc.DecodeError, match="broadcast"):
        rcc.decode(payload, rcc.Gaussian(np.zeros(4), 1.0))
    with pytest.raises(ValueError, match="Distribution"):
        rcc.decode(payload, None)
    with pytest.raises(ValueError, match="Payload"):
        rcc.PFR().decode_payload(msg.to_bytes(), P)
    stream = rcc.UQStream(seed=1)
    stream.push(Q_UQ, P_UQ, width=0.5)
    with pytest.raises(rcc.DecodeError, match="UQStreamDecoder"):
        rcc.decode(stream.to_bytes(), P_UQ)


@PROPERTY
@given(
    method=st.sampled_from(["pfr", "orc", "mrc", "hybrid", "uq", "chunked"]),
    params=st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 40), max_size=5).map(tuple),
    seed=st.integers(0, 2**64 - 1),
    shape=st.lists(st.integers(0, 6), max_size=3).map(tuple),
    data=st.binary(max_size=24),
)
def test_crafted_payloads_never_crash(method, params, seed, shape, data):
    """Any Payload of any registered method decodes to a sample of its shape or raises DecodeError:
    no other exception from numba, constriction or numpy."""
    payload = rcc.Payload(method, params, seed, shape, data, 8 * len(data))
    try:
        x = rcc.decode(payload, P)
    except rcc.DecodeError:
        return
    assert x.shape == shape


# ----------------------------------------------------------------------------------------------
# rcc.compress's result type


GOLDEN_HEX = "52434302100382020030e80f010625496e7258e8cd9a0318"  # tests/test_chunked.py (chunked format 2)


def test_compress_returns_a_message():
    """compress -> rcc.Message: to_bytes() is the blob of before (the golden bitstream), the
    per-chunk arrays have shape (C,), and decompress takes the Message too."""
    q = rcc.Gaussian([0.5, -0.25, 1.0, 0.0, -0.75, 0.25], 0.5)
    msg = rcc.compress(q, P, seed=2024, chunk_bits=3.0)
    assert isinstance(msg, rcc.Message) and msg.method == "chunked"
    assert msg.to_bytes().hex() == GOLDEN_HEX
    c = msg.info["num_chunks"]
    for name, dtype in (("kl_bits", np.float64), ("dinf_bits", np.float64), ("sizes", np.int64), ("index", np.uint64),
                        ("num_scored", np.int64), ("truncated", np.bool_)):
        arr = getattr(msg.chunks, name)
        assert arr.shape == (c,) and arr.dtype == dtype, name
    assert msg.info["num_scored"] == int(msg.chunks.num_scored.sum())
    assert msg.num_bits + msg.overhead_bits == 8 * len(msg.to_bytes())
    assert rcc.decompress(msg, P).tobytes() == msg.sample.tobytes()
    assert rcc.decompress(msg.headerless(), P).tobytes() == msg.sample.tobytes()
    with pytest.raises(rcc.DecodeError, match="not 'chunked'"):
        rcc.decompress(rcc.PFR().encode(Q, P, seed=1).headerless(), P)


def test_deprecated_compress_keywords():
    """return_report=True and size_step= work one more release, with a DeprecationWarning."""
    q = rcc.Gaussian(np.linspace(-1.0, 1.0, 12), 0.5)
    want = rcc.compress(q, P, seed=2024, chunk_bits=3.0, size_multiple=2)
    with pytest.warns(DeprecationWarning, match="size_multiple"):
        got = rcc.compress(q, P, seed=2024, chunk_bits=3.0, size_step=2)
    assert got.to_bytes() == want.to_bytes()
    with pytest.warns(DeprecationWarning, match="return_report"):
        blob, msg = rcc.compress(q, P, seed=2024, chunk_bits=3.0, size_multiple=2, return_report=True)
    assert blob == want.to_bytes() and msg.sample.tobytes() == want.sample.tobytes()
    with pytest.raises(ValueError, match="return_report"):
        rcc.compress(q, P, return_report="yes")


@pytest.mark.parametrize("layout", ["kl", "even"])
@pytest.mark.parametrize("channel", [rcc.Hybrid(num_bins=4), rcc.Hybrid(num_bins=8, inner="orc", num_candidates=2**10)])
def test_hybrid_chunks(channel, layout):
    """Hybrid's chunk code: chunks of at most 64 coordinates (also where q equals p over
    thousands), bit-exact round trips through decompress and the Payload, header (5, inner, M,
    N, chunk_bits)."""
    mu = np.concatenate([np.linspace(-0.5, 0.5, 150), np.zeros(1000)])
    q = rcc.Gaussian(mu, np.where(np.arange(mu.size) < 150, 0.8, 1.0))
    msg = rcc.compress(q, P, method=channel, seed=12, chunk_bits=8.0, layout=layout)
    assert msg.chunks.sizes.max() <= 64 and msg.chunks.sizes.sum() == mu.size
    assert msg.params[:4] == (5, 0 if channel.inner == "pfr" else 1, channel.num_bins, channel.num_candidates or 0)
    assert rcc.decompress(msg.to_bytes(), P).tobytes() == msg.sample.tobytes()
    assert rcc.decode(msg.headerless(), P).tobytes() == msg.sample.tobytes()
    assert msg.info["num_truncated"] == int(msg.chunks.truncated.sum())


def test_chunked_hybrid_sample_is_exact():
    """Exact hybrid chunks (inner PFR): the standardised sample (x - mu) / sigma of 600
    coordinates is N(0, 1) (KS test, fixed seed), and its bits stay near the KL."""
    rng = np.random.default_rng(3)
    mu, sigma = rng.normal(0.0, 1.0, 600), rng.uniform(0.3, 0.6, 600)
    q = rcc.Gaussian(mu, sigma)
    msg = rcc.compress(q, P, method=rcc.Hybrid(num_bins=4), seed=21, chunk_bits=10.0)
    assert not msg.info["truncated"]
    assert scipy.stats.kstest((msg.sample - mu) / sigma, "norm").pvalue > 0.01
    assert msg.num_bits < 1.6 * msg.info["kl_bits"] + 16 * msg.info["num_chunks"]


def test_a_channel_without_chunk_code_is_refused():
    """compress refuses a channel that supplies no chunk code, by name."""

    class Opaque(rcc.channel.Channel):
        def __repr__(self):
            return "Opaque()"

    with pytest.raises(ValueError, match="Opaque.*cannot be chunked"):
        rcc.compress(Q_WIDE, P, method=Opaque())


# ----------------------------------------------------------------------------------------------
# a channel defined outside rcc: adding a channel touches one file


class Best4(SelectionChannel):
    """Toy channel: the best of 4 shared candidates by q/p, its index in 2 bits (biased)."""

    method = "best4-test"
    method_code = 250

    def select(self, pair, seed, chunk):
        return int(np.argmax(scorer(pair, seed, chunk)(0, 4))), {"num_scored": 4, "truncated": True}

    def expected_candidates(self, kl, dinf, size):
        return 4.0

    def index_params(self, kl):
        return ()

    def write_index(self, w, index, params):
        w.write(index - 1, 2)

    def read_index(self, rd, params):
        expect_params(params, 0, self.method)
        return rd.read(2) + 1

    def chunk_code(self):
        return FixedWidthCode(4)

    @classmethod
    def chunk_code_from(cls, params):
        if params != (4,):
            raise rcc.DecodeError(f"best4 chunk parameters {params}")
        return FixedWidthCode(4)

    def __repr__(self):
        return "Best4()"


def test_a_new_channel_plugs_in_through_the_hooks():
    """Best4, defined here, is registered by its definition: rcc.decode reads its messages, and
    rcc.compress chunks it (by instance or by name) with no edit of rcc."""
    assert METHODS["best4-test"] == 250 and channel_class("best4-test") is Best4
    msg = Best4().encode(Q, P, seed=9)
    assert msg.num_bits == 2 and msg.info["num_scored"] == 4
    assert rcc.decode(msg.to_bytes(), P).tobytes() == msg.sample.tobytes()
    assert rcc.decode(msg.headerless(), P).tobytes() == msg.sample.tobytes()
    for method in (Best4(), "best4-test"):
        big = rcc.compress(Q_WIDE, P, method=method, seed=9, chunk_bits=2.0)
        assert big.params[:2] == (250, 4) and big.info["channel"] == "Best4()"
        assert big.num_bits >= 2 * big.info["num_chunks"]
        assert rcc.decode(big.to_bytes(), P).tobytes() == big.sample.tobytes()
        assert rcc.decompress(big.to_bytes(), P).tobytes() == big.sample.tobytes()
    with pytest.raises(ValueError, match="clashes"):
        type("Clash", (Best4,), {"method": "other-test", "method_code": 250})
