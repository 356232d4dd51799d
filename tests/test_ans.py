"""rcc._ans: the one entropy-coding layer (guard, stored forms of ANS streams, KT and piece coders)."""

import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcc._ans import (
    PIECE_BITS,
    bytes_to_words,
    decode_kt,
    decode_uniform_pieces,
    encode_kt,
    encode_uniform_pieces,
    guard,
    join_mantissas,
    piece_widths,
    read_words,
    split_mantissas,
    stream_bytes,
    stream_decoder,
    words_to_bytes,
    write_words,
)
from rcc.coding import BitReader, BitWriter
from rcc.errors import DecodeError

_words = st.lists(st.integers(0, 2**32 - 1), max_size=6).flatmap(
    lambda w: st.integers(1, 2**32 - 1).map(lambda top: np.array(w + [top], dtype=np.uint32))
) | st.just(np.zeros(0, dtype=np.uint32))


class _Panic(BaseException):
    """Stands for constriction's PanicException (a BaseException)."""


def _panics():
    raise _Panic("boom")


def test_guard_turns_base_exceptions_into_the_given_error():
    with pytest.raises(DecodeError, match="entropy decoding failed: _Panic: boom"):
        guard("entropy decoding", _panics)
    with pytest.raises(ValueError, match="entropy coding failed") as info:
        guard("entropy coding", _panics, error=ValueError)
    assert not isinstance(info.value, DecodeError)
    assert guard("sum", sum, [1, 2]) == 3


def test_guard_lets_interrupts_through():
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guard("x", interrupted)


@given(_words)
@settings(max_examples=200, deadline=None)
def test_bytes_round_trip_and_length(words):
    data = words_to_bytes(words)
    np.testing.assert_array_equal(bytes_to_words(data), words)
    if words.size:
        top = int(words[-1])
        assert len(data) == 4 * (words.size - 1) + (top.bit_length() + 7) // 8
        assert data[-1] != 0
    else:
        assert data == b""


def test_bytes_known_answer():
    assert words_to_bytes(np.array([0x01020304, 0x0000ABCD], dtype=np.uint32)) == bytes.fromhex("04030201cdab")
    assert words_to_bytes(np.array([0x80000000], dtype=np.uint32)) == bytes.fromhex("00000080")


@pytest.mark.parametrize("data", [b"\x00", b"\x01\x00", b"\x01\x02\x03\x04\x00", b"\x01\x02\x03\x00"])
def test_bytes_non_canonical_is_a_decode_error(data):
    with pytest.raises(DecodeError, match="non-canonical"):
        bytes_to_words(data)


def test_zero_top_word_is_refused_by_both_writers():
    with pytest.raises(ValueError, match="top ANS word is zero"):
        words_to_bytes(np.array([5, 0], dtype=np.uint32))
    with pytest.raises(ValueError, match="top ANS word is zero"):
        write_words(BitWriter(), np.array([5, 0], dtype=np.uint32))


@given(_words, st.integers(0, 7))
@settings(max_examples=200, deadline=None)
def test_bit_words_round_trip_and_length(words, lead):
    w = BitWriter()
    w.write((1 << lead) - 1, lead)  # the words need not start on a byte boundary
    write_words(w, words)
    data, nbits = w.getvalue()
    expect = 32 * (words.size - 1) + int(words[-1]).bit_length() if words.size else 0
    assert nbits == lead + expect
    rd = BitReader(data, nbits)
    rd.read(lead)
    np.testing.assert_array_equal(read_words(rd), words)
    rd.finish()


def test_bit_words_non_canonical_top_is_a_decode_error():
    w = BitWriter()
    w.write(0, 33)  # one full word, then a top word whose first stored bit is zero
    data, nbits = w.getvalue()
    with pytest.raises(DecodeError, match="not stored canonically"):
        read_words(BitReader(data, nbits))


def test_stream_bytes_round_trip_through_constriction():
    coder = constriction.stream.stack.AnsCoder()
    msg = np.arange(100, dtype=np.int32) % 7
    encode_kt(coder, msg, 7)
    data = stream_bytes(coder)
    np.testing.assert_array_equal(decode_kt(stream_decoder(data), 100, 7), msg)


@pytest.mark.parametrize("alphabet, n", [(2, 1), (3, 50), (40, 5000), (300, 9000)])
def test_kt_round_trip_and_cost(alphabet, n):
    rng = np.random.default_rng(alphabet)
    symbols = np.minimum(rng.geometric(0.3, size=n) - 1, alphabet - 1)
    coder = constriction.stream.stack.AnsCoder()
    encode_kt(coder, symbols, alphabet)
    bits = 32 * coder.num_words()
    np.testing.assert_array_equal(decode_kt(coder, n, alphabet), symbols)
    assert coder.is_empty()
    # the KT information content: -sum log2 (count_before(s) + 1/2) / (i + alphabet / 2)
    counts = np.zeros(alphabet)
    info = 0.0
    for i, s in enumerate(symbols.tolist()):
        info -= np.log2((counts[s] + 0.5) / (i + alphabet / 2))
        counts[s] += 1
    assert bits <= info * 1.01 + 64


def test_kt_nothing_for_empty_or_single_symbol_alphabets():
    coder = constriction.stream.stack.AnsCoder()
    encode_kt(coder, np.zeros(5, dtype=np.int64), 1)
    encode_kt(coder, np.zeros(0, dtype=np.int64), 4)
    assert coder.is_empty()
    np.testing.assert_array_equal(decode_kt(coder, 5, 1), np.zeros(5))


def test_decode_kt_refuses_huge_alphabets_and_guards_constriction():
    with pytest.raises(DecodeError, match="alphabet"):
        decode_kt(constriction.stream.stack.AnsCoder(), 1, 2**24 + 1)
    with pytest.raises(DecodeError, match="entropy decoding failed"):  # an empty coder cannot decode
        decode_kt(constriction.stream.stack.AnsCoder(), 3, 2**24)


@given(st.lists(st.integers(0, 63), max_size=20), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_mantissa_pieces_round_trip(widths, rnd):
    widths = np.array(widths, dtype=np.int64)
    values = np.array([rnd.getrandbits(int(w)) if w else 0 for w in widths], dtype=np.uint64)
    syms, wids = split_mantissas(values, widths)
    np.testing.assert_array_equal(wids, piece_widths(widths))
    assert int(wids.sum()) == int(widths.sum())
    assert wids.size == 0 or (wids.min() >= 1 and wids.max() <= PIECE_BITS)
    coder = constriction.stream.stack.AnsCoder()
    encode_uniform_pieces(coder, syms, wids)
    assert 32 * coder.num_words() <= int(widths.sum()) + 64
    got = decode_uniform_pieces(coder, wids)
    np.testing.assert_array_equal(got, syms)
    np.testing.assert_array_equal(join_mantissas(got, widths), values)


def test_piece_widths_known_answer():
    np.testing.assert_array_equal(piece_widths([0, 5, 16, 17, 40, 63]), [5, 16, 1, 16, 8, 16, 16, 15, 16, 16, 16])


def test_pieces_bad_input():
    coder = constriction.stream.stack.AnsCoder()
    with pytest.raises(ValueError, match="out of range"):
        encode_uniform_pieces(coder, np.array([4]), np.array([2]))
    with pytest.raises(DecodeError, match="width out of range"):
        decode_uniform_pieces(coder, np.array([17]))
