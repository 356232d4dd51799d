"""Universal (dithered) quantization: exact channel simulation of a uniform-noise channel.

The target is the uniform-noise channel ``q = Uniform(mu - w/2, mu + w/2)`` (one ``mu`` and one
cell width ``w`` per element, any shape) and the prior ``p`` is the law of the channel input.
Encoder and decoder share a dither ``u_i ~ U(-1/2, 1/2)`` drawn from the Philox stream
(:data:`rcc.random.DOMAIN_DITHER`, chunk 0, index 0, one coordinate per flattened element)::

    k_i = floor(mu_i / w_i - u_i + 1/2)           integer index, |k_i| <= 2**30
    x_i = w_i * (k_i + u_i)                       decoded sample

so that ``x - mu`` is exactly ``U(-w/2, w/2)`` and independent of ``mu``
(Ziv, "On universal quantization", 1985; Zamir & Feder, "On universal quantization by randomized
uniform/lattice quantizers", 1992; Agustsson & Theis, "Universally Quantized Neural Compression",
NeurIPS 2020). The index is entropy coded with ``constriction``'s ANS coder under

    P(k | u) = P_p( w (k + u - 1/2) <= X < w (k + u + 1/2) ),

i.e. ``p`` convolved with ``U(-w/2, w/2)`` read on the dithered grid; its information
content ``-sum log2 P(k | u)`` is reported in ``msg.info["info_bits"]`` and the real bits stay
within a fraction of a percent of it (no per-element overhead).

Entropy models (the ``mode``, first container parameter):

* ``0`` Gaussian ``p``: constriction's ``QuantizedGaussian(kmin, kmax)`` with per-element mean
  ``loc/w - u`` and std ``scale/w``; ``kmin``, ``kmax`` come from the data and are sent.
* ``1`` Laplace ``p``: ``QuantizedLaplace(kmin, kmax)``, mean ``loc/w - u``, scale ``b/w``.
* ``2`` any ``p`` with ``cdf``/``sf``/``ppf`` (Logistic, Uniform, other :class:`Distribution`s,
  and Gaussian/Laplace when ``kmax - kmin >= 2**12``): a categorical table per element over a
  window of indices holding all but ``< 2**-21`` of the mass, with an escape symbol and a
  multi-level code for wide windows (:mod:`rcc._cdf_table`).

Payload layout (``num_bits = 8 * len(payload)``)::

    [w       8 bytes, float64 little-endian]         if the second parameter (width_sent) is 1
    [zigzag(kmin), zigzag(kmax)   LEB128 varints]    modes 0 and 1
    ANS words, uint32 little-endian; up to 3 trailing zero bytes of the last (most significant)
    word are dropped and restored by the decoder from the payload length (:mod:`rcc._ans`).

The ANS stream decodes as: the check symbol 0xA5C3 (uniform over 16 bits), the indices (table
mode: batch by batch), the check symbol again; then the coder must be empty. The check symbols
(32 bits) catch empty, truncated and garbage streams that the CRC of the container lets through.

Container parameters: ``(mode, width_sent)``. The container's checksum folds in the fingerprint
of the prior (:mod:`rcc.container`), so decoding with another prior is a DecodeError before any
entropy decoding (a :class:`rcc.UQStream` does not: see :class:`rcc.UQStreamDecoder`).

The cell width keyword is ``width=`` (``UQ.encode``, ``UQ.decode``, ``UQStream.push``,
``UQStreamDecoder.pop``); the former name ``step=`` (and ``send_step=``) is accepted for one
release with a DeprecationWarning.

Example::

    >>> import numpy as np
    >>> from rcc.distributions import Gaussian, Uniform
    >>> mu = np.array([0.3, -1.2, 2.5])
    >>> msg = UQ().encode(Uniform(mu - 0.5, mu + 0.5), Gaussian(0.0, 1.0), seed=7)
    >>> x = UQ().decode(msg.to_bytes(), Gaussian(0.0, 1.0))
    >>> bool(np.array_equal(x, msg.sample)), bool(np.all(np.abs(x - mu) <= 0.5))
    (True, True)
"""

from __future__ import annotations

import math
import struct
import warnings

import constriction
import numpy as np
import scipy.special as sc

