"""The contract every rcc channel shares, the registry of methods, and :func:`rcc.decode`.

Every channel (UQ, PFR, ORC, MRC, Hybrid, and those to come) is a :class:`Channel`::

    ch.encode(q, p, seed)                        -> rcc.Message      (info: the vocabulary below)
    ch.decode(blob, p, seed=None, *, max_elements)  -> np.ndarray    (= unpack + decode_payload)
    ch.decode_payload(payload, p, *, max_elements)  -> np.ndarray    (no checksum)
    ch.chunk_code()                              -> ChunkCode        (how rcc.compress sends and
                                                                      regenerates its chunks)
    ch.select(pair, seed, chunk), ch.refusal(kl, dinf, size), ch.expected_candidates(kl, dinf, size)
                                                 the race of one chunk, for rcc.compress

A subclass that names its ``method`` and ``method_code`` registers itself on definition, so
:func:`decode` (and ``rcc.decompress`` for chunked blobs) find it by the method name in a blob:
adding a channel touches one file.

PFR, ORC, MRC and Hybrid can be chunked (UQ codes any shape in one message). A selection
channel (:class:`SelectionChannel`: PFR, ORC, MRC) draws candidates X_1, X_2, ... ~ p
from the shared stream, picks an index K with a rule of its own (:meth:`SelectionChannel.select`),
and sends K with a prefix code of its own law; the decoder regenerates candidate K in O(d).

The ``info`` vocabulary (``msg.info`` of every channel)
--------------------------------------------------------
``kl_bits`` (float)
    KL[q || p] in bits (UQ: of the uniform target and the prior; nan without a closed form).
``dinf_bits`` (float)
    log2 sup dq/dp in bits (``inf`` where unbounded), where known.
``index`` (int)
    The 1-based index sent (selection channels and Hybrid).
``num_scored`` (int)
    Candidates scored by the encoder (0 for UQ, which scores none).
``truncated`` (bool)
    The race did not certify its winner: a candidate budget ended it before the stopping rule
    proved that no later candidate could win, so the sample is not exactly distributed as the
    channel's exact law. Per channel: PFR and Hybrid (inner PFR): True iff the budget
    (``max_candidates`` / ``headroom_bits``) cut the race -- False means an exact sample of q.
    ORC and Hybrid (inner ORC): True unless the ordered race stopped early (certified); even
    then the sample follows ORC's law, which approximates q (its bias shrinks as N grows).
    MRC: always True (Gumbel-max over all N candidates, no certificate). UQ: always False (the
    dithered quantizer is exact). :func:`rcc.compress`: any chunk truncated (``num_truncated``
    counts them; chunks where q equals p are exact).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_pair, pair_dinf_bits, pair_kl_bits, warn_long_race
from ._kernels import Pair, candidate
from .coding import BitReader, BitWriter
from .container import (
    DEFAULT_MAX_ELEMENTS,
    METHODS,
    Message,
    Payload,
    check_payload,
    method_of,
    prior_fingerprint,
    register_method,
    unpack,
)
from .distributions import Distribution
from .errors import DecodeError
from .random import check_seed, seed_key

__all__ = ["Channel", "SelectionChannel", "register", "decode", "channel_class", "check_num_candidates", "expect_params"]

#: method name -> decode_payload(payload, p, *, max_elements) of that method
_DECODERS: dict[str, Callable] = {}
#: method name -> channel class (channels only; "chunked" is not one)
_CLASSES: dict[str, type] = {}


def register(method: str, code: int | None, decoder) -> None:
    """Make blobs of ``method`` (container code ``code``, in [1, 255]) decodable by :func:`decode`.

    ``code`` may be None for a method the container already knows (the built-in ones).
    ``decoder``: a :class:`Channel` subclass (constructible without arguments; its
    ``decode_payload`` is used) or a function ``(payload, p, *, max_elements) -> np.ndarray``.
    Channel subclasses that set ``method`` and ``method_code`` are registered on definition.
    """
    register_method(method, METHODS.get(method) if code is None else code)
    if isinstance(decoder, type):
        _CLASSES[method] = decoder
        _DECODERS[method] = lambda payload, p, **kw: decoder().decode_payload(payload, p, **kw)
    else:
        _DECODERS[method] = decoder


def channel_class(method: str) -> type | None:
    """The registered channel class of ``method`` (None if there is none)."""
    return _CLASSES.get(method)


def decode(data, p: Distribution, *, seed: int | None = None, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
    """Decode any rcc message: a container blob or a :class:`rcc.Payload`, with the prior ``p``.

    Parameters
    ----------
    data : bytes or rcc.Payload
        A blob (``msg.to_bytes()``, ``rcc.compress(...).to_bytes()``): its checksum is verified
        with p's fingerprint folded in. Or the headerless form (``msg.headerless()``), with no
        checksum: the caller frames and checks it.
    p : rcc distribution
        The encoder's prior; it must broadcast to the message's shape.
    seed : int, optional
        If given, must equal the message's seed.
    max_elements : int
        Largest number of elements accepted (default :data:`rcc.DEFAULT_MAX_ELEMENTS`).

    Returns
    -------
    np.ndarray of float64 with the message's shape: the encoder's ``msg.sample``, bit for bit.

    Dispatches on the method name to the registered channel's ``decode_payload``. Raises
    :class:`rcc.DecodeError` for anything malformed, corrupted or mismatched (a UQStream blob
    included: it holds many messages, read them with :class:`rcc.UQStreamDecoder`), ValueError
    for bad arguments.

    Example
    -------
    >>> import rcc
    >>> q, p = rcc.Gaussian([0.5, -0.3], 0.5), rcc.Gaussian(0.0, 1.0)
    >>> msg = rcc.ORC(num_candidates=2**10).encode(q, p, seed=4)
    >>> bool((rcc.decode(msg.to_bytes(), p) == msg.sample).all())
    True
    >>> payload = msg.headerless()   # method, params, seed, shape, data, num_bits: frame it yourself
    >>> payload.method, payload.shape
    ('orc', (2,))
    >>> bool((rcc.decode(payload, p) == msg.sample).all())
    True
    """
    _check_distribution(p)
    if isinstance(data, Payload):
        if seed is not None and check_seed(seed) != data.seed:
            raise DecodeError(f"the payload was encoded with seed {data.seed}, not {seed}")
        payload = data
    else:
        if method_of(data) is not None:
            _decoder(method_of(data))  # a blob of a method without a decoder fails by name, before its checksum
        payload = unpack(data, prior=p, seed=seed, max_elements=max_elements)
    return _decoder(payload.method)(payload, p, max_elements=max_elements)


def _decoder(method: str):
    decoder = _DECODERS.get(method)
    if decoder is None:
        hint = ": decode a UQStream blob with rcc.UQStreamDecoder" if method == "uq_stream" else ""
        raise DecodeError(f"rcc.decode has no decoder for method {method!r}{hint}")
    return decoder


def _check_distribution(p) -> None:
    if not isinstance(p, Distribution):
        raise ValueError(f"p must be an rcc Distribution; got {type(p).__name__}")


def check_num_candidates(name: str, value, allow_none: bool = False):
    """Validate a candidate count (an int in [1, 2**63)) and return it as an int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}; got {value!r}")
    if not 1 <= value < 2**63:
        raise ValueError(f"{name} must be in [1, 2**63); got {value}")
    return int(value)


