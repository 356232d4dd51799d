"""PFR's index law (rcc._index_law) and the chunk code that uses it (rcc._chunk_codes.LawCode)."""

import math

import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rcc
from rcc._chunk_codes import LawCode, law_frequencies, law_join, law_split, law_symbol_edges
from rcc._index_law import GRID_POINTS, index_entropy_bits, pfr_index_pmf, pfr_index_pmf_reference, range_masses
from rcc.coding import BitReader, BitWriter
from rcc.container import Payload, pack


def _equal_variance_chunks(kl_bits: float, count: int):
    """``count`` one-coordinate chunks of KL ``kl_bits`` each (equal variances, layout "kl")."""
    m = math.sqrt(2.0 * kl_bits * math.log(2.0)) * (1.0 + 1e-9)
    return rcc.Gaussian(np.full(count, m), 1.0), rcc.Gaussian(0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# the law


@pytest.mark.parametrize("kl", [0.0, 0.5, 3.0, 10.0, 12.0, 20.0])
def test_untruncated_law_sums_to_one(kl):
    edges = law_symbol_edges()
    assert abs(range_masses(kl, edges).sum() - 1.0) < 1e-9
    assert abs(range_masses(kl, [1, np.inf])[0] - 1.0) < 1e-12


def test_pmf_matches_the_plain_reference():
    for kl in (0.5, 4.0, 11.0):
        fast = pfr_index_pmf(kl, 300)
        ref = np.array(pfr_index_pmf_reference(kl, 300, points=GRID_POINTS))
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-15)
        assert np.all(np.diff(fast) <= 0)  # a mixture of geometrics decreases


def test_entropy_matches_the_documented_table():
    """H[K] - KL of exact PFR (docs/benchmarks.md, examples/dcs_table.py)."""
    for kl, want in ((10.0, 3.221), (12.0, 3.331), (16.0, 3.512), (20.0, 3.657)):
        assert abs(index_entropy_bits(kl) - kl - want) < 2e-3
        assert index_entropy_bits(kl) > rcc.dcs_bits_equal_variance(kl)  # D_CS is a floor


def test_truncated_law_sums_to_one_and_tends_to_the_untruncated_one():
    for n in (2, 16, 64):
        pmf = pfr_index_pmf(3.0, n, max_candidates=n)
        assert abs(pmf.sum() - 1.0) < 5e-5 and pmf.min() >= 0.0
    exact = pfr_index_pmf(3.0, 8)
    assert np.abs(pfr_index_pmf(3.0, 8, max_candidates=128) - exact).max() < 0.012
    assert np.abs(pfr_index_pmf(3.0, 8, max_candidates=16) - exact).max() > 0.05


def _bucket_masses(index: np.ndarray, edges) -> np.ndarray:
    return np.histogram(index.astype(np.float64), bins=edges)[0] / index.size


def test_truncated_law_matches_the_real_race():
    """4000 races of 64 candidates (one-coordinate chunks of 3 bits of KL, seed 11): bucket
    frequencies within 4.5 standard errors + 0.002 of the truncated law."""
    n, count = 64, 4000
    q, p = _equal_variance_chunks(3.0, count)
    msg = rcc.compress(q, p, method=rcc.PFR(max_candidates=n), seed=11, chunk_bits=3.0)
    assert msg.info["num_chunks"] == count
    edges = [1, 2, 3, 5, 9, 17, 33, 65]
    pmf = pfr_index_pmf(3.0, n, max_candidates=n)
    law = np.add.reduceat(pmf, np.array(edges[:-1]) - 1)
    emp = _bucket_masses(msg.chunks.index, edges)
    tol = 4.5 * np.sqrt(law * (1 - law) / count) + 0.002
    assert np.all(np.abs(emp - law) <= tol), (emp, law)
    # the untruncated law is visibly off at this budget (the race keeps the best of 64)
    untrunc = range_masses(3.0, edges[:-1] + [np.inf])
    assert np.abs(untrunc - law).max() > 0.02


