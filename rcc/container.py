"""The container every rcc bitstream travels in, and the :class:`Message` a channel returns.

Layout (all integers LEB128 varints unless stated)::

    magic        3 bytes  b"RCC"
    version      1 byte   FORMAT_VERSION (2)
    method       1 byte   METHODS[name]
    params       count, then that many unsigned integers (the method's parameters)
    seed         the shared-randomness seed
    shape        ndim, then each dimension
    payload_bits exact length of the payload bit string
    payload      ceil(payload_bits / 8) bytes, zero-padded at the end
    crc32        4 bytes, little-endian: zlib.crc32(everything before it, F)

F, the *prior fingerprint*, is :func:`prior_fingerprint` of the prior broadcast to the blob's
shape (0 for a blob made without a prior, as :class:`rcc.UQStream`'s). Folding it into the
checksum costs no bits, and a decoder given another prior (another family, shape or any
parameter bit) sees a checksum mismatch instead of decoding a wrong sample; the price is that
the checksum of such a blob can only be verified by a decoder that holds the prior. Decoding
(:func:`unpack`) parses and bounds the header first (at most ``max_elements`` elements,
:data:`DEFAULT_MAX_ELEMENTS` by default), then checks that the prior broadcasts to the shape,
then verifies the checksum; nothing of the declared size is allocated before that.

Only ``payload_bits`` is the message proper (what a channel's ``num_bits`` counts); the rest is
the header and checksum, reported separately as ``overhead_bits`` and never hidden.
Anything that does not check out raises :class:`rcc.DecodeError` with the reason.

:class:`Payload` is the headerless form of a blob: the fields above without magic, version and
checksum (``Message.headerless()``; ``Payload.to_bytes(prior)`` packs it). Callers that frame
many messages themselves store its fields their own way and decode with :func:`rcc.decode`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_prior, check_prior_shape
from .coding import decode_varint, encode_varint
from .distributions import Distribution
from .errors import DecodeError
from .random import check_seed

__all__ = [
    "Message",
    "Payload",
    "pack",
    "unpack",
    "check_payload",
    "register_method",
    "prior_fingerprint",
    "check_max_elements",
    "FORMAT_VERSION",
    "METHODS",
    "DEFAULT_MAX_ELEMENTS",
]

MAGIC = b"RCC"
#: Version 2 folds the prior fingerprint into the checksum (version 1 did not).
FORMAT_VERSION = 2
#: Default bound on the number of elements (shape product) a decoder accepts from a blob: 2**24.
#: A decode at the limit holds several float64 arrays of that size (UQ: about 1.2 GiB at peak)
#: and its work grows with it; raise it with the decoders' ``max_elements=`` keyword.
DEFAULT_MAX_ELEMENTS = 2**24
"""Default bound on the number of elements (shape product) a decoder accepts from a blob (2**24;
raise it with the decoders' ``max_elements=`` keyword)."""
METHODS = {"uq": 1, "pfr": 2, "orc": 3, "mrc": 4, "hybrid": 5, "uq_stream": 6, "chunked": 16}
_METHOD_NAMES = {v: k for k, v in METHODS.items()}
_MAX_PARAMS = 64
_MAX_NDIM = 32
_MAX_SIZE = 2**40
_FINGERPRINT_TAG = b"RCC prior"
_FINGERPRINT_BLOCK = 2**16


@dataclass(frozen=True)
class Payload:
    """The headerless form of any rcc message: what a decoder needs besides the prior.

    For callers that frame many messages themselves (a file of many steps): store these fields
    your own way, rebuild the ``Payload`` and hand it to :func:`rcc.decode` (no checksum: the
    caller frames and checks). :meth:`to_bytes` packs it into the self-contained container.

    Attributes
    ----------
    method : str
        The method name (``"pfr"``, ``"orc"``, ``"mrc"``, ``"hybrid"``, ``"uq"``, ``"chunked"``, ...).
    params : tuple of int
        The method's header parameters, each in [0, 2**64).
    seed : int
        The shared-randomness seed, in [0, 2**64).
    shape : tuple of int
        Shape of the sample (at most 32 dimensions).
    data : bytes
        The payload bit string, ``ceil(num_bits / 8)`` bytes, zero-padded at the end.
    num_bits : int
        Exact length of the payload in bits (the message proper: what ``Message.num_bits`` counts).

    Fields that do not fit these rules raise :class:`rcc.DecodeError` (a ``ValueError``) on
    construction, so a payload rebuilt from damaged bytes fails before any decoding work.

    Example
    -------
    >>> import rcc
    >>> p = rcc.Gaussian(0.0, 1.0)
    >>> msg = rcc.PFR().encode(rcc.Gaussian(0.7, 0.5), p, seed=1)
    >>> payload = msg.headerless()
    >>> stored = (payload.params, payload.seed, payload.shape, payload.data, payload.num_bits)
    >>> again = rcc.Payload("pfr", *stored)
    >>> bool(rcc.decode(again, p) == msg.sample), again.to_bytes(prior=p) == msg.to_bytes()
    (True, True)
    """

    method: str
    params: tuple[int, ...]
    seed: int
    shape: tuple[int, ...]
    data: bytes
    num_bits: int

    def __post_init__(self):
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise DecodeError(f"unknown method {self.method!r}")
        set_ = object.__setattr__
        set_(self, "params", _uints("params", self.params, _MAX_PARAMS))
        set_(self, "shape", _uints("shape", self.shape, _MAX_NDIM))
        set_(self, "seed", _uints("seed", (self.seed,), 1)[0])
        set_(self, "num_bits", _uints("num_bits", (self.num_bits,), 1)[0])
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"payload data must be bytes; got {type(self.data).__name__}")
        set_(self, "data", bytes(self.data))
        if len(self.data) != (self.num_bits + 7) // 8:
            raise DecodeError(f"payload data holds {len(self.data)} bytes but num_bits is {self.num_bits}")

    def to_bytes(self, prior=None) -> bytes:
        """The container blob (format 2; see the module docstring). ``prior``: the prior the
        payload was coded under, whose fingerprint is folded into the checksum (None: none)."""
        return pack(self, prior=prior)