class Channel:
    """Base class of every channel: ``encode``, ``decode``, ``decode_payload``, ``chunk_code``."""

    #: Method name in the container (and the registry); set it to register a subclass.
    method: str = ""
    #: Container method code, an int in [1, 255] unique to the method (None: the container's
    #: table of built-in methods has it).
    method_code: int | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "method" in cls.__dict__ and cls.method:
            register(cls.method, cls.method_code, cls)

    def encode(self, q: Distribution, p: Distribution, seed: int) -> Message:
        """Send one sample of q given the shared prior p (shapes broadcast to one shape S)."""
        raise NotImplementedError

    def decode_payload(self, payload: Payload, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Regenerate the encoder's sample from a :class:`rcc.Payload` (no checksum) and ``p``.

        Validates the payload's parameters and p's broadcast to its shape; DecodeError on
        anything bad. The payload's own parameters count, not this instance's settings.
        """
        raise NotImplementedError

    def decode(
        self, blob: bytes, p: Distribution, seed: int | None = None, *, max_elements: int = DEFAULT_MAX_ELEMENTS
    ) -> np.ndarray:
        """Regenerate the encoder's sample from ``blob`` and the shared prior ``p``.

        ``seed`` (optional) must equal the blob's. The prior's fingerprint is folded into the
        blob's checksum (:mod:`rcc.container`), so another prior -- another family, shape, or
        any parameter -- is a :class:`rcc.DecodeError`, as is any malformed or corrupted blob
        and one whose shape holds more than ``max_elements`` elements (default
        :data:`rcc.DEFAULT_MAX_ELEMENTS`; raise it for a trusted larger blob).
        """
        _check_distribution(p)
        payload = unpack(blob, self.method, prior=p, seed=seed, max_elements=max_elements)
        return self.decode_payload(payload, p, max_elements=max_elements)

    def chunk_code(self):
        """How :func:`rcc.compress` sends this channel's chunk indices (a
        :class:`rcc._chunk_codes.ChunkCode`); ValueError if the channel cannot be chunked.

        A channel that returns one also races each chunk with the hooks below (``select``,
        ``refusal``, ``expected_candidates``); the code regenerates each chunk's sample."""
        raise ValueError(f"{self!r} cannot be chunked by rcc.compress (it supplies no chunk code)")

    # --- the race hooks of a chunkable channel (rcc.compress calls them chunk by chunk) ---------
    def select(self, pair: Pair, seed: int, chunk: int) -> tuple[object, dict]:
        """Race ``chunk`` for ``pair`` (q and p flattened to (d,)): return the record the chunk
        code sends (a 0-based candidate index for a selection channel) and diagnostics (at
        least ``num_scored`` and ``truncated``)."""
        raise NotImplementedError

    def refusal(self, kl: float, dinf: float, size: int) -> str | None:
        """Why this channel refuses a pair (or chunk) of this KL and D_inf (bits) and ``size``
        coordinates; None if it takes it. Exact PFR refuses an infinite or too large D_inf."""
        return None

    def prepare(self, q: Distribution, p: Distribution, seed) -> tuple[tuple[int, ...], int, float, float]:
        """What every race-based ``encode`` starts with: check the pair and the seed, refuse the
        pair (:meth:`refusal`, ValueError) and warn before a race expected to take more than about
        30 s. Returns ``(shape, seed, kl_bits, dinf_bits)``."""
        shape = check_pair(q, p)
        seed = check_seed(seed)
        kl = float(pair_kl_bits(q, p))
        dinf = float(pair_dinf_bits(q, p))
        d = int(np.prod(shape, dtype=np.int64))
        reason = self.refusal(kl, dinf, d)
        if reason is not None:
            raise ValueError(reason)
        expected = self.expected_candidates(kl, dinf, d)
        warn_long_race(expected, expected * max(1, d), repr(self))
        return shape, seed, kl, dinf

    def expected_candidates(self, kl: float, dinf: float, size: int) -> float:
        """About how many candidates a race on a pair (or chunk) of this KL and D_inf (bits) and
        ``size`` coordinates scores: the stopping rule's 2^D_inf, capped by the candidate budget
        (inf: no bound)."""
        raise NotImplementedError

    @classmethod
    def chunk_code_from(cls, params: tuple[int, ...]):
        """The decoder's :class:`rcc._chunk_codes.ChunkCode` from its header ``params`` (the
        first :attr:`num_chunk_params` after the method code); DecodeError if they are bad."""
        raise DecodeError(f"{cls.method!r} messages cannot be chunked")

    #: How many header parameters :meth:`chunk_code` puts in a chunked blob.
    num_chunk_params: int = 1