from ._ans import guard, stream_bytes, stream_decoder
from ._cdf_table import MAX_INDEX, PROB_FLOOR, UNIFORM16, decode_table, encode_table
from ._checks import check_prior
from .channel import Channel
from .coding import decode_varint, encode_varint, unzigzag, zigzag
from .container import DEFAULT_MAX_ELEMENTS, Message, Payload, check_payload, prior_fingerprint, unpack
from .distributions import Distribution, Gaussian, Laplace, Uniform, kl_bits
from .errors import DecodeError
from .random import DOMAIN_DITHER, _fill_uniforms, check_seed, seed_key

__all__ = ["UQ", "UQStream", "UQStreamDecoder", "dither", "MODE_GAUSSIAN", "MODE_LAPLACE", "MODE_TABLE"]

MODE_GAUSSIAN = 0
MODE_LAPLACE = 1
MODE_TABLE = 2

#: Largest ``kmax - kmin + 1`` for the quantized constriction families (each symbol of the
#: range gets at least 2**-24 of the mass, so a wide range would cost bits).
MAX_QUANTIZED_RANGE = 2**12

_ANS = constriction.stream.stack.AnsCoder
_MODEL = constriction.stream.model
#: A 16-bit check symbol at both ends of the ANS stream (32 bits in all): catches garbage,
#: empty and truncated streams that a decoder would otherwise read as valid symbols.
SENTINEL = 0xA5C3
_SENTINEL = np.array([SENTINEL], dtype=np.int32)


def dither(seed: int, size: int, chunk: int = 0) -> np.ndarray:
    """The shared dither: ``size`` uniforms in (-1/2, 1/2), float64, shape ``(size,)``.

    Coordinate i is ``rcc.random.uniforms(seed, DOMAIN_DITHER, chunk, 0, size)[i] - 0.5`` (numba
    kernel; the plain-numpy twin gives the same bits). :class:`UQ` uses chunk 0, push ``i`` of a
    :class:`rcc.UQStream` chunk ``i``.

    >>> dither(7, 3).shape
    (3,)
    """
    k0, k1 = seed_key(seed)
    size = int(size)
    if size < 0:
        raise ValueError(f"size must be >= 0; got {size}")
    out = np.empty(size, dtype=np.float64)
    _fill_uniforms(k0, k1, DOMAIN_DITHER, int(chunk), 0, out)
    out -= 0.5
    return out


# ----------------------------------------------------------------------------------------------
# the cell width: the keyword, its checks


def renamed_width(width, step, where: str):
    """``width``, or the deprecated ``step=`` (with a DeprecationWarning); not both."""
    if step is None:
        return width
    if width is not None:
        raise ValueError(f"{where}: pass width= only (step= is its deprecated name)")
    warnings.warn(f"{where}: step= is deprecated, use width= (the cell width)", DeprecationWarning, stacklevel=3)
    return step


def _width_tolerance(low: np.ndarray, high: np.ndarray, width) -> np.ndarray:
    """How far ``high - low`` may stray from ``width`` by the rounding of ``mu -+ width/2``."""
    return 1e-9 * width + 4.0 * np.spacing(np.maximum(np.abs(low), np.abs(high)))


