"""The entropy-coding layer: every ``constriction`` ANS stream in rcc goes through this module.

* :func:`guard`: the one policy for a foreign library's failure. constriction reports a bad
  stream by a Rust panic, ``PanicException``, which derives from ``BaseException`` and escapes
  ``except Exception``; every constriction call is wrapped so that it becomes a
  :class:`rcc.DecodeError` (decoders) or a ``ValueError`` (encoders, ``error=ValueError``).
* The stored form of an ANS stream. constriction's ``AnsCoder`` holds 32-bit words; the last
  (top, most significant) word is never zero, so its zero high part is dropped and restored
  from the stored length, and exactly one stored form decodes to each stream:

  - byte-granular (UQ, UQStream): :func:`words_to_bytes` / :func:`bytes_to_words`, the words
    little-endian with the zero high *bytes* of the top word dropped (a stream never ends in a
    zero byte); :func:`stream_bytes` / :func:`stream_decoder` wrap a coder;
  - bit-granular (chunked): :func:`write_words` / :func:`read_words`, the words most significant
    bit first with the leading zero *bits* of the top word dropped.

* Two symbol coders on top of an ``AnsCoder`` (used by chunked coding):

  - :func:`encode_kt` / :func:`decode_kt`: an adaptive categorical over ``alphabet`` symbols, the
    Krichevsky-Trofimov estimate (counts of the symbols seen so far + 1/2), so no table is sent
    and the decoder learns the law as it reads (Krichevsky & Trofimov, 1981); or counts plus
    other (dyadic) pseudo-counts, a prior law both sides know;
  - :func:`encode_uniform_pieces` / :func:`decode_uniform_pieces`: values of known bit widths
    sent as uniform symbols of at most :data:`PIECE_BITS` bits each (exactly ``width`` bits per
    value); :func:`split_mantissas`, :func:`join_mantissas` and :func:`piece_widths` cut values
    into such pieces and back.

A stack coder reads symbols in the reverse order of the pushes; the encoders here push so that
the decoder reads in the natural order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import constriction
import numpy as np

from .errors import DecodeError

if TYPE_CHECKING:  # annotations only: rcc.coding re-exports the stream helpers below
    from .coding import BitReader, BitWriter

__all__ = [
    "guard",
    "words_to_bytes",
    "bytes_to_words",
    "stream_bytes",
    "stream_decoder",
    "write_words",
    "read_words",
    "encode_kt",
    "decode_kt",
    "piece_widths",
    "split_mantissas",
    "join_mantissas",
    "encode_uniform_pieces",
    "decode_uniform_pieces",
    "PIECE_BITS",
]

#: Widest piece of a value under :func:`encode_uniform_pieces` (constriction Uniform(2^b), b <= 16).
PIECE_BITS = 16
#: Largest alphabet :func:`decode_kt` accepts (one row of probabilities is held).
MAX_KT_ALPHABET = 2**24
_KT_ALPHA = 0.5  # Krichevsky-Trofimov pseudo-count
_KT_BLOCK = 4096  # rows of the (symbols, alphabet) probability array per encoder call
_ANS = constriction.stream.stack.AnsCoder
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
_UNIFORM = constriction.stream.model.Uniform()


def guard(what: str, fn, *args, error: type[Exception] = DecodeError):
    """``fn(*args)``, with any failure re-raised as ``error(what failed: ...)``.

    Wrap every ``constriction`` call with it: constriction's ``PanicException`` derives from
    ``BaseException`` and escapes ``except Exception``. Encoders pass ``error=ValueError``.
    ``KeyboardInterrupt``, ``SystemExit`` and ``MemoryError`` pass through.
    """
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - constriction's PanicException is a BaseException
        raise error(f"{what} failed: {type(exc).__name__}: {exc}") from None


# ----------------------------------------------------------------------------------------------
# stored forms of an ANS stream
# ----------------------------------------------------------------------------------------------


def words_to_bytes(words: np.ndarray) -> bytes:
    """ANS words (uint32, shape (n,)) as little-endian bytes, the zero high bytes of the top
    (last) word dropped: ``4 (n - 1) + t`` bytes, 1 <= t <= 4 (empty for n = 0)."""
    words = np.asarray(words, dtype=np.uint32)
    if words.size and words[-1] == 0:
        raise ValueError("the top ANS word is zero")
    body = words.astype("<u4").tobytes()
    return body[:-4] + body[-4:].rstrip(b"\x00")


def bytes_to_words(data: bytes) -> np.ndarray:
    """Inverse of :func:`words_to_bytes`: uint32 words, shape (ceil(len(data) / 4),).

    Data ending in a zero byte is not a stored form (it would be a second stored form of a stream)
    and raises :class:`rcc.DecodeError`.
    """
    data = bytes(data)
    if data and data[-1] == 0:
        raise DecodeError("ANS stream ends in a zero byte (non-canonical): corrupted payload")
    data += b"\x00" * (-len(data) % 4)
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def stream_bytes(coder) -> bytes:
    """The stored form (:func:`words_to_bytes`) of an encoder's ANS stream."""
    return words_to_bytes(guard("entropy coding", coder.get_compressed, error=ValueError))


