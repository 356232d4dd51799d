"""Many sequential universal-quantization messages ("pushes") in one ANS stream:
:class:`UQStream` and :class:`UQStreamDecoder`.

Each push is one :class:`rcc.UQ` message (same law, same maths, same entropy models, see
:mod:`rcc.uq`), and the prior of a later push may depend on the samples of earlier ones: the
decoder pops the pushes in the order they were pushed. The framing is paid once per stream (the
two 16-bit check symbols, the ANS tail, one container) instead of once per push.

Shared randomness: push ``i`` (0-based) uses the dither
``rcc.random.uniforms(seed, DOMAIN_DITHER, i, 0, n) - 1/2``, i.e. Philox chunk ``i``, so pushes
are independent and push 0 uses :class:`rcc.UQ`'s dither.

Payload (``num_bits = 8 * len(payload)``): ANS words only, uint32 little-endian with up to 3 zero
high bytes of the top word dropped (:mod:`rcc._ans`). Decoding order::

    check symbol 0xA5C3 (uniform, 16 bits)
    for each push i = 0 .. n-1:
        Gaussian / Laplace prior only: range flag r (categorical, P(1) = 2**-12)
            r = 0: kmin, kmax = the derived range (:func:`derived_range`, not sent)
            r = 1: zigzag(kmin), zigzag(kmax), each as two uniform 16-bit symbols
        mode: quantized family iff the prior is Gaussian / Laplace, kmax - kmin < 2**12 and
              the family parameters are finite (all known to the decoder), else table mode
        the indices (as UQ: one quantized-family call, or the table batches)
    check symbol 0xA5C3

Container: method ``"uq_stream"``, parameters ``(num_pushes,)``, shape ``(total number of
elements,)``, the seed; its checksum is a plain CRC-32 (no prior fingerprint: a wrong prior is
caught at :meth:`UQStreamDecoder.finish`, see there).
"""

from __future__ import annotations

import constriction
import numpy as np

from ._ans import guard, stream_bytes, stream_decoder
from ._cdf_table import CATEGORICAL, MAX_INDEX, UNIFORM16, CdfLaw, index_window
from ._checks import check_prior
from .coding import unzigzag, zigzag
from .container import DEFAULT_MAX_ELEMENTS, Message, check_max_elements, unpack
from .distributions import Distribution
from .errors import DecodeError
from .random import check_seed
from .uq import (
    MODE_TABLE,
    channel_input,
    check_end,
    check_sentinel,
    check_width,
    choose_mode,
    decode_indices,
    dither,
    encode_indices,
    push_sentinel,
    quantizable,
    quantize,
    renamed_width,
    widen,
)

__all__ = ["UQStream", "UQStreamDecoder", "EXPLICIT_RANGE_PROB"]

#: Probability that a push with a Gaussian or Laplace prior sends its index range explicitly
#: (the flag costs ``-log2(1 - 2**-12)`` = 0.00035 bits when the range is derived).
EXPLICIT_RANGE_PROB = 2.0**-12
_RANGE_FLAG_PROBS = np.array([[1.0 - EXPLICIT_RANGE_PROB, EXPLICIT_RANGE_PROB]])


def derived_range(p_flat, width, u):
    """The index range the decoder derives from the prior: the union of the table windows
    (:func:`rcc._cdf_table.index_window`); None when it is not a valid range (non-finite,
    beyond +-2**30)."""
    flo, fhi = index_window(CdfLaw(p_flat), width, u)
    if not (np.isfinite(flo).all() and np.isfinite(fhi).all()):
        return None
    lo, hi = float(flo.min()), float(fhi.max())
    if not (-MAX_INDEX <= lo <= hi <= MAX_INDEX):
        return None
    return widen(int(lo), int(hi))


def _split32(z: int) -> np.ndarray:
    return np.array([z >> 16, z & 0xFFFF], dtype=np.int32)