def check_width(width, shape) -> np.ndarray:
    """Cell widths broadcast to ``shape``, flat float64; ValueError unless finite and > 0."""
    try:
        arr = np.asarray(width)
    except Exception:  # noqa: BLE001
        raise ValueError(f"width must be a real array; got {width!r:.80}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"width must be a real array; got dtype {arr.dtype}")
    try:
        arr = np.broadcast_to(arr.astype(np.float64), shape)
    except ValueError:
        raise ValueError(f"width of shape {arr.shape} does not broadcast to {tuple(shape)}") from None
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("width must be finite and > 0 everywhere")
    return np.ascontiguousarray(arr).reshape(-1)


def channel_input(q, p, width):
    """Validate ``(q, p, width)``; returns ``(shape, p broadcast to it, mu, width)`` (mu and width
    flat float64; width from q's ``high - low`` when None)."""
    if not isinstance(q, Uniform):
        raise ValueError(f"UQ needs q to be an rcc.Uniform (a uniform-noise channel); got {type(q).__name__}")
    shape = tuple(q.shape)
    pb = check_prior(p, shape)
    n = q.size
    low = np.ascontiguousarray(q.a, dtype=np.float64).reshape(-1)
    high = np.ascontiguousarray(q.b, dtype=np.float64).reshape(-1)
    if width is None:
        width_flat = high - low
        if not (np.isfinite(width_flat).all() and (width_flat > 0).all()):
            raise ValueError("q's width high - low must be finite and > 0 everywhere")
        if n and np.all(np.abs(width_flat - width_flat[0]) <= _width_tolerance(low, high, width_flat[0])):
            # one common width up to the rounding of mu -+ width/2: take the first one
            width_flat = np.full(n, width_flat[0])
    else:
        width_flat = check_width(width, shape)
        if not np.all(np.abs(width_flat - (high - low)) <= _width_tolerance(low, high, width_flat)):
            raise ValueError("width does not match q's width high - low (beyond float rounding)")
    mu = 0.5 * low + 0.5 * high
    return shape, pb, mu, width_flat


def quantize(mu: np.ndarray, width: np.ndarray, u: np.ndarray):
    """Indices ``k`` (int64) and the sample ``w (k + u)`` (flat float64)."""
    with np.errstate(over="ignore", invalid="ignore"):
        kf = np.floor(mu / width - u + 0.5)
    if kf.size and not (np.isfinite(kf).all() and np.abs(kf).max() <= MAX_INDEX):
        raise ValueError("mu/width is too large: the quantization index must satisfy |k| <= 2**30")
    return kf.astype(np.int64), width * (kf + u)


# ----------------------------------------------------------------------------------------------
# quantized families (modes 0 and 1) and the choice of the entropy model


def widen(kmin: int, kmax: int) -> tuple[int, int]:
    """constriction's quantized families need a support of two symbols or more."""
    if kmin == kmax:
        return (kmin, kmin + 1) if kmin < MAX_INDEX else (kmin - 1, kmin)
    return kmin, kmax


def quantizable(p_flat) -> bool:
    return type(p_flat) in (Gaussian, Laplace)


def _quantized_params(p: Distribution, width: np.ndarray, u: np.ndarray):
    mean = np.ascontiguousarray(p.a, dtype=np.float64) / width - u
    scale = np.ascontiguousarray(p.b, dtype=np.float64) / width
    return mean, scale


def _quantized_info(mode: int, k: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> float:
    zl = (k - 0.5 - mean) / scale
    zh = (k + 0.5 - mean) / scale
    if mode == MODE_GAUSSIAN:
        upper = zl > 0  # mirror the upper half onto the lower one (accurate tails)
        lo = np.where(upper, -zh, zl)
        hi = np.where(upper, -zl, zh)
        m = sc.ndtr(hi) - sc.ndtr(lo)
    else:
        m = np.where(
            zl >= 0,
            0.5 * (np.exp(-zl) - np.exp(-zh)),
            np.where(zh <= 0, 0.5 * (np.exp(zh) - np.exp(zl)), 1.0 - 0.5 * (np.exp(zl) + np.exp(-zh))),
        )
    return float(-np.log2(np.maximum(m, PROB_FLOOR)).sum())


def _quantized_model(mode: int, kmin: int, kmax: int):
    cls = _MODEL.QuantizedGaussian if mode == MODE_GAUSSIAN else _MODEL.QuantizedLaplace
    return cls(int(kmin), int(kmax))


def choose_mode(p_flat, width, u, kmin: int, kmax: int):
    """Entropy model of a push: ``(mode, mean, scale)``; a pure function of what the decoder has."""
    if quantizable(p_flat) and kmax - kmin < MAX_QUANTIZED_RANGE:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mean, scale = _quantized_params(p_flat, width, u)
        if np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all():
            return (MODE_GAUSSIAN if isinstance(p_flat, Gaussian) else MODE_LAPLACE), mean, scale
    return MODE_TABLE, None, None


def encode_indices(coder, mode, k, p_flat, width, u, kmin, kmax, mean, scale) -> tuple[float, int]:
    """Put the indices ``k`` of one push on the ANS stack ``coder`` (None: dry run) so that they
    decode in order; returns ``(info_bits, escapes)``."""
    if mode == MODE_TABLE:
        return encode_table(coder, p_flat, width, u, k)
    if coder is not None:
        model = guard("entropy model", _quantized_model, mode, kmin, kmax, error=ValueError)
        guard("entropy coding", coder.encode_reverse, k.astype(np.int32), model, mean, scale, error=ValueError)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _quantized_info(mode, k, mean, scale), 0


def decode_indices(coder, mode, p_flat, width, u, kmin, kmax) -> np.ndarray:
    """Pop the indices of one push (int64, flat) off ``coder``; the inverse of :func:`encode_indices`."""
    if mode == MODE_TABLE:
        return decode_table(coder, p_flat, width, u)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean, scale = _quantized_params(p_flat, width, u)
    if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise DecodeError("prior and width give invalid entropy-model parameters (not the encoder's prior?)")
    model = guard("entropy model", _quantized_model, mode, kmin, kmax)
    return guard("entropy decoding", coder.decode, model, mean, scale).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# the check symbols at both ends of a stream


def push_sentinel(coder) -> None:
    guard("entropy coding", coder.encode_reverse, _SENTINEL, UNIFORM16, error=ValueError)


def check_sentinel(coder, where: str) -> None:
    got = guard("entropy decoding", coder.decode, UNIFORM16, 1)
    if int(got[0]) != SENTINEL:
        raise DecodeError(f"check symbol at the {where} of the ANS stream is wrong: corrupted payload")


def check_end(coder) -> None:
    """The end check symbol, then an empty coder."""
    check_sentinel(coder, "end")
    if not guard("entropy decoding", coder.is_empty):
        raise DecodeError("ANS stream has data left after the last symbol: corrupted payload")


def _uq_kl_bits(q: Uniform, p: Distribution) -> float:
    """KL[q || p] in bits where a closed form exists, else nan."""
    try:
        return float(kl_bits(q, p))
    except NotImplementedError:
        return math.nan


# ----------------------------------------------------------------------------------------------
# public class


class UQ(Channel):
    """Universal quantization: exact simulation of ``x = mu + U(-w/2, w/2)`` in about
    ``-log2 P(k | u)`` bits (see the module docstring for the scheme and the format).

    One message per call; to send many sequential messages in one ANS stream with one header (a
    few bits of framing per push instead of ~60), use :class:`rcc.UQStream`.

    Methods
    -------
    encode(q, p, seed, *, width=None, send_width=None) -> Message
        ``q`` an :class:`rcc.Uniform` of any shape (one cell per element); ``p`` any
        :class:`rcc.Distribution` broadcasting to ``q.shape``.
    decode(blob, p, seed=None, *, width=None) -> np.ndarray
        The sample, shape from the blob, equal bit for bit to ``msg.sample``.
    decode_payload(payload, p, *, width=None) -> np.ndarray
        The same from a :class:`rcc.Payload` (``msg.headerless()``; no checksum).

    Example
    -------
    >>> import numpy as np
    >>> from rcc.distributions import Logistic, Uniform
    >>> mu, w = np.linspace(-2.0, 2.0, 12).reshape(3, 4), 0.25
    >>> msg = UQ().encode(Uniform(mu - w / 2, mu + w / 2), Logistic(0.0, 1.0), seed=7)
    >>> x = UQ().decode(msg.to_bytes(), Logistic(0.0, 1.0), seed=7)
    >>> x.shape, bool(np.array_equal(x, msg.sample)), msg.num_bits == 8 * len(msg.payload)
    ((3, 4), True, True)
    """

    method = "uq"

    def __repr__(self) -> str:
        return "UQ()"

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, q, p, seed, *, width=None, send_width=None, step=None, send_step=None) -> Message:
        """Encode one sample of ``q = Uniform(mu - w/2, mu + w/2)`` under prior ``p``.

        Parameters
        ----------
        q : rcc.Uniform, any shape
            The uniform-noise channel; ``mu = (low + high) / 2``, ``w = high - low``. When all
            widths agree up to the rounding of ``mu -+ w/2`` (1e-9 relative plus 4 ulp of the
            ends), the first width is the common width.
        p : rcc.Distribution, broadcastable to ``q.shape``
            The law of the channel input ``mu`` (Gaussian, Laplace, Logistic, Uniform, ...).
        seed : int in [0, 2**64)
            Shared-randomness seed (the dither).
        width : array_like, optional
            The exact cell widths (broadcast to ``q.shape``) to use instead of ``high - low``;
            they must agree with ``high - low`` up to float rounding. Pass the same to ``decode``
            when the width is not sent.
        send_width : bool, optional
            Put the (single, common) width in the payload as a float64 (64 bits). Default: send
            it iff every element has the same width. Per-element widths are never sent: the
            decoder must be given them (``decode(..., width=...)``), bit for bit.
        step, send_step
            Deprecated names of ``width`` and ``send_width`` (DeprecationWarning).

        Returns
        -------
        rcc.Message
            ``sample`` (q's shape, float64), ``num_bits`` (payload bits) and ``info`` with
            ``info_bits`` (``-sum log2 P(k | u)``, bits), ``kl_bits`` (KL[q || p] in bits; nan for
            a prior without a closed form), ``num_scored`` (0), ``truncated`` (False: exact),
            ``num_elements``, ``escapes``, ``mode``.
        """
        width = renamed_width(width, step, "UQ.encode")
        if send_step is not None:
            if send_width is not None:
                raise ValueError("UQ.encode: pass send_width= only (send_step= is its deprecated name)")
            warnings.warn("UQ.encode: send_step= is deprecated, use send_width=", DeprecationWarning, stacklevel=2)
            send_width = send_step
        shape, pb, mu, width_flat = channel_input(q, p, width)
        seed = check_seed(seed)
        send_width = self._send_width(send_width, width_flat)
        p_flat, n = pb.ravel(), q.size
        u = dither(seed, n)
        k, sample = quantize(mu, width_flat, u)
        kmin, kmax = widen(int(k.min()), int(k.max()))
        mode, mean, scale = choose_mode(p_flat, width_flat, u, kmin, kmax)

        coder = _ANS()
        push_sentinel(coder)  # bottom
        head = bytearray()
        if send_width:
            head += struct.pack("<d", float(width_flat[0]))
        if mode != MODE_TABLE:
            head += encode_varint(zigzag(kmin)) + encode_varint(zigzag(kmax))
        info_bits, escapes = encode_indices(coder, mode, k, p_flat, width_flat, u, kmin, kmax, mean, scale)
        push_sentinel(coder)  # top
        payload = bytes(head) + stream_bytes(coder)
        info = {"info_bits": info_bits, "kl_bits": _uq_kl_bits(q, pb), "num_scored": 0, "truncated": False,
                "num_elements": n, "escapes": escapes, "mode": mode}
        return Message("uq", (mode, int(send_width)), seed, sample.reshape(shape), payload, 8 * len(payload), info,
                       prior_fingerprint(pb))

    @staticmethod
    def _send_width(send_width, width_flat) -> bool:
        constant = bool(np.all(width_flat == width_flat[0]))
        if send_width is None:
            return constant
        if not isinstance(send_width, (bool, np.bool_)):
            raise ValueError(f"send_width must be True, False or None; got {send_width!r}")
        if send_width and not constant:
            raise ValueError("send_width=True needs one common width; per-element widths must be given to decode")
        return bool(send_width)

    # -- decoder -----------------------------------------------------------------------------
    def decode(self, blob, p, seed=None, *, width=None, step=None,
               max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Decode a blob made by :meth:`encode`.

        Parameters
        ----------
        blob : bytes
        p : rcc.Distribution
            The prior used by the encoder, broadcastable to the blob's shape. Its fingerprint is
            folded into the blob's checksum (:mod:`rcc.container`): another prior (family, shape
            or any parameter) is a DecodeError before any entropy decoding.
        seed : int, optional
            If given, must equal the blob's seed (else :class:`rcc.DecodeError`).
        width : array_like, optional
            The cell widths, bit for bit as the encoder used them; needed when the blob does not
            carry the width, checked against it when it does. ``step=`` is its deprecated name.
        max_elements : int
            Largest number of elements accepted (default :data:`rcc.DEFAULT_MAX_ELEMENTS`); a
            blob that declares more is refused before anything of its size is allocated.

        Returns
        -------
        np.ndarray, float64, the blob's shape: the encoder's ``msg.sample``, bit for bit.

        Raises
        ------
        rcc.DecodeError
            Malformed, truncated or corrupted blob, one that does not match ``p`` / ``seed`` /
            ``width``, one that does not carry the width when no ``width`` is given, or one of
            more than ``max_elements`` elements.
        ValueError
            Bad arguments (``p`` not a distribution, bad ``seed`` or ``width``).
        """
        width = renamed_width(width, step, "UQ.decode")
        if not isinstance(p, Distribution):
            check_prior(p, ())  # raises: the one prior check names what p is
        payload = unpack(blob, self.method, prior=p, seed=seed, max_elements=max_elements)
        return self.decode_payload(payload, p, width=width, max_elements=max_elements)

    def decode_payload(self, payload: Payload, p, *, width=None, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
        """Decode a :class:`rcc.Payload` of method ``"uq"`` (no checksum); as :meth:`decode`."""
        pb = check_payload(payload, self.method, p, max_elements)
        mode, width_sent = self._params(payload, pb)
        shape, p_flat = payload.shape, pb.ravel()
        width_flat, pos = self._read_width(payload.data, width_sent, width, shape, p_flat.size)
        kmin = kmax = None
        if mode != MODE_TABLE:
            zmin, pos = decode_varint(payload.data, pos)
            zmax, pos = decode_varint(payload.data, pos)
            kmin, kmax = unzigzag(zmin), unzigzag(zmax)
            if not (-MAX_INDEX <= kmin < kmax <= MAX_INDEX and kmax - kmin < MAX_QUANTIZED_RANGE):
                raise DecodeError(f"bad index range [{kmin}, {kmax}]: corrupted payload")
        coder = stream_decoder(payload.data[pos:])
        check_sentinel(coder, "start")
        u = dither(payload.seed, p_flat.size)
        k = decode_indices(coder, mode, p_flat, width_flat, u, kmin, kmax)
        check_end(coder)
        return (width_flat * (k.astype(np.float64) + u)).reshape(shape)

    @staticmethod
    def _params(payload: Payload, pb) -> tuple[int, int]:
        params = payload.params
        if len(params) != 2 or params[0] not in (MODE_GAUSSIAN, MODE_LAPLACE, MODE_TABLE) or params[1] > 1:
            raise DecodeError(f"bad uq parameters {params}")
        if payload.num_bits != 8 * len(payload.data):
            raise DecodeError("uq payload must be a whole number of bytes")
        mode = params[0]
        for m, family in ((MODE_GAUSSIAN, Gaussian), (MODE_LAPLACE, Laplace)):
            if mode == m and type(pb) is not family:
                raise DecodeError(f"blob was coded under a {family.__name__} prior, not a {type(pb).__name__}")
        return params

    @staticmethod
    def _read_width(data: bytes, width_sent: int, width, shape, n: int) -> tuple[np.ndarray, int]:
        """The cell widths (flat, (n,)) and the payload position after them."""
        if not width_sent:
            if width is None:  # the blob says the decoder holds the width: a DecodeError if it does not
                raise DecodeError("this blob does not carry the cell width: pass width= (formerly step=) "
                                  "as the encoder used it")
            return check_width(width, shape), 0
        if len(data) < 8:
            raise DecodeError("payload too short for the cell width")
        (w0,) = struct.unpack("<d", data[:8])
        if not (math.isfinite(w0) and w0 > 0):
            raise DecodeError(f"bad cell width {w0!r} in the payload")
        width_flat = np.full(n, w0)
        if width is not None and not np.array_equal(check_width(width, shape), width_flat):
            raise DecodeError("the width given does not match the width in the blob")
        return width_flat, 8


def __getattr__(name: str):
    """``rcc.uq.UQStream`` / ``UQStreamDecoder``: moved to :mod:`rcc.uq_stream` (public as
    ``rcc.UQStream``, ``rcc.UQStreamDecoder``); importable from here for one release. Resolved
    lazily, so importing either module first works."""
    if name in ("UQStream", "UQStreamDecoder"):
        from . import uq_stream

        return getattr(uq_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