def _uints(name: str, values, max_count: int) -> tuple[int, ...]:
    """``values`` as a tuple of ints in [0, 2**64) (at most ``max_count``), else DecodeError."""
    try:
        values = tuple(values)
    except TypeError:
        raise DecodeError(f"{name} must be a sequence of ints; got {values!r:.80}") from None
    if len(values) > max_count:
        raise DecodeError(f"{name}: {len(values)} values, more than the format allows ({max_count})")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 2**64:
            raise DecodeError(f"{name} must hold ints in [0, 2**64); got {v!r:.80}")
    return tuple(int(v) for v in values)


def register_method(name: str, code: int) -> None:
    """Give a new method ``name`` its container code (an int in [1, 255]); a no-op if it has it
    already. ValueError if the name has another code or the code another name."""
    if not isinstance(code, int) or not 1 <= code <= 255:
        raise ValueError(f"method code must be an int in [1, 255]; got {code!r}")
    if METHODS.get(name, code) != code or _METHOD_NAMES.get(code, name) != name:
        raise ValueError(f"method {name!r} / code {code} clashes with {METHODS.get(name)} / {_METHOD_NAMES.get(code)!r}")
    METHODS[name] = code
    _METHOD_NAMES[code] = name


def check_max_elements(max_elements) -> int:
    """Validate a ``max_elements`` argument (an int >= 1) and return it as an int."""
    if isinstance(max_elements, bool) or not isinstance(max_elements, (int, np.integer)) or max_elements < 1:
        raise ValueError(f"max_elements must be an int >= 1; got {max_elements!r}")
    return int(max_elements)


def prior_fingerprint(p, shape: tuple[int, ...] | None = None) -> int:
    """CRC-32 (an int in [0, 2**32)) of a canonical serialisation of the prior ``p`` broadcast to
    ``shape`` (default ``p.shape``; it must broadcast).

    Serialised: a tag, p's family code (and class name), the shape (ndim then dimensions, as
    varints), then the parameter arrays ``a`` and ``b`` broadcast to the shape, as float64
    little-endian in C order, with -0.0 written as 0.0; so ``Gaussian(0, 1)`` and
    ``Gaussian(np.zeros(d), np.ones(d))`` have one fingerprint for shape (d,). Cost: one pass of
    zlib.crc32 over 16 bytes per element, in blocks read from broadcast views: nothing of the
    shape's size is allocated (a decoder fingerprints before it trusts the declared shape).
    """
    shape = tuple(p.shape if shape is None else shape)
    head = bytearray(_FINGERPRINT_TAG)
    head += encode_varint(int(p.family) & 0xFF) + type(p).__name__.encode()
    head += encode_varint(len(shape))
    for n in shape:
        head += encode_varint(n)
    crc = zlib.crc32(bytes(head))
    size = int(np.prod(shape, dtype=np.int64))
    for arr in (p.a, p.b):
        view = np.broadcast_to(np.asarray(arr, dtype=np.float64), shape)
        for start in range(0, size, _FINGERPRINT_BLOCK):  # O(block) extra memory
            block = view.flat[start:start + _FINGERPRINT_BLOCK] + 0.0  # a copy of the block; -0.0 + 0.0 = 0.0
            crc = zlib.crc32(block.astype("<f8", copy=False).data, crc)
    return crc


