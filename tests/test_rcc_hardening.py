"""Hardening of the rcc decoders and encoders against hostile and careless input (issue 9).

What is checked, and why:

* bounded decoding: a blob of a few dozen bytes with a valid checksum that declares 2**26
  elements is refused by every decoder with a DecodeError naming the size, the limit and
  ``max_elements=``, before anything of that size is allocated (tracemalloc peak);
* a wrong prior is detected: its fingerprint is folded into the container's CRC-32, so a shifted
  loc, another scale or another family is a DecodeError for PFR, ORC, MRC, Hybrid, UQ and
  ``rcc.decompress``, while equivalent spellings of one prior decode;
* valid input never fails after the expensive work: indices of messages with thousands of bits
  of KL code (Golomb parameter capped), Hybrid with 2**17 bins on 64 coordinates, unsupported
  family pairs are ValueErrors up front, and budgets that mean hours warn before the race;
* mutated blobs (bit flips, truncations, extensions, each with the checksum recomputed so that
  the mutation reaches the parser) decode to an array of the right shape or a DecodeError, for
  every channel: nothing else escapes (constriction's PanicException included).
"""

from __future__ import annotations

import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rcc
from rcc import DecodeError
from rcc.coding import BitWriter, write_zipf_index
from rcc.container import FORMAT_VERSION, Payload, _parse, pack, prior_fingerprint
from rcc.uq import UQStreamDecoder

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
P = rcc.Gaussian(0.0, 1.0)
HUGE = (2**26,)
#: A decoder that refuses a blob may allocate this much at most (bytes), whatever it declares.
PEAK_LIMIT = 2**20


def _index_payload(index: int = 3, m: int = 4) -> tuple[bytes, int]:
    w = BitWriter()
    write_zipf_index(w, index, m)
    return w.getvalue()


def _huge_blobs():
    """(name, blob, decode) for every decoder: valid CRC (prior folded in), shape 2**26."""
    payload, nbits = _index_payload()
    mrc_payload, mrc_bits = b"\x00", 4
    cases = [
        ("pfr", pack(Payload("pfr", (4, 0), 1, HUGE, payload, nbits), prior=P), lambda b: rcc.PFR().decode(b, P)),
        ("orc", pack(Payload("orc", (4, 16), 1, HUGE, payload, nbits), prior=P), lambda b: rcc.ORC().decode(b, P)),
        ("mrc", pack(Payload("mrc", (16,), 1, HUGE, mrc_payload, mrc_bits), prior=P), lambda b: rcc.MRC().decode(b, P)),
        ("hybrid", pack(Payload("hybrid", (0, 4, 4, 0), 1, HUGE, payload, nbits), prior=P),
         lambda b: rcc.Hybrid().decode(b, P)),
        ("uq", pack(Payload("uq", (2, 0), 1, HUGE, b"\xc3\xa5\xc3\xa5", 32), prior=P),
         lambda b: rcc.UQ().decode(b, P, width=1.0)),
        ("chunked", pack(Payload("chunked", (2, 0, 192), 1, HUGE, b"\x80", 1), prior=P),
         lambda b: rcc.decompress(b, P)),
        ("uq_stream", pack(Payload("uq_stream", (1,), 1, HUGE, b"\xc3\xa5\xc3\xa5", 32)),
         lambda b: rcc.UQStream.decoder(b)),
    ]
    return cases