def stream_decoder(data: bytes):
    """A constriction ``AnsCoder`` decoding the stream stored in ``data`` (:func:`bytes_to_words`)."""
    return guard("reading the ANS stream", _ANS, bytes_to_words(data))


def write_words(w: BitWriter, words: np.ndarray) -> None:
    """ANS words (uint32, shape (n,)), 32 bits each, the top (last) word without its leading
    zero bits (1 to 32 bits: constriction never ends in a zero word); nothing for n = 0."""
    words = np.asarray(words, dtype=np.uint32)
    if words.size == 0:
        return
    for x in words[:-1].tolist():
        w.write(int(x), 32)
    top = int(words[-1])
    if top == 0:
        raise ValueError("the top ANS word is zero")
    w.write(top, top.bit_length())


def read_words(rd: BitReader) -> np.ndarray:
    """Inverse of :func:`write_words` on the rest of ``rd``: 32 (n - 1) + t bits, 1 <= t <= 32.

    A top word whose first stored bit is zero is not a stored form: :class:`rcc.DecodeError`.
    """
    nbits = rd.remaining
    if nbits == 0:
        return np.zeros(0, dtype=np.uint32)
    full = (nbits - 1) // 32
    words = [rd.read(32) for _ in range(full)]
    top_bits = nbits - 32 * full
    top = rd.read(top_bits)
    if top >> (top_bits - 1) != 1:
        raise DecodeError("the top ANS word is not stored canonically: corrupted payload")
    words.append(top)
    return np.array(words, dtype=np.uint32)


# ----------------------------------------------------------------------------------------------
# adaptive Krichevsky-Trofimov categorical
# ----------------------------------------------------------------------------------------------


def _kt_probs(symbols: np.ndarray, alphabet: int, prior) -> np.ndarray:
    """(n, alphabet) rows: counts of each symbol before position i, plus the prior pseudo-counts."""
    onehot = np.zeros((symbols.shape[0], alphabet))
    onehot[np.arange(symbols.shape[0]), symbols] = 1.0
    before = np.cumsum(onehot, axis=0) - onehot
    return before + prior


def _check_prior(prior, alphabet: int):
    """The pseudo-counts: 1/2 each (KT) or ``prior`` (alphabet,), positive multiples of 2^-10
    below 2^20, so that every count sum is exact in float64 and encoder and decoder agree."""
    if prior is None:
        return _KT_ALPHA
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (alphabet,) or not (prior > 0).all() or (prior >= 2**20).any() or (prior * 1024 % 1).any():
        raise ValueError("prior pseudo-counts must be (alphabet,) positive multiples of 2**-10 below 2**20")
    return prior


def encode_kt(coder, symbols: np.ndarray, alphabet: int, prior=None) -> None:
    """Push ``symbols`` (ints in [0, alphabet), shape (n,)) under the adaptive KT categorical so
    that :func:`decode_kt` reads them in order. Nothing is pushed for n = 0 or alphabet < 2.
    ``prior``: pseudo-counts other than 1/2 (see :func:`_check_prior`); the decoder passes the same."""
    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.size == 0 or alphabet < 2:
        return
    prior = _check_prior(prior, alphabet)
    counts = np.zeros(alphabet)
    blocks = []
    for start in range(0, symbols.shape[0], _KT_BLOCK):
        block = symbols[start:start + _KT_BLOCK]
        probs = _kt_probs(block, alphabet, prior) + counts
        counts = counts + np.bincount(block, minlength=alphabet)
        blocks.append((block, probs))
    for block, probs in reversed(blocks):  # a stack: last pushed is first read
        guard("entropy coding", coder.encode_reverse, block.astype(np.int32), _CATEGORICAL, probs,
              error=ValueError)


