"""Bit I/O, the prefix codes (truncated binary, Elias gamma, zigzag, the Golomb-Zipf index code)
and the varints of the container (rcc.coding).

Round trips are property-based (hypothesis, derandomized so that runs are reproducible); every
malformed input must raise rcc.DecodeError (a ValueError) and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcc import DecodeError
from rcc.coding import (
    MAX_GOLOMB,
    BitReader,
    BitWriter,
    check_golomb_param,
    decode_varint,
    encode_varint,
    golomb_param_for_kl,
    read_gamma,
    read_truncated_binary,
    read_zipf_index,
    truncated_binary_bits,
    unzigzag,
    write_gamma,
    write_truncated_binary,
    write_zipf_index,
    zigzag,
    zipf_index_bits,
)

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

indices = st.integers(min_value=1, max_value=2**64 - 1)
golomb_params = st.integers(min_value=1, max_value=64)


def _encode_indices(ks, m):
    w = BitWriter()
    for k in ks:
        write_zipf_index(w, k, m)
    return w.getvalue()


# ----------------------------------------------------------------------------------------------
# BitWriter / BitReader
# ----------------------------------------------------------------------------------------------


def test_bitwriter_layout_msb_first_zero_padded():
    """Bits go most significant first; the last byte is zero-padded; num_bits is exact."""
    w = BitWriter()
    w.write(0b101, 3)
    w.write_unary(2)  # 110
    w.write(1, 1)
    data, nbits = w.getvalue()
    assert (data, nbits) == (bytes([0b10111010]), 7)
    assert w.num_bits == 7
    assert BitWriter().getvalue() == (b"", 0)


@pytest.mark.parametrize("value, nbits", [(2, 1), (-1, 3), (0, -1), (256, 8)])
def test_bitwriter_rejects_values_that_do_not_fit(value, nbits):
    """A value that does not fit in nbits (or a negative count) is a ValueError, never truncated."""
    with pytest.raises(ValueError):
        BitWriter().write(value, nbits)


def test_bitreader_reads_back_and_finishes():
    """Fields written are read back; finish() passes once every payload bit is read."""
    rd = BitReader(bytes([0b10111010]), 7)
    assert rd.read(3) == 0b101
    assert rd.read_unary(10) == 2
    assert rd.read(1) == 1
    assert rd.remaining == 0
    rd.finish()


def test_bitreader_truncation_is_decode_error():
    """Reading past the announced length raises DecodeError (a ValueError subclass)."""
    rd = BitReader(b"\xff", 5)
    rd.read(4)
    with pytest.raises(DecodeError, match="truncated"):
        rd.read(2)
    assert issubclass(DecodeError, ValueError)


def test_bitreader_unread_bits_is_decode_error():
    """Bits left unread at finish() mean the payload is longer than its code: DecodeError."""
    rd = BitReader(b"\x80", 3)
    rd.read(2)
    with pytest.raises(DecodeError, match="unread"):
        rd.finish()


def test_bitreader_nonzero_padding_is_decode_error():
    """Padding bits after num_bits must be zero: a set padding bit is corruption."""
    rd = BitReader(bytes([0b10100001]), 3)
    assert rd.read(3) == 0b101
    with pytest.raises(DecodeError, match="padding"):
        rd.finish()


@pytest.mark.parametrize("num_bits", [9, -1])
def test_bitreader_length_outside_data_is_decode_error(num_bits):
    """A payload that claims more bits than its bytes hold (or a negative count) is DecodeError."""
    with pytest.raises(DecodeError):
        BitReader(b"\x00", num_bits)


def test_read_unary_limit():
    """A unary run longer than the limit is DecodeError (bounds the work on corrupted input)."""
    with pytest.raises(DecodeError, match="unary"):
        BitReader(b"\xff\xff").read_unary(10)


# ----------------------------------------------------------------------------------------------
# Golomb-Zipf index code
# ----------------------------------------------------------------------------------------------


@PROPERTY
@given(ks=st.lists(indices, min_size=1, max_size=8), m=golomb_params)
def test_zipf_index_round_trip(ks, m):
    """Any list of indices in [1, 2**64) written back to back with one m in [1, 64] reads back
    exactly; the stream is fully consumed with zero padding; zipf_index_bits (scalar and array)
    equals the written length of each code word."""
    data, nbits = _encode_indices(ks, m)
    assert nbits == int(np.sum(zipf_index_bits(np.array(ks, dtype=np.uint64), m)))
    rd = BitReader(data, nbits)
    for k in ks:
        before = rd.remaining
        assert read_zipf_index(rd, m) == k
        assert before - rd.remaining == int(zipf_index_bits(k, m))
    rd.finish()


@PROPERTY
@given(k=indices, m=golomb_params)
def test_zipf_truncated_code_word_is_decode_error(k, m):
    """The code is prefix-free: every proper prefix of a code word runs out of bits, so decoding
    it raises DecodeError (never returns a wrong index)."""
    data, nbits = _encode_indices([k], m)
    for cut in range(nbits):
        # re-pad the prefix with zeros so that only truncation, not padding, can fail
        prefix = (int.from_bytes(data, "big") >> (8 * len(data) - cut)) << (-cut % 8)
        rd = BitReader(prefix.to_bytes((cut + 7) // 8, "big"), cut)
        with pytest.raises(DecodeError):
            read_zipf_index(rd, m)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8, 63, 64])
def test_zipf_index_bits_exact_values(m):
    """zipf_index_bits matches the written length at the edges (1, powers of two and their
    neighbours up to 2**64 - 1, where float log2 rounds) and equals the closed form
    L + floor(L / m) + 1 + (truncated-binary remainder) with L = floor(log2 k)."""
    ks = [1, 2, 3, 4, 7, 8, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]
    ks += [2**n - 1 for n in range(54, 65)]
    for k in ks:
        _, nbits = _encode_indices([k], m)
        assert int(zipf_index_bits(k, m)) == nbits, k
        length = k.bit_length() - 1
        q, r = divmod(length, m)
        b = (m - 1).bit_length()
        rem = 0 if m == 1 else (b - 1 if r < (1 << b) - m else b)
        assert nbits == length + q + 1 + rem


def test_zipf_known_code_words():
    """A few code words by hand: m = 1 is Elias-gamma-like (unary length, then mantissa); m = 3
    codes the length 2 of k = 5 as unary 0 then truncated-binary remainder 11."""
    assert _encode_indices([1], 1) == (b"\x00", 1)  # '0'
    assert _encode_indices([5], 1) == (bytes([0b11001000]), 5)  # '110' '01'
    assert _encode_indices([5], 3) == (bytes([0b01101000]), 5)  # '0' '11' '01'


@pytest.mark.parametrize("k", [0, -1, 2**64])
def test_zipf_index_out_of_range_is_value_error(k):
    """Indices are 1-based and below 2**64."""
    with pytest.raises(ValueError):
        write_zipf_index(BitWriter(), k, 4)


@pytest.mark.parametrize("m", [0, -3, 65, 4096, 2.0, "4"])
def test_golomb_parameter_validated(m):
    """m must be an int in [1, 64] for the writer, the reader and the length function alike; the
    reader (m comes from a header) raises DecodeError."""
    for call in (lambda: write_zipf_index(BitWriter(), 3, m), lambda: zipf_index_bits(3, m),
                 lambda: check_golomb_param(m)):
        with pytest.raises(ValueError, match="Golomb parameter") as info:
            call()
        assert not isinstance(info.value, DecodeError)
    with pytest.raises(DecodeError, match="Golomb parameter"):
        read_zipf_index(BitReader(b"\x00"), m)
    with pytest.raises(DecodeError, match="Golomb parameter"):
        check_golomb_param(m, error=DecodeError)


def test_golomb_parameter_bool_refused():
    with pytest.raises(ValueError, match="Golomb parameter"):
        check_golomb_param(True)
    assert check_golomb_param(64) == 64


@pytest.mark.parametrize("m", [1, 2, 7, 64])
def test_zipf_overlong_bit_length_is_decode_error(m):
    """A Golomb-coded bit length above 63 (an index >= 2**64) is corruption, whatever follows."""
    w = BitWriter()
    w.write_unary(64 // m + 1)  # quotient alone gives length >= 64
    w.write(0, 16)
    data, nbits = w.getvalue()
    with pytest.raises(DecodeError):
        read_zipf_index(BitReader(data, nbits), m)


def test_golomb_param_for_kl_monotone_and_optimal():
    """m grows with kl (never decreases), starts at 2 for kl = 0, and is the Gallager--van Voorhis
    optimum for the geometric law with ratio rho = 2^(-1/(kl + 1.53)): the smallest m with
    rho^m + rho^(m+1) <= 1 (checked with slack 1e-9 at the boundary), capped at MAX_GOLOMB = 64,
    where the code of any bit length L <= 63 is a flat 7 bits."""
    kls = np.concatenate([np.linspace(0.0, 64.0, 2001), [100.0, 1000.0, 1e4, 1e9]])
    ms = [golomb_param_for_kl(float(kl)) for kl in kls]
    assert ms[0] == 2
    assert all(isinstance(m, int) and 1 <= m <= MAX_GOLOMB for m in ms)
    assert all(a <= b for a, b in zip(ms, ms[1:]))
    assert ms[-1] == ms[-4] == MAX_GOLOMB > ms[len(kls) // 2] > ms[0]
    for kl, m in zip(kls, ms):
        rho = 2.0 ** (-1.0 / (kl + 1.53))
        if m < MAX_GOLOMB:
            assert rho**m + rho ** (m + 1) <= 1.0 + 1e-9
        assert m == 1 or rho ** (m - 1) + rho**m > 1.0 - 1e-9


@pytest.mark.parametrize("kl", [-0.1, math.inf, math.nan])
def test_golomb_param_for_kl_rejects_bad_kl(kl):
    """kl must be finite and >= 0."""
    with pytest.raises(ValueError, match="kl_bits"):
        golomb_param_for_kl(kl)


def test_zipf_code_length_tracks_kl():
    """With m from the KL, the code word of an index 2^KL costs at most KL + log2(KL + 1) + 4
    bits for KL in 1..30: the code is one the PFR cost bound allows."""
    for kl in range(1, 31):
        m = golomb_param_for_kl(float(kl))
        bits = int(zipf_index_bits(2**kl, m))
        assert bits <= kl + math.log2(kl + 1) + 4, (kl, bits)


# ----------------------------------------------------------------------------------------------
# varints
# ----------------------------------------------------------------------------------------------


@PROPERTY
@given(values=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=6))
def test_varint_round_trip(values):
    """LEB128 round trip for values in [0, 2**64) read back to back; each takes
    max(1, ceil(bits / 7)) bytes (at most 10)."""
    data = b"".join(encode_varint(v) for v in values)
    pos = 0
    for v in values:
        got, new_pos = decode_varint(data, pos)
        assert got == v
        assert new_pos - pos == max(1, math.ceil(v.bit_length() / 7)) <= 10
        pos = new_pos
    assert pos == len(data)


def test_varint_known_bytes():
    """LEB128 by hand: 0, 127, 128, 300 and 2**64 - 1."""
    assert encode_varint(0) == b"\x00"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(300) == b"\xac\x02"
    assert encode_varint(2**64 - 1) == b"\xff" * 9 + b"\x01"


@pytest.mark.parametrize(
    "data, pos, match",
    [
        (b"", 0, "truncated"),
        (b"\x80", 0, "truncated"),
        (b"\xff\xff\xff", 0, "truncated"),
        (b"\x05", 1, "truncated"),
        (b"\xff" * 9 + b"\x02", 0, "64 bits"),  # 2**64 exactly
        (b"\xff" * 10 + b"\x00", 0, "10 bytes"),
        (b"\x80" * 11, 0, "10 bytes"),
    ],
)
def test_malformed_varints_are_decode_errors(data, pos, match):
    """A varint cut short, one above 2**64 - 1, or one longer than 10 bytes is DecodeError."""
    with pytest.raises(DecodeError, match=match):
        decode_varint(data, pos)


@PROPERTY
@given(data=st.binary(max_size=16), pos=st.integers(min_value=0, max_value=16))
def test_varint_decoder_on_random_bytes(data, pos):
    """On arbitrary bytes the decoder returns a value below 2**64 and a position within the data,
    or raises DecodeError -- nothing else."""
    try:
        value, new_pos = decode_varint(data, pos)
    except DecodeError:
        return
    assert 0 <= value < 2**64
    assert pos < new_pos <= len(data)


@pytest.mark.parametrize("value", [-1, 2**64])
def test_varint_out_of_range_is_value_error(value):
    """The encoder refuses values outside [0, 2**64)."""
    with pytest.raises(ValueError):
        encode_varint(value)


# ----------------------------------------------------------------------------------------------
# truncated binary, Elias gamma, zigzag
# ----------------------------------------------------------------------------------------------


@given(st.integers(1, 5000).flatmap(lambda m: st.tuples(st.just(m), st.lists(st.integers(0, m - 1), max_size=8))))
@PROPERTY
def test_truncated_binary_round_trip_and_length(m_ks):
    m, ks = m_ks
    w = BitWriter()
    for k in ks:
        write_truncated_binary(w, k, m)
    data, nbits = w.getvalue()
    assert nbits == sum(truncated_binary_bits(k, m) for k in ks)
    rd = BitReader(data, nbits)
    assert [read_truncated_binary(rd, m) for _ in ks] == ks
    rd.finish()


def test_truncated_binary_known_code_words():
    """m = 5: b = 2, the first 2**3 - 5 = 3 values in 2 bits, the others in 3 (k + 3)."""
    words = []
    for k in range(5):
        w = BitWriter()
        write_truncated_binary(w, k, 5)
        data, nbits = w.getvalue()
        words.append(format(int.from_bytes(data, "big") >> (8 * len(data) - nbits), f"0{nbits}b"))
    assert words == ["00", "01", "10", "110", "111"]
    assert [truncated_binary_bits(k, 8) for k in range(8)] == [3] * 8
    assert truncated_binary_bits(0, 1) == 0
    # the lengths are optimal for a uniform k: Kraft sum exactly 1
    for m in (1, 2, 3, 5, 6, 7, 100, 1023, 1024, 4097):
        assert sum(2.0 ** -truncated_binary_bits(k, m) for k in range(m)) == pytest.approx(1.0)


@pytest.mark.parametrize("k, m", [(-1, 4), (4, 4), (0, 0)])
def test_truncated_binary_out_of_range_is_value_error(k, m):
    with pytest.raises(ValueError, match="truncated binary"):
        write_truncated_binary(BitWriter(), k, m)


@given(st.lists(st.integers(1, 2**64 - 1), max_size=10))
@PROPERTY
def test_gamma_round_trip_and_length(ns):
    w = BitWriter()
    for n in ns:
        write_gamma(w, n)
    data, nbits = w.getvalue()
    assert nbits == sum(2 * (n.bit_length() - 1) + 1 for n in ns)
    rd = BitReader(data, nbits)
    assert [read_gamma(rd) for _ in ns] == ns
    rd.finish()


def test_gamma_known_code_words_and_bad_input():
    w = BitWriter()
    for n in (1, 2, 5):
        write_gamma(w, n)
    assert w.getvalue() == (bytes([0b10100010, 0b10000000]), 9)  # 1 | 010 | 00101
    with pytest.raises(ValueError, match="gamma"):
        write_gamma(BitWriter(), 0)
    w = BitWriter()
    write_gamma(w, 2**20)
    data, nbits = w.getvalue()
    with pytest.raises(DecodeError, match="too long"):
        read_gamma(BitReader(data, nbits), max_bits=20)
    with pytest.raises(DecodeError):  # truncated
        read_gamma(BitReader(data, nbits - 1))


@given(st.integers(-(2**40), 2**40))
@PROPERTY
def test_zigzag_round_trip(v):
    z = zigzag(v)
    assert z >= 0 and unzigzag(z) == v


def test_zigzag_known_values():
    assert [zigzag(v) for v in (0, -1, 1, -2, 2, -(2**30), 2**30)] == [0, 1, 2, 3, 4, 2**31 - 1, 2**31]
    assert [unzigzag(z) for z in range(5)] == [0, -1, 1, -2, 2]


def test_zigzag_arrays_match_the_int_form():
    v = np.array([0, -1, 1, -2, 2, -(2**30), 2**30, -(2**40) + 3], dtype=np.int64)
    z = zigzag(v)
    assert z.dtype == np.int64 and z.tolist() == [zigzag(int(x)) for x in v]
    assert unzigzag(z).tolist() == v.tolist()