@pytest.mark.parametrize("name, blob, decode", _huge_blobs(), ids=[c[0] for c in _huge_blobs()])
def test_huge_declared_shape_is_a_fast_decode_error(name, blob, decode):
    """A ~30-byte blob declaring 2**26 elements: DecodeError naming the size and the limit, with
    less than 1 MiB allocated (the old decoders allocated gigabytes and ran for minutes)."""
    assert len(blob) < 50
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match=r"67108864 elements.*16777216.*max_elements"):
            decode(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT


def test_from_top_bounds_the_declared_counts():
    """UQStreamDecoder.from_top takes its push and element counts from the caller (often from a
    file header): counts above max_elements are a DecodeError before anything is done."""
    with pytest.raises(DecodeError, match="max_elements"):
        UQStreamDecoder.from_top(b"\x00" * 8, 8, 1, 3, 2**26)
    with pytest.raises(DecodeError, match="max_elements"):
        UQStreamDecoder.from_top(b"\x00" * 8, 8, 1, 2**30, 10)
    with pytest.raises(ValueError, match="max_elements"):
        UQStreamDecoder.from_top(b"\x00" * 8, 8, 1, 1, 10, max_elements=0)


def test_max_elements_is_the_limit_and_can_be_raised():
    """A valid blob of 100 elements decodes with max_elements >= 100 and is refused below."""
    q = rcc.Gaussian(np.linspace(-1.0, 1.0, 100), 0.5)
    msg = rcc.compress(q, P, seed=3, chunk_bits=8.0)
    blob = msg.to_bytes()
    with pytest.raises(DecodeError, match="max_elements"):
        rcc.decompress(blob, P, max_elements=99)
    with pytest.raises(DecodeError, match="max_elements"):
        rcc.decode(msg.headerless(), P, max_elements=99)
    np.testing.assert_array_equal(rcc.decompress(blob, P, max_elements=100), msg.sample)
    msg = rcc.ORC(num_candidates=16).encode(q, P, seed=1)
    with pytest.raises(DecodeError, match="max_elements"):
        rcc.ORC().decode(msg.to_bytes(), P, max_elements=50)
    np.testing.assert_array_equal(rcc.ORC().decode(msg.to_bytes(), P, max_elements=100), msg.sample)
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_elements"):
            rcc.decompress(blob, P, max_elements=bad)
    assert rcc.DEFAULT_MAX_ELEMENTS == 2**24 and "DEFAULT_MAX_ELEMENTS" in rcc.__all__


@pytest.mark.parametrize("channel", [rcc.PFR(), rcc.ORC(num_candidates=16), rcc.UQ()])
def test_a_blob_within_the_limit_with_a_bad_crc_allocates_nothing_of_its_shape(channel):
    """A 20-byte blob declaring 2^24 elements (the limit) with a wrong CRC: the prior's
    fingerprint is read from broadcast views, so the checksum fails before anything of the
    declared size exists (before, 257 MiB were materialised first: a review finding)."""
    blob = pack(Payload(channel.method, (10, 0), 1, (2**24,), b"\x80", 8))
    blob = blob[:-4] + bytes(4)
    assert len(blob) <= 24
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="checksum"):
            channel.decode(blob, rcc.Gaussian(0.0, 1.0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # one float64 array of 2^24 elements is 128 MiB


def test_fingerprint_from_views_equals_fingerprint_of_the_broadcast_prior():
    for p, shape in [(rcc.Gaussian(0.0, 1.0), (1000,)), (rcc.Gaussian(np.arange(8.0), 2.0), (3, 8)),
                     (rcc.Laplace(np.zeros((3, 1)), np.ones(5)), (3, 5)), (rcc.Gaussian(-0.0, 1.0), (70000,))]:
        assert prior_fingerprint(p, shape) == prior_fingerprint(p.broadcast_to(shape))


def test_version_1_blobs_are_refused_clearly():
    """Format 1 (no prior in the checksum) is refused by name, not by a checksum mismatch."""
    blob = bytearray(rcc.PFR().encode(rcc.Gaussian(0.5, 0.5), P, seed=1).to_bytes())
    blob[3] = 1
    assert FORMAT_VERSION == 2
    with pytest.raises(DecodeError, match="version 1 is not supported"):
        rcc.PFR().decode(bytes(blob), P)


# ----------------------------------------------------------------------------------------------
# the prior fingerprint

D = 4
Q = rcc.Gaussian(np.array([0.5, -0.3, 0.8, 0.1]), 0.6)
WRONG_PRIORS = {
    "shifted loc": rcc.Gaussian(0.5, 1.0),
    "one loc by one ulp": rcc.Gaussian(np.array([0.0, 0.0, 0.0, 5e-324]), 1.0),
    "other scale": rcc.Gaussian(0.0, 1.1),
    "other family": rcc.Logistic(0.0, 1.0),
    "other shape": rcc.Gaussian(np.zeros((2, 2)), 1.0),
}
ENCODERS = {
    "pfr": (lambda q, p: rcc.PFR().encode(q, p, seed=5).to_bytes(), lambda b, p: rcc.PFR().decode(b, p)),
    "pfr truncated": (lambda q, p: rcc.PFR(max_candidates=64).encode(q, p, seed=5).to_bytes(),
                      lambda b, p: rcc.PFR().decode(b, p)),
    "orc": (lambda q, p: rcc.ORC(num_candidates=64).encode(q, p, seed=5).to_bytes(), lambda b, p: rcc.ORC().decode(b, p)),
    "mrc": (lambda q, p: rcc.MRC(num_candidates=64).encode(q, p, seed=5).to_bytes(), lambda b, p: rcc.MRC().decode(b, p)),
    "hybrid": (lambda q, p: rcc.Hybrid(num_bins=4).encode(q, p, seed=5).to_bytes(), lambda b, p: rcc.Hybrid().decode(b, p)),
    "compress": (lambda q, p: rcc.compress(q, p, seed=5, chunk_bits=3.0), rcc.decompress),
}


@pytest.mark.parametrize("wrong", sorted(WRONG_PRIORS))
@pytest.mark.parametrize("channel", sorted(ENCODERS))
def test_wrong_prior_is_decode_error(channel, wrong):
    """Decoding with any other prior raises DecodeError (it used to return a wrong sample)."""
    encode, decode = ENCODERS[channel]
    blob = encode(Q, P)
    with pytest.raises(DecodeError, match="prior"):
        decode(blob, WRONG_PRIORS[wrong])


def test_wrong_prior_is_decode_error_for_uq():
    """UQ single messages fold the prior in too: a prior that the check symbols would let
    through (same family, shifted by a tenth of a step) is caught by the checksum."""
    mu = np.linspace(-2.0, 2.0, 50)
    msg = rcc.UQ().encode(rcc.Uniform(mu - 0.25, mu + 0.25), rcc.Logistic(0.0, 1.0), seed=7)
    for wrong in (rcc.Logistic(0.05, 1.0), rcc.Logistic(0.0, 1.01), rcc.Gaussian(0.0, 1.0)):
        with pytest.raises(DecodeError, match="prior"):
            rcc.UQ().decode(msg.to_bytes(), wrong)


@pytest.mark.parametrize("channel", sorted(ENCODERS))
def test_equivalent_priors_decode(channel):
    """Scalar and full-array spellings of one prior, and -0.0 for 0.0, have one fingerprint."""
    encode, decode = ENCODERS[channel]
    blob = encode(Q, P)
    want = decode(blob, P)
    for same in (rcc.Gaussian(np.zeros(D), np.ones(D)), rcc.Gaussian(-0.0, 1.0), rcc.Gaussian(np.full(D, -0.0), 1.0)):
        np.testing.assert_array_equal(decode(blob, same), want)
    blob2 = encode(Q, rcc.Gaussian(np.full(D, -0.0), np.ones(D)))
    np.testing.assert_array_equal(decode(blob2, P), decode(blob2, rcc.Gaussian(0.0, 1.0)))


def test_fingerprint_is_canonical():
    """The fingerprint sees family, shape and every parameter bit, and nothing else."""
    fp = prior_fingerprint
    assert fp(rcc.Gaussian(0.0, 1.0).broadcast_to((3,))) == fp(rcc.Gaussian(np.zeros(3), [1.0, 1.0, 1.0]))
    assert fp(rcc.Gaussian(0.0, 1.0).broadcast_to((3,))) != fp(rcc.Gaussian(0.0, 1.0).broadcast_to((3, 1)))
    assert fp(rcc.Gaussian(0.0, 1.0)) != fp(rcc.Logistic(0.0, 1.0)) != fp(rcc.Laplace(0.0, 1.0))
    assert fp(rcc.Gaussian(0.0, 1.0)) != fp(rcc.Gaussian(0.0, np.nextafter(1.0, 2.0)))
    assert fp(rcc.Uniform(-0.0, 1.0)) == fp(rcc.Uniform(0.0, 1.0))
    assert 0 <= fp(rcc.Gaussian(0.0, 1.0)) < 2**32


@st.composite
def _pairs(draw):
    d = draw(st.integers(1, 6))
    loc = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=d, max_size=d)))
    scale = np.array(draw(st.lists(st.floats(0.3, 0.9), min_size=d, max_size=d)))
    p_loc = draw(st.sampled_from([0.0, -0.0, 0.5]))
    return rcc.Gaussian(loc, scale), rcc.Gaussian(p_loc, 1.0), draw(st.integers(0, 2**64 - 1))