def test_untruncated_law_matches_a_long_race():
    """2000 races of 2^14 candidates at 2 bits of KL (P(K > 2^14) < 0.01 under the law): bucket
    frequencies within 4.5 standard errors + P(K > N) of the untruncated law."""
    n, count = 2**14, 2000
    q, p = _equal_variance_chunks(2.0, count)
    msg = rcc.compress(q, p, method=rcc.PFR(max_candidates=n), seed=5, chunk_bits=2.0)
    edges = [1, 2, 3, 5, 9, 17, 33, 65, 257, 2**14 + 1]
    law = range_masses(2.0, edges)
    beyond = float(range_masses(2.0, [n + 1, np.inf])[0])
    assert beyond < 0.01
    emp = _bucket_masses(msg.chunks.index, edges)
    tol = 4.5 * np.sqrt(law * (1 - law) / count) + beyond + 0.002
    assert np.all(np.abs(emp - law) <= tol), (emp, law)


# ----------------------------------------------------------------------------------------------
# the symbols of the law code


def _split_reference(k: int):
    """Plain reference: (symbol, low bits, width) from the binary string of k."""
    b = bin(k)[2:]
    if len(b) <= 3:
        return k - 1, 0, 0
    lbits = len(b) - 1
    top = int(b[1:4], 2)
    low = b[4:]
    return 7 + (lbits - 3) * 8 + top, int(low, 2) if low else 0, len(low)


@given(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_symbols_match_the_reference_and_the_edges(ks):
    sym, low, width = law_split(np.array(ks, dtype=np.uint64))
    edges = law_symbol_edges()
    for k, j, lo, w in zip(ks, sym.tolist(), low.tolist(), width.tolist()):
        assert (j, lo, w) == _split_reference(k)
        assert int(edges[j]) <= k and (np.isinf(edges[j + 1]) or k < int(edges[j + 1]))  # edges are exact ints
    assert law_join(sym, low).tolist() == ks


def test_frequencies_are_positive_integers():
    for q16 in (1, 48, 160, 192, 256, 2**32 - 1):
        f = law_frequencies(q16)
        assert f.shape == (495,) and f.min() >= 1 and np.all(f == np.floor(f))
    f = law_frequencies(160)
    assert 2**21 < f.sum() < 2**23
    assert f[7 + 5 * 8:].sum() > 0.5 * f.sum()  # at 10 bits of KL, most indices are >= 2^8


# ----------------------------------------------------------------------------------------------
# the code


def _roundtrip(code: LawCode, index1: np.ndarray, read_code=None):
    coder, fields = constriction.stream.stack.AnsCoder(), BitWriter()
    code.write(coder, index1 - np.uint64(1), fields)
    data, nbits = fields.getvalue()
    assert nbits == 0  # no preamble bits
    pending = (read_code or code).read(BitReader(data, nbits), index1.size, index1.size)
    dec = constriction.stream.stack.AnsCoder(coder.get_compressed())
    out = pending.decode(dec)
    assert dec.is_empty()
    return out + np.uint64(1)


@given(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=50), st.integers(1, 64 * 16))
@settings(max_examples=100, deadline=None)
def test_law_code_roundtrip(ks, q16):
    index1 = np.array(ks, dtype=np.uint64)
    np.testing.assert_array_equal(_roundtrip(LawCode(None, q16), index1), index1)


def test_law_code_refuses_an_index_above_the_header_budget():
    index1 = np.array([5, 2**40], dtype=np.uint64)
    with pytest.raises(rcc.DecodeError, match="exceeds"):
        _roundtrip(LawCode(None, 160), index1, read_code=LawCode(2**20, 160))


@given(
    st.integers(1, 40),
    st.floats(1.0, 8.0),
    st.floats(0.2, 1.5),
    st.sampled_from(["kl", "even"]),
    st.integers(0, 2**64 - 1),
)
@settings(max_examples=25, deadline=None)
def test_compress_roundtrip_is_bit_identical(d, chunk_bits, spread, layout, seed):
    rng = np.random.default_rng(d)
    q = rcc.Gaussian(rng.normal(0.0, spread, d), np.exp(rng.normal(-0.2, 0.1, d)))
    p = rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, method=rcc.PFR(2**12, headroom_bits=4), seed=seed, chunk_bits=chunk_bits, layout=layout)
    assert msg.params[0] == 2 + 256
    assert rcc.decompress(msg.to_bytes(), p).tobytes() == msg.sample.tobytes()
    assert rcc.decode(msg.headerless(), p).tobytes() == msg.sample.tobytes()