def pack(payload: Payload, *, prior=None) -> bytes:
    """Serialise a :class:`Payload` to bytes (header, payload, CRC-32).

    ``prior``: the prior the payload was coded under (any shape broadcasting to its shape); its
    fingerprint is folded into the checksum (see the module docstring). None for none.
    """
    if not isinstance(payload, Payload):
        raise ValueError(f"expected an rcc.Payload; got {type(payload).__name__}")
    fingerprint = 0 if prior is None else prior_fingerprint(prior.broadcast_to(payload.shape))
    return _pack(payload, fingerprint)


def _pack(c: Payload, fingerprint: int) -> bytes:
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out.append(METHODS[c.method])
    out += encode_varint(len(c.params))
    for v in c.params:
        out += encode_varint(v)
    out += encode_varint(c.seed)
    out += encode_varint(len(c.shape))
    for n in c.shape:
        out += encode_varint(n)
    out += encode_varint(c.num_bits)
    out += c.data
    out += zlib.crc32(bytes(out), fingerprint).to_bytes(4, "little")
    return bytes(out)


def unpack(
    blob,
    expect_method: str | None = None,
    *,
    prior=None,
    seed: int | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Payload:
    """Parse and check a blob; raises :class:`rcc.DecodeError` with the reason if anything is off.

    ``prior``: the prior the blob was coded under (None for a blob packed without one); it must
    broadcast to the blob's shape, and its fingerprint must match the checksum. ``seed``
    (optional) must equal the blob's. A blob whose shape holds more than ``max_elements``
    elements is refused before anything else is done.
    """
    max_elements = check_max_elements(max_elements)
    if seed is not None:
        seed = check_seed(seed)
    if prior is not None and not isinstance(prior, Distribution):
        raise ValueError(f"p must be an rcc Distribution; got {type(prior).__name__}")
    c, body, crc = _parse(blob, expect_method, max_elements)
    fingerprint = 0
    if prior is not None:  # from broadcast views: nothing of the declared size before the CRC
        check_prior_shape(prior, c.shape, error=DecodeError)
        fingerprint = prior_fingerprint(prior, c.shape)
    if zlib.crc32(body, fingerprint) != crc:
        raise DecodeError(
            "checksum mismatch: the blob is corrupted or truncated, or the prior (or seed) differs from the encoder's"
        )
    if seed is not None and seed != c.seed:
        raise DecodeError(f"the blob was encoded with seed {c.seed}, not {seed}")
    return c


def method_of(blob) -> str | None:
    """The method a blob's header names, read before any check (None if it names none)."""
    if isinstance(blob, (bytes, bytearray, memoryview)) and len(blob) > 4 and bytes(blob[:3]) == MAGIC:
        return _METHOD_NAMES.get(blob[4])
    return None


def check_payload(payload, method: str, p, max_elements: int = DEFAULT_MAX_ELEMENTS):
    """The checks every ``decode_payload`` starts with; returns p broadcast to the payload's shape.

    ValueError if ``payload`` is not a :class:`Payload`, p not a distribution or
    ``max_elements`` bad; :class:`rcc.DecodeError` if the payload holds another method, more
    than ``max_elements`` elements, or a shape p does not broadcast to.
    """
    if not isinstance(payload, Payload):
        raise ValueError(f"expected an rcc.Payload; got {type(payload).__name__}")
    if payload.method != method:
        raise DecodeError(f"the payload holds a {payload.method!r} message, not {method!r}")
    _check_size(payload.shape, check_max_elements(max_elements))
    return check_prior(p, payload.shape, error=DecodeError)


def _check_size(shape: tuple[int, ...], max_elements: int) -> None:
    size = int(np.prod(shape, dtype=object))
    if size > min(max_elements, _MAX_SIZE):
        raise DecodeError(
            f"the blob declares shape {tuple(shape)}, {size} elements, more than the limit of "
            f"{min(max_elements, _MAX_SIZE)}; if the blob is trusted, pass a larger max_elements= to the decoder"
        )


def _parse(blob, expect_method, max_elements: int) -> tuple[Payload, bytes, int]:
    """Header fields, body and stored checksum of a blob (the checksum not yet verified)."""
    if isinstance(blob, (bytearray, memoryview)):
        blob = bytes(blob)
    if not isinstance(blob, bytes):
        raise DecodeError(f"expected bytes, got {type(blob).__name__}")
    if len(blob) < len(MAGIC) + 2 + 4:
        raise DecodeError(f"blob of {len(blob)} bytes is too short to be an rcc message")
    if blob[:3] != MAGIC:
        raise DecodeError("not an rcc bitstream (bad magic bytes)")
    if blob[3] != FORMAT_VERSION:
        raise DecodeError(f"format version {blob[3]} is not supported (this is version {FORMAT_VERSION})")
    body, crc = blob[:-4], int.from_bytes(blob[-4:], "little")
    method = _METHOD_NAMES.get(body[4])
    if method is None:
        raise DecodeError(f"unknown method code {body[4]}")
    if expect_method is not None and method != expect_method:
        raise DecodeError(f"blob holds a {method!r} message, not {expect_method!r}")
    pos = 5
    nparams, pos = decode_varint(body, pos)
    if nparams > _MAX_PARAMS:
        raise DecodeError(f"{nparams} parameters is more than any method has")
    params = []
    for _ in range(nparams):
        v, pos = decode_varint(body, pos)
        params.append(v)
    seed, pos = decode_varint(body, pos)
    ndim, pos = decode_varint(body, pos)
    if ndim > _MAX_NDIM:
        raise DecodeError(f"ndim {ndim} is too large")
    shape = []
    for _ in range(ndim):
        n, pos = decode_varint(body, pos)
        shape.append(n)
    _check_size(tuple(shape), max_elements)
    payload_bits, pos = decode_varint(body, pos)
    payload = body[pos:]
    if len(payload) != (payload_bits + 7) // 8:
        raise DecodeError(
            f"payload holds {len(payload)} bytes but the header announces {payload_bits} bits"
        )
    return Payload(method, tuple(params), seed, tuple(shape), payload, payload_bits), body, crc


@dataclass(frozen=True, eq=False)
class Message:
    """What a channel's ``encode`` (and :func:`rcc.compress`) returns.

    Attributes
    ----------
    sample : np.ndarray, q's shape
        The sample the decoder will output, bit for bit.
    num_bits : int
        Exact length in bits of the payload (the message proper), which decodes on its own given
        the header fields.
    info : dict
        Diagnostics of the encoder, in one vocabulary for every channel (:mod:`rcc.channel`):
        ``kl_bits``, ``num_scored``, ``truncated``, ``index`` where there is one, and the
        channel's own keys.
    fingerprint : int
        :func:`prior_fingerprint` of the prior (broadcast to the sample's shape) that
        ``to_bytes()`` folds into the checksum; 0 for none.
    chunks : ChunkStats or None
        Per-chunk arrays of a :func:`rcc.compress` message (None for a single message).

    ``to_bytes()`` gives the whole blob, ``headerless()`` the :class:`Payload` (no checksum);
    ``total_bits`` is the blob's length and ``overhead_bits`` the header and checksum share of it.
    """

    method: str
    params: tuple[int, ...]
    seed: int
    sample: np.ndarray
    payload: bytes
    num_bits: int
    info: dict = field(default_factory=dict)
    fingerprint: int = 0
    chunks: object = None

    def headerless(self) -> Payload:
        """The :class:`Payload` that :func:`rcc.decode` turns back into ``sample`` (given the prior)."""
        return Payload(self.method, self.params, self.seed, tuple(self.sample.shape), self.payload, self.num_bits)

    def to_bytes(self) -> bytes:
        """The container blob, with the prior's fingerprint folded into its checksum."""
        return _pack(self.headerless(), self.fingerprint)

    @property
    def total_bits(self) -> int:
        """Length in bits of ``to_bytes()``: payload, header and checksum."""
        return 8 * len(self.to_bytes())

    @property
    def overhead_bits(self) -> int:
        """Header and checksum bits (``total_bits - num_bits``, padding included)."""
        return self.total_bits - self.num_bits

    def __repr__(self) -> str:
        return (
            f"Message(method={self.method!r}, shape={self.sample.shape}, num_bits={self.num_bits}, "
            f"total_bits={self.total_bits}, info={self.info})"
        )