@PROPERTY
@given(case=_pairs(), channel=st.sampled_from(["pfr truncated", "orc", "mrc", "compress"]))
def test_round_trip_still_bit_exact(case, channel):
    """With the fingerprint in the checksum, encode then decode still returns the sample."""
    q, p, seed = case
    if channel == "compress":
        msg = rcc.compress(q, p, method=rcc.PFR(max_candidates=256), seed=seed, chunk_bits=4.0)
        np.testing.assert_array_equal(rcc.decompress(msg.to_bytes(), p), msg.sample)
        return
    ch = {"pfr truncated": rcc.PFR(max_candidates=256), "orc": rcc.ORC(num_candidates=256),
          "mrc": rcc.MRC(num_candidates=256)}[channel]
    msg = ch.encode(q, p, seed=seed)
    np.testing.assert_array_equal(ch.decode(msg.to_bytes(), p, seed=seed), msg.sample)


# ----------------------------------------------------------------------------------------------
# valid input never fails after the expensive work


@pytest.mark.parametrize("ch", [rcc.ORC(num_candidates=16), rcc.PFR(max_candidates=16)], ids=["orc", "pfr truncated"])
def test_single_message_with_thousands_of_bits_of_kl(ch):
    """KL of ~6,500 bits: the Golomb parameter was ~4,500 > 4096 and the index code failed after
    the race; capped at 64 it codes any index."""
    q, p = rcc.Gaussian(np.full(1000, 3.0), 1.0), rcc.Gaussian(0.0, 1.0)
    assert rcc.kl_bits(q, p) > 6000
    msg = ch.encode(q, p, seed=2)
    assert msg.params[0] == 64
    np.testing.assert_array_equal(ch.decode(msg.to_bytes(), p, seed=2), msg.sample)