class UQStream:
    """Many sequential universal-quantization messages (pushes) in one ANS stream with one header.

    What each push adds beyond its information content is at most a range flag (0.00035 bits)
    for Gaussian and Laplace priors, plus 64 bits in the rare case (< 2**-20 per element under
    the prior) that its indices fall outside the range the decoder derives from the prior. The
    format is in the module docstring (:mod:`rcc.uq_stream`).

    Parameters
    ----------
    seed : int in [0, 2**64)
        Shared-randomness seed.

    Attributes
    ----------
    num_pushes : int
    info_bits : float
        ``sum -log2 P(k | u)`` over all pushes, bits.
    push_info : list[dict]
        Per push: ``info_bits``, ``num_elements``, ``escapes``, ``mode``, ``explicit_range``.
    num_bits : int
        Payload bits (encodes the stream; cached until the next push).
    push_bits : np.ndarray (num_pushes,)
        The ANS stream's growth while each push was coded (floats summing to about ``num_bits``;
        the check symbols and the tail are spread by nothing: they are in no push).

    Example
    -------
    >>> import numpy as np
    >>> import rcc
    >>> enc = rcc.UQStream(seed=7)
    >>> w = np.full(16, 0.25)              # the decoder knows the widths; the shape comes with them
    >>> mu = np.linspace(-2.0, 2.0, 16)
    >>> x1 = enc.push(rcc.Uniform(mu - w / 2, mu + w / 2), rcc.Gaussian(0.0, 1.5), width=w)
    >>> x2 = enc.push(rcc.Uniform(mu - w / 2, mu + w / 2), rcc.Logistic(x1, 0.5), width=w)
    >>> dec = rcc.UQStream.decoder(enc.to_bytes(), seed=7)
    >>> y1 = dec.pop(rcc.Gaussian(0.0, 1.5), w)
    >>> y2 = dec.pop(rcc.Logistic(y1, 0.5), w)
    >>> dec.finish()
    >>> bool(np.array_equal(x1, y1) and np.array_equal(x2, y2))
    True
    """

    method = "uq_stream"

    def __init__(self, seed):
        self.seed = check_seed(seed)
        self._pushes: list[tuple] = []
        self.push_info: list[dict] = []
        self._cache = None

    def __repr__(self) -> str:
        return f"UQStream(seed={self.seed}, num_pushes={self.num_pushes})"

    @property
    def num_pushes(self) -> int:
        return len(self._pushes)

    @property
    def num_elements(self) -> int:
        return int(sum(info["num_elements"] for info in self.push_info))

    @property
    def info_bits(self) -> float:
        return float(sum(info["info_bits"] for info in self.push_info))

    def push(self, q, p, *, width=None, step=None) -> np.ndarray:
        """Add one push: sample ``q = Uniform(mu - w/2, mu + w/2)`` under prior ``p``.

        Parameters
        ----------
        q : rcc.Uniform, any shape
        p : rcc.Distribution broadcastable to ``q.shape``
        width : array_like, optional
            The cell widths, bit for bit as the decoder will be given them (``pop(p, width)``).
            Default: ``high - low`` (the first width if all agree up to float rounding); pass
            ``width`` whenever ``high - low`` may differ from the decoder's width in the last bit.
            ``step=`` is its deprecated name.

        Returns
        -------
        np.ndarray, q's shape, float64: the sample the decoder's matching :meth:`pop` returns.
        """
        width = renamed_width(width, step, "UQStream.push")
        shape, pb, mu, width_flat = channel_input(q, p, width)
        p_flat, n = pb.ravel(), width_flat.size
        u = dither(self.seed, n, chunk=len(self._pushes))
        k, sample = quantize(mu, width_flat, u)
        explicit = False
        kmin = kmax = None
        mode, mean, scale = MODE_TABLE, None, None
        if quantizable(p_flat) and n:
            derived = derived_range(p_flat, width_flat, u)
            dmin, dmax = int(k.min()), int(k.max())
            if derived is not None and derived[0] <= dmin and dmax <= derived[1]:
                kmin, kmax = derived
            else:
                explicit = True
                kmin, kmax = widen(dmin, dmax)
            mode, mean, scale = choose_mode(p_flat, width_flat, u, kmin, kmax)
        info_bits, escapes = encode_indices(None, mode, k, p_flat, width_flat, u, kmin, kmax, mean, scale)
        self._pushes.append((mode, k, p_flat, width_flat, u, kmin, kmax, mean, scale, explicit))
        self.push_info.append(
            {"info_bits": info_bits, "num_elements": n, "escapes": escapes, "mode": mode, "explicit_range": explicit}
        )
        self._cache = None
        return sample.reshape(shape)

    def _push_onto(self, coder, i: int) -> None:
        """Put push ``i`` on the stack: its indices, then (read before them) its range flag."""
        mode, k, p_flat, width, u, kmin, kmax, mean, scale, explicit = self._pushes[i]
        if k.size:
            encode_indices(coder, mode, k, p_flat, width, u, kmin, kmax, mean, scale)
        if quantizable(p_flat) and k.size:
            if explicit:
                syms = np.concatenate([_split32(zigzag(kmin)), _split32(zigzag(kmax))])
                guard("entropy coding", coder.encode_reverse, syms, UNIFORM16, error=ValueError)
            flag = np.array([int(explicit)], dtype=np.int32)
            guard("entropy coding", coder.encode_reverse, flag, CATEGORICAL, _RANGE_FLAG_PROBS, error=ValueError)

    def _encode(self):
        if self._cache is None:
            coder = constriction.stream.stack.AnsCoder()
            push_sentinel(coder)  # bottom
            grown = np.zeros(len(self._pushes))
            below = np.zeros(len(self._pushes), dtype=np.int64)
            for i in range(len(self._pushes) - 1, -1, -1):  # a stack: last push first
                below[i] = coder.num_words()  # what a decoder holds once it has popped push i
                before = coder.num_valid_bits()
                self._push_onto(coder, i)
                grown[i] = coder.num_valid_bits() - before
            push_sentinel(coder)  # top
            total = coder.num_words()
            # words from the top a decoder needs to pop pushes 0..i: the ones above the encoder's
            # stack before push i, plus the two a 64-bit ANS state may have pulled in early
            pop_words = np.minimum(total - below + 2, total)
            self._cache = (stream_bytes(coder), grown, pop_words)
        return self._cache

    @property
    def payload(self) -> bytes:
        return self._encode()[0]

    @property
    def num_bits(self) -> int:
        return 8 * len(self.payload)

    @property
    def push_bits(self) -> np.ndarray:
        return self._encode()[1].copy()

    @property
    def pop_words(self) -> np.ndarray:
        """(num_pushes,) int64: 32-bit words from the top of the stream (the end of the payload)
        that a decoder needs to pop pushes 0..i; see :meth:`UQStreamDecoder.from_top`.

        The stream is a stack whose top holds the first push, so a payload stored back to front
        is progressive: its first ``4 * pop_words[i]`` bytes decode the first i + 1 pushes.
        """
        return self._encode()[2].copy()

    def message(self) -> Message:
        """The stream as an :class:`rcc.Message` (sample: all pushes' samples, flat, concatenated;
        ``info``: ``info_bits``, ``num_scored`` 0, ``truncated`` False, ``num_pushes``, ``push_info``)."""
        samples = [(width * (k.astype(np.float64) + u)) for _, k, _, width, u, *_ in self._pushes]
        sample = np.concatenate(samples) if samples else np.zeros(0)
        info = {"info_bits": self.info_bits, "num_scored": 0, "truncated": False, "num_pushes": self.num_pushes,
                "push_info": list(self.push_info)}
        return Message(self.method, (self.num_pushes,), self.seed, sample, self.payload, self.num_bits, info)

    def to_bytes(self) -> bytes:
        """The whole stream in one rcc container (see :mod:`rcc.uq_stream` for the layout)."""
        return self.message().to_bytes()

    @classmethod
    def decoder(cls, blob, seed=None, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> "UQStreamDecoder":
        """A decoder of a blob made by :meth:`to_bytes`; ``seed`` (optional) must equal the blob's.
        A blob of more than ``max_elements`` elements or pushes is a DecodeError."""
        return UQStreamDecoder(blob, seed=seed, max_elements=max_elements)


def _check_counts(num_pushes, num_elements, max_elements) -> None:
    max_elements = check_max_elements(max_elements)
    for name, v in (("pushes", num_pushes), ("elements", num_elements)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"num_{name} must be an int >= 0; got {v!r}")
        if v > max_elements:
            raise DecodeError(
                f"the stream declares {v} {name}, more than the limit of {max_elements}; if it is trusted, "
                "pass a larger max_elements= to the decoder"
            )


class UQStreamDecoder:
    """Pops the pushes of a :class:`UQStream` in order (made by :meth:`UQStream.decoder`, or
    :meth:`from_top` for a stream framed by the caller).

    ``pop(p, width)`` returns the next push's sample (shape: ``p.shape`` broadcast with
    ``width``'s), bit for bit; ``finish()`` checks that every push was popped and the end check
    symbol. Anything that does not check out raises :class:`rcc.DecodeError`.

    **Wrong priors.** Unlike the other rcc containers, a stream's checksum does not fold in the
    priors (they are known only push by push, and may depend on earlier samples). A wrong prior
    (or width) desynchronises the ANS state, which ``finish()`` catches through the end check
    symbol and the empty-coder test: of 1000 streams of two 16-element pushes decoded with a
    wrong first prior (loc shifted or scale changed by 1e-4 to 1, or another family), all 1000
    raised DecodeError at ``finish()``. Samples popped *before* ``finish()`` are unverified: in
    the same run all 1000 were wrong without an error. So use no sample until ``finish()``
    returned, or verify each push yourself (prefix decoding with :meth:`from_top` has no end to
    check). Measured by ``tests/test_rcc_hardening.py::test_uq_stream_wrong_prior_rate`` (slow).
    """

    @classmethod
    def from_top(cls, top: bytes, payload_len: int, seed: int, num_pushes: int, num_elements: int, *,
                 max_elements: int = DEFAULT_MAX_ELEMENTS):
        """A decoder of the first pushes from the top of a stream alone (progressive decoding).

        ``top`` holds the last ``len(top)`` bytes of a :attr:`UQStream.payload` of
        ``payload_len`` bytes (seed, push count and element count as the encoder's). Returns
        ``(decoder, words)``: ``words`` complete 32-bit words from the top are present, and pushes
        0..i pop exactly as from the whole stream if ``words >= pop_words[i]`` -- the caller must
        know ``pop_words`` (beyond that the decoder cannot tell good indices from garbage).
        ``finish()`` needs the whole payload. ``num_pushes`` or ``num_elements`` above
        ``max_elements`` (they are often read from a file) are a DecodeError; the decoder is
        None when ``top`` holds less than the two words of the ANS state.
        """
        seed = check_seed(seed)
        _check_counts(num_pushes, num_elements, max_elements)
        top = bytes(top)
        if not 0 <= len(top) <= payload_len:
            raise ValueError(f"top holds {len(top)} bytes of a {payload_len}-byte payload")
        self = cls.__new__(cls)
        if len(top) == payload_len:
            self._start(stream_decoder(top), seed, num_pushes, num_elements)
            return self, -(-payload_len // 4)
        start = -(-(payload_len - len(top)) // 4)  # first word wholly inside top
        rest = top[4 * start - (payload_len - len(top)):]
        words = -(-len(rest) // 4)
        if words < 2:  # not even the ANS state: nothing can be popped
            return None, words
        self._start(stream_decoder(rest), seed, num_pushes, num_elements)
        return self, words

    def _start(self, coder, seed: int, num_pushes: int, num_elements: int) -> None:
        self.seed, self.num_pushes, self.num_elements = seed, int(num_pushes), int(num_elements)
        self.popped = 0
        self._elements = 0
        self._coder = coder
        check_sentinel(self._coder, "start")

    def __init__(self, blob, seed=None, *, max_elements: int = DEFAULT_MAX_ELEMENTS):
        c = unpack(blob, expect_method=UQStream.method, seed=seed, max_elements=max_elements)
        if len(c.params) != 1 or len(c.shape) != 1:
            raise DecodeError(f"bad uq_stream parameters {c.params} / shape {c.shape}")
        _check_counts(c.params[0], c.shape[0], max_elements)
        if c.num_bits != 8 * len(c.data):
            raise DecodeError("uq_stream payload must be a whole number of bytes")
        self._start(stream_decoder(c.data), c.seed, c.params[0], c.shape[0])

    def __repr__(self) -> str:
        return f"UQStreamDecoder(seed={self.seed}, popped={self.popped}/{self.num_pushes})"

    def _range(self, p_flat, width, u):
        """kmin, kmax of a Gaussian / Laplace push: the flag, then sent or derived."""
        coder = self._coder
        if int(guard("entropy decoding", coder.decode, CATEGORICAL, _RANGE_FLAG_PROBS)[0]):
            h = guard("entropy decoding", coder.decode, UNIFORM16, 4).astype(np.int64)
            kmin, kmax = unzigzag(int(h[0] << 16 | h[1])), unzigzag(int(h[2] << 16 | h[3]))
            if not (-MAX_INDEX <= kmin < kmax <= MAX_INDEX):
                raise DecodeError(f"bad index range [{kmin}, {kmax}]: corrupted payload")
            return kmin, kmax
        derived = derived_range(p_flat, width, u)
        if derived is None:
            raise DecodeError("the prior gives no index range, yet none was sent: corrupted payload")
        return derived

    def pop(self, p, width=None, *, step=None) -> np.ndarray:
        """The sample of the next push, given its prior ``p`` and cell widths ``width`` (bit for
        bit as the encoder used them; ``step=`` is its deprecated name); shape
        ``np.broadcast_shapes(p.shape, np.shape(width))``."""
        width = renamed_width(width, step, "UQStreamDecoder.pop")
        if width is None:
            raise ValueError("UQStreamDecoder.pop needs the cell widths: pop(p, width)")
        shape = self._pop_shape(p, width)
        width_flat = check_width(width, shape)
        if self.popped >= self.num_pushes:
            raise DecodeError(f"the stream holds {self.num_pushes} pushes; all were popped already")
        p_flat = check_prior(p, shape).ravel()
        n = p_flat.size
        if self._elements + n > self.num_elements:
            raise DecodeError(
                f"pop of {n} elements exceeds the stream's {self.num_elements} elements "
                f"({self._elements} popped): shapes differ from the encoder's"
            )
        u = dither(self.seed, n, chunk=self.popped)
        kmin = kmax = None
        mode = MODE_TABLE
        if quantizable(p_flat) and n:
            kmin, kmax = self._range(p_flat, width_flat, u)
            mode, _, _ = choose_mode(p_flat, width_flat, u, kmin, kmax)
        k = decode_indices(self._coder, mode, p_flat, width_flat, u, kmin, kmax) if n else np.zeros(0, np.int64)
        self.popped += 1
        self._elements += n
        return (width_flat * (k.astype(np.float64) + u)).reshape(shape)

    @staticmethod
    def _pop_shape(p, width) -> tuple[int, ...]:
        if not isinstance(p, Distribution):
            check_prior(p, ())  # the one prior check: a ValueError naming the type
        try:
            return np.broadcast_shapes(p.shape, np.shape(width))
        except ValueError:
            raise ValueError(f"width of shape {np.shape(width)} does not broadcast with p of shape {p.shape}") from None

    def finish(self) -> None:
        """Check that every push was popped and the stream ends with its check symbol."""
        if self.popped != self.num_pushes:
            raise DecodeError(f"only {self.popped} of the stream's {self.num_pushes} pushes were popped")
        if self._elements != self.num_elements:
            raise DecodeError(f"popped {self._elements} elements; the stream holds {self.num_elements}")
        check_end(self._coder)