class SelectionChannel(Channel):
    """A channel that sends the index of one shared candidate: ``select`` + an index code."""

    # --- what a subclass defines (besides select, refusal, expected_candidates) ---------------
    def index_params(self, kl: float) -> tuple[int, ...]:
        """Header parameters of the index code for a pair whose KL is ``kl`` bits."""
        raise NotImplementedError

    def write_index(self, w: BitWriter, index: int, params: tuple[int, ...]) -> None:
        """Write the 1-based ``index``."""
        raise NotImplementedError

    def read_index(self, rd: BitReader, params: tuple[int, ...]) -> int:
        """Read a 1-based index; raise DecodeError if it or ``params`` cannot be valid."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------
    def encode(self, q: Distribution, p: Distribution, seed: int) -> Message:
        """Send one sample of q given the shared prior p.

        q, p: rcc distributions broadcasting to one shape S; the sample has shape S.
        Returns a :class:`rcc.Message`; ``info`` holds ``kl_bits``, ``index`` (1-based),
        ``num_scored``, ``truncated`` and the channel's diagnostics (:mod:`rcc.channel`).
        ValueError for a pair without a closed-form KL (families that do not match, other than
        a Uniform q) or one the channel refuses (:meth:`refusal`); a RuntimeWarning before the
        race if it is expected to take more than about 30 s (expected candidates x d at ~10 ns
        per candidate-coordinate).
        """
        shape, seed, kl, dinf = self.prepare(q, p, seed)
        pair = Pair(q, p)
        index, info = self.select(pair, seed, 0)
        params = self.index_params(kl)
        w = BitWriter()
        self.write_index(w, index + 1, params)
        payload, nbits = w.getvalue()
        sample = candidate(pair, seed_key(seed), 0, index).reshape(shape)
        info = {"kl_bits": kl, "index": index + 1, **info}
        fingerprint = prior_fingerprint(p.broadcast_to(shape))
        return Message(self.method, params, seed, sample, payload, nbits, info, fingerprint)

    def decode_payload(self, payload: Payload, p: Distribution, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Candidate K of the payload's index code, regenerated from ``p`` in O(d)."""
        pb = check_payload(payload, self.method, p, max_elements)
        rd = BitReader(payload.data, payload.num_bits)
        index = self.read_index(rd, payload.params)
        rd.finish()
        return candidate(pb, seed_key(payload.seed), 0, index - 1).reshape(payload.shape)


def expect_params(params: tuple[int, ...], count: int, method: str) -> None:
    if len(params) != count:
        raise DecodeError(f"a {method} message has {count} header parameters, this one {len(params)}")