def test_hybrid_many_bins_on_64_coordinates():
    """2**18 bins on 64 coordinates: the chosen window's q-mass (about 2**-18 per coordinate)
    underflows to 0 as a product, which gave 'math domain error' after the race; it is now
    summed in logs, and the bins are chosen one coordinate at a time (O(num_bins) memory)."""
    d, m = 64, 2**18
    q = rcc.Gaussian(np.linspace(-1.0, 1.0, d), 0.9)
    ch = rcc.Hybrid(num_bins=m)
    msg = ch.encode(q, P, seed=3)
    assert msg.info["window_mass"] >= 0.0 and np.isfinite(msg.info["window_dinf_bits"])
    assert msg.info["integer_bits"] == 18 * d
    np.testing.assert_array_equal(ch.decode(msg.to_bytes(), P, seed=3), msg.sample)


MIXED = [(rcc.Gaussian(0.3, 0.5), rcc.Logistic(0.0, 1.0)), (rcc.Logistic(0.3, 0.5), rcc.Gaussian(0.0, 1.0)),
         (rcc.Laplace(0.3, 0.5), rcc.Gaussian(0.0, 1.0))]
MIXED_CHANNELS = {
    "pfr": lambda q, p: rcc.PFR(max_candidates=64).encode(q, p, seed=1),
    "orc": lambda q, p: rcc.ORC(num_candidates=64).encode(q, p, seed=1),
    "mrc": lambda q, p: rcc.MRC(num_candidates=64).encode(q, p, seed=1),
    "hybrid": lambda q, p: rcc.Hybrid(inner="orc", num_candidates=64).encode(q, p, seed=1),
    "compress": lambda q, p: rcc.compress(q, p, method=rcc.ORC(num_candidates=64), seed=1),
}


@pytest.mark.parametrize("pair", range(len(MIXED)))
@pytest.mark.parametrize("channel", sorted(MIXED_CHANNELS))
def test_unsupported_family_pair_is_value_error(channel, pair):
    """q and p of families without a closed-form KL: ValueError naming both (not
    NotImplementedError)."""
    q, p = MIXED[pair]
    with pytest.raises(ValueError, match=f"{type(q).__name__}.*{type(p).__name__}"):
        MIXED_CHANNELS[channel](q, p)