def decode_kt(coder, count: int, alphabet: int, prior=None) -> np.ndarray:
    """Inverse of :func:`encode_kt` (with the same ``prior``): ``count`` symbols, int64 shape (count,).

    An alphabet outside [2, :data:`MAX_KT_ALPHABET`] (for count > 0) or a failing stream is a
    :class:`rcc.DecodeError`.
    """
    out = np.zeros(count, dtype=np.int64)
    if count == 0 or alphabet < 2:
        return out
    if not 2 <= alphabet <= MAX_KT_ALPHABET:
        raise DecodeError(f"alphabet of {alphabet} symbols out of range")
    row = np.empty((1, alphabet))
    row[0] = _check_prior(prior, alphabet)
    for i in range(count):
        s = int(guard("entropy decoding", coder.decode, _CATEGORICAL, row)[0])
        out[i] = s
        row[0, s] += 1.0
    return out


# ----------------------------------------------------------------------------------------------
# values of known bit widths as uniform pieces of <= 16 bits
# ----------------------------------------------------------------------------------------------


def _num_pieces(width: int) -> tuple[int, int]:
    """(number of pieces, width of the first piece) of a ``width``-bit value."""
    n = (width + PIECE_BITS - 1) // PIECE_BITS
    return n, width - PIECE_BITS * (n - 1)


def piece_widths(widths: np.ndarray) -> np.ndarray:
    """Split bit widths (each in [0, 63], shape (n,)) into pieces of <= 16 bits, most
    significant piece first; int64 shape (total pieces,). A width 0 has no piece."""
    out = []
    for wdt in np.asarray(widths, dtype=np.int64).tolist():
        n, first = _num_pieces(wdt)
        out.extend([first] + [PIECE_BITS] * (n - 1) if n else [])
    return np.array(out, dtype=np.int64)


def split_mantissas(values: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pieces (symbols, widths) of each value's ``width`` low bits, most significant first;
    both int64 of shape (total pieces,) (:func:`piece_widths` gives the widths)."""
    syms, wids = [], []
    for v, wdt in zip(np.asarray(values).tolist(), np.asarray(widths).tolist()):
        v = int(v) & ((1 << wdt) - 1)
        n, first = _num_pieces(wdt)
        shift = wdt
        for k in range(n):
            b = first if k == 0 else PIECE_BITS
            shift -= b
            syms.append((v >> shift) & ((1 << b) - 1))
            wids.append(b)
    return np.array(syms, dtype=np.int64), np.array(wids, dtype=np.int64)


def join_mantissas(pieces: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_mantissas`: uint64 values, shape (n,), for value widths (n,)."""
    out = np.zeros(len(widths), dtype=np.uint64)
    pos = 0
    for i, wdt in enumerate(np.asarray(widths).tolist()):
        n, first = _num_pieces(wdt)
        v = 0
        for k in range(n):
            b = first if k == 0 else PIECE_BITS
            v = (v << b) | int(pieces[pos])
            pos += 1
        out[i] = v
    return out


def encode_uniform_pieces(coder, symbols: np.ndarray, widths: np.ndarray) -> None:
    """Push pieces ``symbols`` (shape (n,), each in [0, 2**width)) of ``widths`` (in [1, 16]) as
    uniform symbols, exactly ``sum(widths)`` bits, read back in order by :func:`decode_uniform_pieces`."""
    symbols, widths = np.asarray(symbols, dtype=np.int64), np.asarray(widths, dtype=np.int64)
    if symbols.size == 0:
        return
    if widths.min() < 1 or widths.max() > PIECE_BITS or symbols.min() < 0 or (symbols >> widths).any():
        raise ValueError("mantissa pieces out of range")
    sizes = (np.int64(1) << widths).astype(np.int32)
    guard("entropy coding", coder.encode_reverse, symbols.astype(np.int32), _UNIFORM, sizes, error=ValueError)


def decode_uniform_pieces(coder, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_uniform_pieces`: int64 pieces, shape (n,) for widths (n,)."""
    widths = np.asarray(widths, dtype=np.int64)
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64)
    if widths.min() < 1 or widths.max() > PIECE_BITS:
        raise DecodeError("mantissa piece width out of range")
    sizes = (np.int64(1) << widths).astype(np.int32)
    return np.asarray(guard("entropy decoding", coder.decode, _UNIFORM, sizes), dtype=np.int64)