def test_exact_pfr_roundtrip_and_format_1_still_decodes():
    q, p = rcc.Gaussian(np.linspace(-1.0, 1.0, 40), 0.6), rcc.Gaussian(0.0, 1.0)
    msg = rcc.compress(q, p, seed=3, chunk_bits=6.0)
    assert msg.params[:2] == (258, 0)
    assert rcc.decompress(msg.to_bytes(), p).tobytes() == msg.sample.tobytes()
    # the same payload fields re-coded in format 1 (index code 0) decode to the same sample
    from rcc._chunk_codes import BitLengthCode
    from rcc.chunked import _write_payload

    data, nbits = _write_payload(BitLengthCode(None), msg.chunks.sizes, msg.chunks.index - np.uint64(1), False, 1)
    old = Payload("chunked", (2, 0, msg.params[2]), 3, (40,), data, nbits)
    assert rcc.decode(old, p).tobytes() == msg.sample.tobytes()


@pytest.mark.parametrize("first", [2 + 256 * 2, 2 + 256 * 16, 4 + 256, 5 + 256, 3 + 256, 2**40])
def test_unknown_index_codes_are_decode_errors(first):
    payload = Payload("chunked", (first, 0, 160) if first % 256 != 5 else (first, 0, 4, 0, 160), 1, (8,), b"\x80", 1)
    with pytest.raises(rcc.DecodeError):
        rcc.decode(payload, rcc.Gaussian(0.0, 1.0))
    with pytest.raises(rcc.DecodeError):
        rcc.decompress(pack(payload), rcc.Gaussian(0.0, 1.0))


def test_crafted_law_payloads_are_decode_errors_or_decode():
    """Random payloads under a format-2 PFR header: a DecodeError or a sample, nothing else."""
    rng = np.random.default_rng(0)
    p = rcc.Gaussian(0.0, 1.0)
    errors = 0
    for trial in range(300):
        nbytes = int(rng.integers(0, 40))
        data = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        nbits = 8 * nbytes - int(rng.integers(0, 8)) if nbytes else 0
        d = int(rng.integers(1, 200))
        payload = Payload("chunked", (258, int(rng.choice([0, 2**10])), int(rng.integers(1, 400))), trial, (d,), data, nbits)
        try:
            x = rcc.decode(payload, p)
            assert x.shape == (d,)
        except rcc.DecodeError:
            errors += 1
    assert errors > 200


def test_the_table_example_runs():
    """examples/index_law_table.py, part 1 at a small size: the law code beats format 1."""
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "index_law_table.py"
    mod = runpy.run_path(str(path), run_name="index_law_table")
    law, real = mod["main"](["--chunks", "32", "--reps", "4", "--skip-real"])
    assert real == [] and len(law) == 3
    for b, old, new, saving, info, h, dcs in law:
        assert saving > 0.2 and new > info > dcs - 0.5 and h > dcs


def test_kt_with_a_prior_roundtrips_and_checks_the_prior():
    from rcc._ans import decode_kt, encode_kt
    from rcc._chunk_codes import law_octave_prior

    prior = law_octave_prior(160)
    assert prior.shape == (64,) and prior.min() > 0 and np.all(prior * 1024 % 1 == 0)
    assert abs(prior.sum() - 128) < 0.1
    sym = np.random.default_rng(3).integers(0, 64, 500)
    coder = constriction.stream.stack.AnsCoder()
    encode_kt(coder, sym, 64, prior)
    dec = constriction.stream.stack.AnsCoder(coder.get_compressed())
    np.testing.assert_array_equal(decode_kt(dec, 500, 64, prior), sym)
    assert dec.is_empty()
    for bad in (np.full(64, 0.1), np.zeros(64), np.full(63, 0.5), np.full(64, 2.0**20)):
        with pytest.raises(ValueError, match="pseudo-counts"):
            encode_kt(constriction.stream.stack.AnsCoder(), sym, 64, bad)


def test_law_code_adapts_to_indices_off_the_law():
    """400 indices near 2^20 at a 10-bit law: the octave categorical learns them, so they cost far
    less than under the fixed law (whose octave 20 is improbable)."""
    rng = np.random.default_rng(4)
    index1 = (np.uint64(2**20) + rng.integers(0, 2**17, 400).astype(np.uint64))
    coder, fields = constriction.stream.stack.AnsCoder(), BitWriter()
    LawCode(None, 160).write(coder, index1 - np.uint64(1), fields)
    real = 32 * len(coder.get_compressed())
    f = law_frequencies(160)
    sym, _, width = law_split(index1)
    fixed = float((np.log2(f.sum()) - np.log2(f[sym])).sum() + width.sum())
    assert real < fixed - 3 * 400
    np.testing.assert_array_equal(_roundtrip(LawCode(None, 160), index1), index1)