LONG_RACES = {
    "pfr budget 2**40, infinite D_inf": lambda: rcc.PFR(max_candidates=2**40).encode(rcc.Gaussian(1.0, 1.0), P, seed=1),
    "exact pfr, D_inf 31.9 bits": lambda: rcc.PFR().encode(rcc.Gaussian(0.0, 2.0**-31.9), P, seed=1),
    "orc 2**40": lambda: rcc.ORC(num_candidates=2**40).encode(rcc.Gaussian(1.0, 1.0), P, seed=1),
    "mrc 2**40": lambda: rcc.MRC(num_candidates=2**40).encode(rcc.Gaussian(0.5, 0.5), P, seed=1),
    "hybrid orc 2**40": lambda: rcc.Hybrid(inner="orc", num_candidates=2**40).encode(rcc.Gaussian(1.0, 1.0), P, seed=1),
    "compress pfr 2**40": lambda: rcc.compress(rcc.Gaussian(np.ones(8), 1.0), P, method=rcc.PFR(max_candidates=2**40)),
}


@pytest.mark.parametrize("name", sorted(LONG_RACES))
def test_budget_of_hours_warns_before_the_race(name):
    """A RuntimeWarning with the expected candidates and a rough time, before the race: with
    warnings as errors it stops the call at once (the race itself would take hours)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match=r"expected to score about .* candidates.*roughly"):
            LONG_RACES[name]()


def test_budget_warning_is_a_warning():
    """Without an error filter the warning is only a warning (pytest.warns) that states the
    time; a modest budget stays silent."""
    from rcc._checks import warn_long_race

    with pytest.warns(RuntimeWarning, match=r"about 1.1e\+12 candidates .* roughly 3.05 hours"):
        warn_long_race(2.0**40, 2.0**40, "a test race")
    warn_long_race(2.0**20, 2.0**20 * 64, "a short race")  # 0.7 s: silent (warnings are errors here)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rcc.ORC(num_candidates=2**16).encode(rcc.Gaussian(1.0, 1.0), P, seed=1)


# ----------------------------------------------------------------------------------------------
# mutated blobs reach the parser: right shape or DecodeError, nothing else


def _stream_blob():
    enc = rcc.UQStream(seed=3)
    mu = np.linspace(-1.0, 1.0, 6)
    x = enc.push(rcc.Uniform(mu - 0.25, mu + 0.25), rcc.Gaussian(0.0, 1.0), width=0.5)
    enc.push(rcc.Uniform(mu - 0.25, mu + 0.25), rcc.Logistic(x, 1.0), width=0.5)
    return enc.to_bytes(), x


def _decode_stream(blob):
    _, x = _stream_blob()
    dec = rcc.UQStream.decoder(blob)
    y = dec.pop(rcc.Gaussian(0.0, 1.0), 0.5)
    z = dec.pop(rcc.Logistic(x, 1.0), 0.5)
    dec.finish()
    return np.concatenate([y, z])


_MU = np.linspace(-1.0, 1.0, 6)
MUTATION_CASES = {
    "pfr": (rcc.PFR().encode(rcc.Gaussian(_MU, 0.6), P, seed=2).to_bytes(), P, lambda b: rcc.PFR().decode(b, P)),
    "orc": (rcc.ORC(num_candidates=256).encode(rcc.Gaussian(_MU, 1.0), P, seed=2).to_bytes(), P,
            lambda b: rcc.ORC().decode(b, P)),
    "mrc": (rcc.MRC(num_candidates=256).encode(rcc.Gaussian(_MU, 0.6), P, seed=2).to_bytes(), P,
            lambda b: rcc.MRC().decode(b, P)),
    "hybrid": (rcc.Hybrid(num_bins=8).encode(rcc.Gaussian(_MU[:3], 0.6), P, seed=2).to_bytes(), P,
               lambda b: rcc.Hybrid().decode(b, P)),
    "uq gaussian": (rcc.UQ().encode(rcc.Uniform(_MU - 0.25, _MU + 0.25), P, seed=2).to_bytes(), P,
                    lambda b: rcc.UQ().decode(b, P, width=0.5)),
    "uq table": (rcc.UQ().encode(rcc.Uniform(_MU - 0.25, _MU + 0.25), rcc.Logistic(0.0, 1.0), seed=2).to_bytes(),
                 rcc.Logistic(0.0, 1.0), lambda b: rcc.UQ().decode(b, rcc.Logistic(0.0, 1.0), width=0.5)),
    "chunked pfr": (rcc.compress(rcc.Gaussian(np.linspace(-2, 2, 40), 0.6), P, seed=2, chunk_bits=4.0).to_bytes(), P,
                    lambda b: rcc.decompress(b, P)),
    "chunked orc even": (rcc.compress(rcc.Gaussian(np.linspace(-2, 2, 40), 1.0), P, method=rcc.ORC(num_candidates=2**10),
                                      seed=2, chunk_bits=4.0, layout="even").to_bytes(), P,
                         lambda b: rcc.decompress(b, P)),
    "chunked mrc": (rcc.compress(rcc.Gaussian(np.linspace(-2, 2, 40), 0.6), P, method=rcc.MRC(num_candidates=64),
                                 seed=2, chunk_bits=4.0, size_multiple=2).to_bytes(), P, lambda b: rcc.decompress(b, P)),
    "uq stream": (_stream_blob()[0], None, _decode_stream),
}


def _reseal(body: bytes, prior) -> bytes:
    """Body plus a valid trailer: CRC-32 seeded with the fingerprint of the prior broadcast to
    the shape the (mutated) body declares, so that the mutation reaches the parser."""
    fp = 0
    if prior is not None:
        try:
            shape = _parse(body + bytes(4), None, 2**40)[0].shape
            fp = prior_fingerprint(prior.broadcast_to(shape))
        except ValueError:  # a header the parser refuses anyway, or a shape p does not fit
            pass
    return body + zlib.crc32(body, fp).to_bytes(4, "little")


@settings(PROPERTY, max_examples=500)
@given(case=st.sampled_from(sorted(MUTATION_CASES)), data=st.data())
def test_mutated_blobs_decode_or_raise_decode_error(case, data):
    """Bit flips, truncations and extensions of the body of a valid blob, resealed with a valid
    checksum (prior fingerprint included): the decoder returns an array of the blob's shape or
    raises DecodeError; no other exception (numba, constriction panics, MemoryError) escapes."""
    blob, prior, decode = MUTATION_CASES[case]
    body = bytearray(blob[:-4])
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "flip payload"]))
    if kind in ("flip", "flip payload"):
        lo = 8 * max(0, len(body) - 8) if kind == "flip payload" else 0
        for bit in data.draw(st.sets(st.integers(lo, 8 * len(body) - 1), min_size=1, max_size=4)):
            body[bit // 8] ^= 0x80 >> (bit % 8)
    elif kind == "truncate":
        body = body[: data.draw(st.integers(0, len(body) - 1))]
    else:
        body += data.draw(st.binary(min_size=1, max_size=8))
    mutated = _reseal(bytes(body), prior)
    try:
        x = decode(mutated)
    except DecodeError:
        return
    assert isinstance(x, np.ndarray)
    assert x.shape == (_parse(mutated, None, 2**40)[0].shape if case != "uq stream" else (12,))


def test_constriction_failures_in_chunked_decoding_are_decode_errors():
    """A crafted chunked payload can ask for a categorical of 2**24 sizes, which constriction
    cannot normalise: its error (a plain ValueError, or a PanicException, which escapes
    ``except Exception``) must come out as a DecodeError."""
    import constriction

    from rcc._ans import decode_kt

    coder = constriction.stream.stack.AnsCoder(np.array([12345, 678910], dtype=np.uint32))
    with pytest.raises(DecodeError, match="entropy decoding failed"):
        decode_kt(coder, 1, 2**24)


# ----------------------------------------------------------------------------------------------
# UQStream: no prior fingerprint; finish() is the check (the figure in UQStreamDecoder's docstring)


def _uq_stream_wrong_prior_outcomes(num_trials: int, finish: bool, n: int = 16) -> dict:
    """Outcomes of decoding two-push streams with a wrong first prior: loc shifted or scale
    changed by 10**U(-4, 0), or another family. Keys: DecodeError, right sample, silent wrong."""
    rng = np.random.default_rng(0)
    families = [rcc.Gaussian, rcc.Logistic, rcc.Laplace]
    out = {"DecodeError": 0, "right sample": 0, "silent wrong": 0}
    for t in range(num_trials):
        enc, step = rcc.UQStream(seed=t), 0.5
        mu = rng.normal(0.0, 1.0, n)
        fam = families[t % 3]
        x1 = enc.push(rcc.Uniform(mu - step / 2, mu + step / 2), fam(0.0, 1.0), width=step)
        x2 = enc.push(rcc.Uniform(mu - step / 2, mu + step / 2), rcc.Logistic(x1, 0.7), width=step)
        mag = 10.0 ** rng.uniform(-4.0, 0.0) * rng.choice([-1.0, 1.0])
        wrong = [fam(mag, 1.0), fam(0.0, float(np.exp(mag))), families[(t + 1) % 3](0.0, 1.0)][(t // 3) % 3]
        try:
            dec = rcc.UQStream.decoder(enc.to_bytes())
            y1 = dec.pop(wrong, step)
            y2 = dec.pop(rcc.Logistic(y1, 0.7), step)
            if finish:
                dec.finish()
        except DecodeError:
            out["DecodeError"] += 1
            continue
        out["right sample" if np.array_equal(y1, x1) and np.array_equal(y2, x2) else "silent wrong"] += 1
    return out


def test_uq_stream_wrong_prior_is_caught_by_finish():
    """The promise of UQStreamDecoder's docstring, on 60 streams: finish() catches every wrong
    prior; samples popped before it are not verified."""
    assert _uq_stream_wrong_prior_outcomes(60, finish=True)["silent wrong"] == 0
    assert _uq_stream_wrong_prior_outcomes(60, finish=False)["silent wrong"] > 0


@pytest.mark.slow
def test_uq_stream_wrong_prior_rate():
    """The figure of UQStreamDecoder's docstring: 1000 wrong priors, all caught by finish(),
    all silently wrong without it."""
    assert _uq_stream_wrong_prior_outcomes(1000, finish=True) == {"DecodeError": 1000, "right sample": 0,
                                                                  "silent wrong": 0}
    assert _uq_stream_wrong_prior_outcomes(1000, finish=False)["silent wrong"] == 1000


def test_chunk_count_is_bounded_by_the_payload():
    """A chunked blob of 2**20 coordinates that declares 2**20 chunks of 20-bit indices but holds
    64 payload bits of ANS words is refused from the preamble alone, before any per-chunk work."""
    from rcc.coding import write_gamma

    w = BitWriter()
    write_gamma(w, 2**20)
    w.write(1, 1)  # even layout
    w.write(20, 6)  # L_min
    w.write(0, 6)  # L_span
    w.write(0xDEADBEEF, 32)
    w.write(0x80000001, 32)
    payload, nbits = w.getvalue()
    blob = pack(Payload("chunked", (2, 0, 192), 1, (2**20,), payload, nbits), prior=P)
    with pytest.raises(DecodeError, match="1048576 chunks need at least 20971520 payload bits"):
        rcc.decompress(blob, P)


def test_dinf_beyond_float_range_with_a_budget():
    """A pair whose D_inf (about 1,150 bits) overflows 2.0**dinf: a truncated race still runs
    (the warning estimate is capped by the budget) and round trips."""
    q = rcc.Gaussian(40.0, 0.5)
    assert rcc.dinf_bits(q, P) > 1024
    for ch in (rcc.PFR(max_candidates=16), rcc.ORC(num_candidates=16)):
        msg = ch.encode(q, P, seed=1)
        np.testing.assert_array_equal(ch.decode(msg.to_bytes(), P), msg.sample)
    msg = rcc.compress(rcc.Gaussian(np.array([40.0, 0.0]), 0.5), P, method=rcc.PFR(2**8, headroom_bits=2), seed=1,
                       chunk_bits=2000.0)
    np.testing.assert_array_equal(rcc.decompress(msg, P), msg.sample)


def test_uq_blob_without_step_and_no_step_given_is_decode_error():
    """The blob, not the caller, says the step is not in it: a DecodeError naming width=."""
    mu = np.linspace(-1.0, 1.0, 4)
    step = np.array([0.5, 0.25, 0.5, 0.25])
    msg = rcc.UQ().encode(rcc.Uniform(mu - step / 2, mu + step / 2), P, seed=1, width=step)
    with pytest.raises(DecodeError, match="width="):
        rcc.UQ().decode(msg.to_bytes(), P)
    np.testing.assert_array_equal(rcc.UQ().decode(msg.to_bytes(), P, width=step), msg.sample)
