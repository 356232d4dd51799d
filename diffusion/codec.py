"""Lossless and progressive compression of a data set with a diffusion hierarchy and `rcc`.

Data flow (one file for the whole set; x is uint8 (N, D))::

    z_1 ~ N(0, I)  from shared randomness (seed; see below)                 [0 bits]
    for i = T .. 1:                                                         [step i]
        q = model.posterior(z_t, x, i)      p = model.reverse_prior(z_t, i)  (float64, CPU)
        payload_i, z_s = channel.encode(q, p, seed_i)     # an rcc channel simulator
    x | z_0 ~ prod Categorical(256)  entropy-coded with constriction (ANS)   [data term]

The decoder rebuilds every p from what it has already decoded and reads the same z_s out of
each payload; after the data term it has x exactly. Decoding only the first k steps gives
``z_{t_{T-k}}``, from which :func:`decode` makes progressive reconstructions: *denoised*
(the denoiser's posterior mean), *ancestral* (sampling the reverse prior to z_0) and, for both
hierarchies, *flow* (the deterministic probability-flow / DDIM path; Theis et al., "Lossy
Compression with Gaussian Diffusion", 2022).

Channels (``channel=``):

* ``"uq"`` - uniform hierarchy only: universal quantisation (Ziv 1985; Agustsson & Theis 2020),
  exact for the UQDM step, costs the index entropy under ``p``. All T steps go through one
  :class:`rcc.UQStream` (one ANS stream, one pair of check symbols, one tail), so the framing is
  paid once per file, not once per step.
* ``"pfr"``, ``"orc"``, ``"mrc"`` - Gaussian hierarchy: ``rcc.compress(q, p, method=...,
  chunk_bits=...)``, chunked across all N * D coordinates of the step.
* ``"ideal"`` - either hierarchy: samples q exactly from shared randomness and *counts* the KL
  (reference; its file stores the float64 samples so that it still round-trips).

Shared randomness: the file's seed feeds nothing directly. Every stream is Philox4x32-10
(:mod:`rcc.random`) under a seed derived by ``rcc.random.derive_seed`` (a hash, so no two
(seed, item, step) collide by arithmetic): z_1 under ``derive_seed(seed, 0)`` (row n: the inverse
normal CDF of ``rcc.random.uniforms(., DOMAIN_CANDIDATE, 0, n, D)``, so it does not depend on N;
:func:`shared_z1`), the ``uq`` channel's one :class:`rcc.UQStream` under ``derive_seed(seed, 1)``,
and step i's channel (``rcc.compress``, the ideal channel's noise) under ``derive_seed(seed, 2, i)``.

File layout, version 5 (integers are LEB128 varints, fixed-size fields little endian; every
header field costs real bits, so it is lean; docs/format.md has it byte by byte)::

    bytes      field
    2          b"RD"
    1          flags: version (5) << 4 | hierarchy (gaussian 0, uniform 1) << 3 | channel code
    varints    T, N, D, seed            steps, points, dimensions, shared seed (< 2^63)
    [pfr/orc/mrc only: varint count;  count varints: the rcc.Payload parameters common to all
               steps (their longest common prefix)]
    2          header check h = CRC32(fingerprint || every byte above) mod 2^16
    --- the T steps, in sending order (i = T .. 1) ---
    uq:        varint L                 bytes of the rcc.UQStream payload
               T - 1 varints            stream words needed for steps 1..k < T, as increments
               2 T                      the per-step checks c_1 .. c_T (2 bytes each)
               L                        the stream payload, back to front (top of the stack first)
    others:    T x ( varint len, len bytes of step record, 2 bytes check c_k )
               pfr/orc/mrc record: varint payload_bits, varint e, e varints (the step's
               parameters after the common ones), ceil(payload_bits / 8) bytes of payload
               ideal record: the sample, N * D float64
    --- then ---
    rest       data-term ANS words (zero high bytes of the top word dropped)
    4          CRC32 of fingerprint (4 bytes) + every byte before it

Per-step check (16 bits): ``c_k = CRC32(fingerprint || the file's first prefix_bytes[k - 1]
bytes with the check fields left out || z_k) mod 2^16``, where ``z_k`` is the latent after step
k as float64 (N, D), C order, little endian. The encoder knows z_k; the decoder recomputes it
and compares, so a decoded step is right, or a ``DecodeError`` names the step: this catches a
corrupted byte, another model, and a desynchronised float computation of the priors (another
machine), at the step where it happens. It costs 16 bits per step, plus 16 for the header
(``EncodeResult.check_bytes``);
a wrong step passes it with probability 2^-16.

The header check is verified before any work: a header whose point count, seed or channel
parameters were damaged (or a file of another model) is refused before the network runs on
N points. It cannot stop a file crafted with the model in hand: for those the work is bounded by
``max_elements`` alone (below).

Prefixes: :func:`decode` finds out by itself whether it was given a complete file (the trailing
CRC32 checks out: all steps and x are decoded) or a byte prefix of one: then every whole step the
prefix holds is decoded and verified by its check (``DecodeResult.complete`` is False). The first
``EncodeResult.prefix_bytes[k - 1]`` bytes of a file hold its first k steps. A blob that holds
all T steps and more, yet fails the CRC32 (a damaged or cut data term), is an error unless the
caller asks for the steps alone (``num_steps=T``).

The UQ record holds the ``rcc.UQStream`` payload (its ANS words; the decoder knows the
parameters, the seed, the shape and every step width). The stream is a stack whose top holds
step T (the first sent), so stored top first it is progressive; the word table costs about one
byte per step. A chunked step holds its ``rcc.compress`` message in the headerless form
(:class:`rcc.Payload`: method "chunked", seed and shape implied, the parameters the steps share
in the file header), decoded by :func:`rcc.decode`; the step check stands in for the
container's CRC-32. The model
fingerprint (a CRC32 of its float64 parameters) is not stored but folded into every check and
into the file's CRC: decoding with another model is an error, not garbage.

Bounds: a header that declares more than ``max_elements`` values (N * D; default
``DEFAULT_MAX_ELEMENTS`` = 2^24) is refused before anything is allocated, and every length read
from the file is checked against the bytes present. The model is run on blocks of
``BLOCK_POINTS`` points, so memory stays bounded; the work of a decoder is proportional to N * D
(one network pass per step for every point), so lower ``max_elements`` for untrusted files.

Determinism: every parameter of a prior that feeds a coder is computed by a float64 copy of the
model on the CPU with one thread, then rounded to a grid of 2^-32 (``_GRID``), so a fresh
process decodes what another encoded (see ``tests/test_diffusion_codec.py``). On another
machine a prior value that lies within float noise of a rounding boundary may round the other
way and desynchronise the decoder; the per-step check turns that into a ``DecodeError`` at the
step where it happens. ``report.grid_margin_report`` measures the risk: with ATen's and MKL's
kernels pinned to the baseline instruction set, about 15 % of the prior parameters of the
seed-0 swirl file (T = 5) move by up to 1.8e-15, which on a 2^-40 grid would flip 0.17
(uniform) and 0.23 (Gaussian) parameters per file on average; the 2^-32 grid divides that by
256. The rounding costs no measurable rate (2^-32 is far below every prior scale).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import numbers
import struct
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

import rcc
import rcc.random
from rcc import DecodeError
from rcc.coding import decode_varint, encode_varint

from .distributions import GaussianStep, LogisticUniformStep, UniformStep

__all__ = [
    "encode",
    "decode",
    "EncodeResult",
    "DecodeResult",
    "CodecError",
    "CHANNELS",
    "DEFAULT_MAX_ELEMENTS",
    "read_header",
    "make_channel",
    "shared_z1",
    "sample_lean",
    "psnr",
    "sliced_wasserstein",
]

MAGIC = b"RD"
_COMPRESS_METHOD = "chunked"  # rcc.Payload.method of an rcc.compress message
_MAX_PARAMS = 64  # container parameters of a step (rcc's own bound)
VERSION = 5  # 5: shared noise from rcc.random (Philox) under derive_seed; 4: a 16-bit check per step
_HIER = {"gaussian": 0, "uniform": 1}
_HIER_INV = {v: k for k, v in _HIER.items()}
CHANNELS = ("ideal", "uq", "pfr", "orc", "mrc")
_CHAN = {name: k for k, name in enumerate(CHANNELS)}
#: Grid the prior parameters that feed a coder are rounded to (see "Determinism" above).
_GRID = 2.0**-32
#: Largest N * D :func:`decode` accepts by default (``max_elements=``): a file that declares more
#: is refused before anything is allocated. The hard limit of the format (and of :func:`encode`)
#: is ``MAX_ELEMENTS``.
DEFAULT_MAX_ELEMENTS = 2**24
MAX_ELEMENTS = 2**28
#: The float64 model runs on blocks of this many points (rows), so its activations stay small
#: (hidden 512: 64 MiB a layer); a file of at most BLOCK_POINTS points is one block.
BLOCK_POINTS = 2**14
#: Bytes of the per-step check.
CHECK_BYTES = 2
#: Gaussian steps (chunked PFR): round(KL / 10) chunks of equal size per diffusion step (no sizes
#: sent; ``rcc.compress(layout="even")``), and a race of at most 2^ceil(KL_chunk + 5) candidates
#: (never more than 2^22), so a chunk of high KL gets a larger budget. `rcc-diffusion tradeoff`
#: (T = 5) and docs/diffusion.md compare it with KL-balanced chunks (sizes sent), fixed budgets
#: and larger chunks.
DEFAULT_CHUNK_BITS = 10.0
DEFAULT_LAYOUT = "even"
DEFAULT_SIZE_MULTIPLE = "auto"
DEFAULT_HEADROOM_BITS = 5.0
#: Candidates per chunk when ``num_candidates`` is None: PFR's cap, ORC's and MRC's N.
DEFAULT_NUM_CANDIDATES = {"pfr": 2**22, "orc": 2**18, "mrc": 2**18}
MAX_STEPS = 2**16
#: Shared randomness: the file's seed feeds nothing directly; every stream is Philox
#: (:mod:`rcc.random`) under a seed derived from it by ``rcc.random.derive_seed(seed, path...)``.
_PATH_Z1, _PATH_STREAM, _PATH_STEP = 0, 1, 2


class CodecError(DecodeError):
    """Malformed, truncated or corrupted file, or the wrong model.

    A subclass of ``rcc.DecodeError`` (itself a ValueError).
    """


class _Truncated(CodecError):
    """The bytes end inside a field (a prefix of a file ends here)."""


def _raise(msg: str):
    raise CodecError(msg)


# ---------------------------------------------------------------- varints and helpers
def _put_varint(out: bytearray, v: int) -> None:
    out += encode_varint(v)


class _Reader:
    def __init__(self, buf: bytes, end: int):
        self.buf, self.pos, self.end = buf, 0, end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Truncated(f"file truncated: need {n} bytes at offset {self.pos}, have {self.end - self.pos}")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(b)

    def varint(self) -> int:
        tail = self.buf[self.pos : min(self.end, self.pos + 10)]
        if len(tail) < 10 and all(b & 0x80 for b in tail):
            raise _Truncated(f"file truncated: it ends inside a varint at offset {self.pos}")
        try:
            v, self.pos = decode_varint(self.buf[: self.end], self.pos)
        except DecodeError as err:
            _raise(f"{err} at offset {self.pos}")
        return v


def _crc(fingerprint: int, body) -> int:
    return zlib.crc32(bytes(body), zlib.crc32(struct.pack("<I", fingerprint))) & 0xFFFFFFFF


class _Checks:
    """The per-step checks: a running CRC32 over the fingerprint and the file bytes covered so far
    (:meth:`feed`); :meth:`check` folds in a latent without changing the running state."""

    def __init__(self, fingerprint: int, head: bytes):
        self.state = zlib.crc32(bytes(head), zlib.crc32(struct.pack("<I", fingerprint)))

    def feed(self, b) -> None:
        self.state = zlib.crc32(bytes(b), self.state)

    def check(self, z) -> bytes:
        """The 2-byte check of latent ``z`` (float64 (N, D)) after the bytes fed so far."""
        z = np.ascontiguousarray(np.asarray(z, dtype="<f8"))
        return struct.pack("<H", zlib.crc32(z.tobytes(), self.state) & 0xFFFF)


def _renamed(size_step, size_multiple):
    """``size_multiple``, or ``size_step`` (its old name, with a DeprecationWarning) if given."""
    if size_step is None:
        return size_multiple
    warnings.warn("size_step= is renamed size_multiple= (the old name goes in the next release)",
                  DeprecationWarning, stacklevel=3)
    return size_step


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _check_seed(seed) -> int:
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    return int(seed)


def _check_num_candidates(num_candidates):
    if num_candidates is not None and (not _is_int(num_candidates) or num_candidates < 1):
        raise ValueError(f"num_candidates must be None or an int >= 1, got {num_candidates!r}")
    return num_candidates


def _blockwise(fn, z: torch.Tensor, *rest):
    """``fn(z, *rest)`` on blocks of ``BLOCK_POINTS`` rows of z (and of each tensor in ``rest``
    with as many rows), joined again: a step distribution (fields (N, D)) or a tensor."""
    n = z.shape[0]
    if n <= BLOCK_POINTS:
        return fn(z, *rest)
    parts = [fn(z[a : a + BLOCK_POINTS], *(r[a : a + BLOCK_POINTS] if torch.is_tensor(r) and r.dim() and r.shape[0] == n
                                            else r for r in rest))
             for a in range(0, n, BLOCK_POINTS)]
    if torch.is_tensor(parts[0]):
        return torch.cat(parts)
    joined = {}
    for f in dataclasses.fields(parts[0]):
        vals = [getattr(p, f.name) for p in parts]
        full = all(v.dim() and v.shape[0] == b.shape[0] for v, b in zip(vals, (p.loc for p in parts)))
        joined[f.name] = torch.cat(vals) if full else vals[0]
    return type(parts[0])(**joined)


def _grid(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t / _GRID) * _GRID


@contextlib.contextmanager
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _model64(model):
    """A float64 CPU copy of ``model`` in eval mode (cached on the model)."""
    cache = getattr(model, "_codec_model64", None)
    sig = _fingerprint(model)
    if cache is not None and cache[0] == sig:
        return cache[1]
    m = copy.deepcopy(model).to("cpu").double().eval()
    m.__dict__.pop("_codec_model64", None)
    object.__setattr__(model, "_codec_model64", (sig, m))
    return m


def _fingerprint(model) -> int:
    crc = 0
    for k, v in sorted(model.state_dict().items()):
        crc = zlib.crc32(k.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(v.detach().cpu().to(torch.float64).numpy()).tobytes(), crc)
    return crc & 0xFFFFFFFF


def _shared_uniforms(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniforms in (0, 1), float64 of ``shape`` (N, D), from shared randomness: row n is
    ``rcc.random.uniforms(seed, DOMAIN_CANDIDATE, 0, n, D)`` (Philox4x32-10, 53 bits each), so a
    point's noise depends on its row alone, not on N. Computed in blocks of ``BLOCK_POINTS`` rows."""
    n, d = shape
    out = np.empty((n, d))
    for sl in _blocks(n):
        out[sl] = rcc.random.uniforms(seed, rcc.random.DOMAIN_CANDIDATE, 0, np.arange(sl.start, sl.stop), d)
    return out


def _shared_normals(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals, float64 of ``shape`` (N, D): scipy's inverse normal CDF ``ndtri`` of
    :func:`_shared_uniforms` (never numpy's ziggurat, which eats a variable number of draws)."""
    from scipy.special import ndtri

    return ndtri(_shared_uniforms(seed, shape))


def shared_z1(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The file's first latent z_1 ~ N(0, I), float64 ``shape`` (N, D): :func:`_shared_normals`
    under ``rcc.random.derive_seed(seed, 0)``; it costs no bits."""
    return _shared_normals(rcc.random.derive_seed(seed, _PATH_Z1), shape)


def _stream_seed(seed: int) -> int:
    """Seed of the ``uq`` channel's one UQStream (push k's dither is its Philox chunk k):
    ``rcc.random.derive_seed(seed, 1)``."""
    return rcc.random.derive_seed(seed, _PATH_STREAM)


def _step_seed(seed: int, i: int) -> int:
    """Seed of step i's channel (i = T .. 1; ``rcc.compress`` and the ideal channel):
    ``rcc.random.derive_seed(seed, 2, i)``."""
    return rcc.random.derive_seed(seed, _PATH_STEP, i)


# ---------------------------------------------------------------- channels
class _Channel:
    name = "base"
    #: True when the file's step bytes are the cost; False when the cost is the KL (ideal)
    counts_bytes = True

    def encode(self, q, p, seed: int) -> tuple[bytes, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, payload: bytes, p, seed: int, size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def header(self) -> bytes:
        """Channel parameters the file header carries (after the common fields); called after
        every step was encoded."""
        return b""

    def record(self, payload) -> bytes:
        """The bytes of a step record (after :meth:`header`) for what :meth:`encode` returned."""
        return payload

    def read_header(self, r) -> None:
        """Read what :meth:`header` wrote."""


class IdealChannel(_Channel):
    """Samples q exactly from shared randomness and reports KL[q || p] as its cost (reference).

    The payload is the float64 sample itself (so files round-trip), not a code.
    """

    name = "ideal"
    counts_bytes = False

    def encode(self, q, p, seed):
        shape = tuple(q.loc.shape)
        if isinstance(q, GaussianStep):
            z = q.sample(torch.as_tensor(_shared_normals(seed, shape), dtype=q.loc.dtype))
        elif isinstance(q, UniformStep):
            z = q.sample(torch.as_tensor(_shared_uniforms(seed, shape) - 0.5, dtype=q.loc.dtype))
        else:  # pragma: no cover
            raise ValueError(f"ideal channel cannot sample {type(q).__name__}")
        s = z.detach().to(torch.float64).numpy().ravel()
        return s.astype("<f8").tobytes(), s

    def decode(self, payload, p, seed, size):
        if len(payload) != 8 * size:
            _raise(f"ideal-channel step holds {len(payload)} bytes, expected {8 * size}")
        return np.frombuffer(payload, dtype="<f8").astype(np.float64)


class UQChannel(_Channel):
    """``rcc.UQStream``: universal quantisation of every UQDM step in one ANS stream (exact;
    cost = index entropy under p, plus one stream's framing per file).

    The cell width Delta is known to the decoder (it comes from the schedule), so it is passed
    as ``width=`` and never sent; the logistic prior always uses UQ's table mode (no side
    information per step). The file keeps only the stream payload (the ANS words): method,
    parameters, seed and shape are implied (:meth:`rcc.UQStreamDecoder.from_top`).

    Encoder: ``start(seed)``, ``encode(q, p, seed)`` per step (returns ``(b"", sample)``),
    ``finish()`` -> the stream record. Decoder: ``read_record(reader, seed, T, size)``,
    ``decode(b"", p, seed, size)`` per step, ``finish_decode()`` after all T.
    """

    name = "uq"
    streaming = True

    def __init__(self):
        self._enc = self._dec = None

    @staticmethod
    def _width(q) -> np.ndarray:
        return q.delta.detach().to(torch.float64).expand_as(q.loc).numpy().ravel()

    def start(self, seed: int) -> None:
        self._enc = rcc.UQStream(seed=int(seed))

    def encode(self, q, p, seed):
        if not isinstance(q, UniformStep) or not isinstance(p, LogisticUniformStep):
            raise ValueError("the 'uq' channel needs the uniform hierarchy (UniformStep, LogisticUniformStep)")
        sample = self._enc.push(q.to_rcc(), p.to_rcc(), width=self._width(q))
        self.last_info = {"info_bits": float(self._enc.push_info[-1]["info_bits"])}
        return b"", np.asarray(sample, dtype=np.float64).ravel()

    def finish(self) -> tuple[bytes, bytes, list, np.ndarray]:
        """The stream record in two parts and each step's share of it in bits (the ANS stream's
        growth while coding the step, plus an equal part of the framing).

        Returns ``(table, payload, need, bits)``: ``table`` is varint L (payload bytes) and T - 1
        varints (the stream words needed to decode steps 1..k, as increments:
        ``rcc.UQStream.pop_words``; step T needs them all); ``payload`` is the stream payload
        back to front, so that the top of the stack, which holds the first steps, comes first;
        ``need[k - 1]`` is how many leading bytes of ``payload`` decode steps 1..k. The file puts
        the per-step checks between the two.
        """
        payload = self._enc.payload
        table = bytearray()
        _put_varint(table, len(payload))
        words = self._enc.pop_words  # the last step needs the whole stream: not sent
        for v in np.diff(np.concatenate([[0], words[:-1]])):
            _put_varint(table, int(v))
        need = self._need(len(payload), words)
        bits = self._enc.push_bits
        bits += (8.0 * (len(table) + len(payload)) - bits.sum()) / max(len(bits), 1)
        return bytes(table), payload[::-1], need, bits

    @staticmethod
    def _need(length: int, words) -> list[int]:
        """Payload bytes (stored top first) that decode steps 1..k: the top word is short by the
        zero bytes the payload dropped."""
        short = -length % 4
        return [min(length, 4 * int(w) - short) for w in words]

    def read_record(self, r: "_Reader", seed: int, num_steps: int, size: int) -> dict:
        """Read the stream record from ``r``: all of it, or the part a file prefix holds.

        Returns ``table`` (the (start, end) offsets of L and the word table), ``checks`` (T
        2-byte checks), ``payload_start`` (offset of the stored payload), ``need`` (payload bytes
        for steps 1..k) and ``held`` (how many steps the bytes present decode). Makes the
        stream decoder when ``held`` > 0. A record cut short in its table or checks holds 0 steps.
        """
        start = r.pos
        try:
            length = r.varint()
            total, words = -(-length // 4), [0]
            for _ in range(num_steps - 1):
                words.append(words[-1] + r.varint())
                if words[-1] > total:
                    _raise("bad step-stream table: corrupted file")
            table_end = r.pos
            raw = r.take(CHECK_BYTES * num_steps)
        except _Truncated:
            return {"held": 0}
        checks = [raw[j : j + CHECK_BYTES] for j in range(0, len(raw), CHECK_BYTES)]
        need = self._need(length, words[1:] + [total])
        payload_start = r.pos
        have = min(length, r.end - r.pos)
        top = r.take(have)[::-1]
        held = sum(n <= have for n in need)
        if held:
            try:
                self._dec, _ = rcc.UQStreamDecoder.from_top(top, length, int(seed), int(num_steps), int(num_steps) * int(size))
            except ValueError as exc:
                _raise(f"the step stream does not decode: {exc}")
            if self._dec is None:
                held = 0
        return {"table": (start, table_end), "checks": checks, "payload_start": payload_start, "need": need,
                "held": held, "complete": have == length}

    def decode(self, payload, p, seed, size):
        return np.asarray(self._dec.pop(p.to_rcc(), width=self._width(p)), dtype=np.float64).ravel()

    def finish_decode(self) -> None:
        self._dec.finish()


class ChunkedChannel(_Channel):
    """``rcc.compress`` / ``rcc.decompress`` with ``method`` in pfr | orc | mrc, chunked across
    all N * D coordinates of a step (``chunk_bits`` of KL per chunk on average).

    ``layout`` (``rcc.compress(layout=)``): "even" (default), equal-size chunks, no sizes sent;
    "kl", chunks closed where their KL reaches ``chunk_bits``, sizes sent in multiples of
    ``size_multiple``. The ~1.4 bits of size per chunk buy little: the bit length of a chunk's index
    spreads by several bits from the race alone, so the wider spread of chunk KL in the even
    layout costs its code little (T = 5, 12-bit chunks: 3.12 bits per chunk above the KL against
    4.47). But the chunks of high KL in the tail need the most candidates; at 12 bits per chunk on average they hit the 2^22 cap often enough to bias the
    chain (badly at T = 3), at 10 bits rarely. docs/diffusion.md has the measurements.

    ``num_candidates``: an int N truncates PFR at N candidates per chunk (the Gaussian steps have a
    reverse scale close to the posterior's, so D_inf is huge or infinite and exact PFR would need
    astronomically many candidates) or sets N for ORC / MRC; None takes
    ``DEFAULT_NUM_CANDIDATES[method]``. ``headroom_bits`` (PFR only) also cuts chunk c's race at
    2^ceil(KL_c + headroom_bits) candidates, so chunks of high KL get more candidates and the
    bias stays about even across chunks. Truncated chunks are counted per step
    (``num_truncated``): their samples are slightly biased towards the prior. Each step is an
    ``rcc.compress`` message in its headerless form (:class:`rcc.Payload`): the file keeps its
    payload bits and payload and the parameters that differ from the steps' common ones (in the
    file header); method, seed and shape are implied, and :func:`rcc.decode` decodes it.
    """

    def __init__(self, method: str = "pfr", chunk_bits: float = DEFAULT_CHUNK_BITS,
                 num_candidates: int | None = None, layout: str = DEFAULT_LAYOUT,
                 size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
                 headroom_bits: float | None = DEFAULT_HEADROOM_BITS):
        if method not in ("pfr", "orc", "mrc"):
            raise ValueError(f"method must be pfr, orc or mrc, got {method!r}")
        if layout not in ("even", "kl"):
            raise ValueError(f"layout must be 'even' or 'kl', got {layout!r}")
        self.layout = layout
        if size_multiple != "auto" and (isinstance(size_multiple, bool) or not isinstance(size_multiple, (int, np.integer))
                                        or size_multiple < 1):
            raise ValueError(f"size_multiple must be an int >= 1 or 'auto', got {size_multiple!r}")
        self.size_multiple = size_multiple if size_multiple == "auto" else int(size_multiple)
        if not (chunk_bits > 0 and np.isfinite(chunk_bits)):
            raise ValueError(f"chunk_bits must be positive, got {chunk_bits!r}")
        self.name = method
        self.chunk_bits = float(np.float32(chunk_bits))
        n = DEFAULT_NUM_CANDIDATES[method] if _check_num_candidates(num_candidates) is None else int(num_candidates)
        if method == "pfr":
            self.method = rcc.PFR(n, headroom_bits=headroom_bits)
        else:
            self.method = {"orc": rcc.ORC, "mrc": rcc.MRC}[method](num_candidates=n)
        self.params = None  # the parameters common to all steps (set by header / read_header)
        self._step_params = []

    def encode(self, q, p, seed):
        """One step through ``rcc.compress``: returns its headerless :class:`rcc.Payload` (made
        into a record by :meth:`record` once :meth:`header` knows the steps' common parameters)
        and the sample."""
        if not isinstance(q, GaussianStep) or not isinstance(p, GaussianStep):
            raise ValueError(f"the {self.name!r} channel needs the Gaussian hierarchy")
        qr, pr = q.to_rcc(), p.to_rcc()
        msg = rcc.compress(qr, pr, method=self.method, seed=seed, chunk_bits=self.chunk_bits, layout=self.layout,
                           size_multiple=self.size_multiple)
        payload = msg.headerless()
        sample = np.asarray(msg.sample, dtype=np.float64).ravel()
        lean, lean_se = sample_lean(sample, qr.loc, qr.scale, pr.loc)
        self._step_params.append(payload.params)
        self.last_info = {
            "payload_bits": payload.num_bits,
            "num_chunks": int(msg.info["num_chunks"]),
            "num_scored": int(msg.info["num_scored"]),
            "num_truncated": int(msg.info["num_truncated"]),
            "size_multiple": int(msg.info["size_multiple"]),
            "lean": lean,
            "lean_se": lean_se,
            "chunk_kl_sd": float(np.std(msg.chunks.kl_bits)),
            "chunk_kl_p99": float(np.percentile(msg.chunks.kl_bits, 99)),
        }
        return payload, sample

    def header(self) -> bytes:
        """The container parameters every step shares (``params``: after encoding, the longest
        common prefix of the steps' ``Payload.params``): varint count, then the values."""
        if self._step_params:
            common = list(self._step_params[0])
            for params in self._step_params[1:]:
                n = next((j for j, (a, b) in enumerate(zip(common, params)) if a != b), min(len(common), len(params)))
                del common[n:]
            self.params = tuple(common)
        return encode_varint(len(self.params)) + b"".join(encode_varint(v) for v in self.params)

    def read_header(self, r: "_Reader") -> None:
        n = r.varint()
        if n > _MAX_PARAMS:
            _raise(f"bad chunked-channel parameter count {n}")
        self.params = tuple(r.varint() for _ in range(n))

    def record(self, payload) -> bytes:
        """A step's record (after :meth:`header`): varint payload bits, varint e and the e
        parameters after the common ones, the payload bytes."""
        extra = payload.params[len(self.params):]
        return (encode_varint(payload.num_bits) + encode_varint(len(extra))
                + b"".join(encode_varint(v) for v in extra) + payload.data)

    def decode(self, record, p, seed, size):
        r = _Reader(record, len(record))
        bits, n = r.varint(), r.varint()
        if len(self.params) + n > _MAX_PARAMS:
            _raise(f"bad step parameter count {n}")
        extra = tuple(r.varint() for _ in range(n))
        data = r.take(len(record) - r.pos)
        if len(data) != (bits + 7) // 8:
            _raise(f"step payload holds {len(data)} bytes for {bits} bits")
        payload = rcc.Payload(_COMPRESS_METHOD, self.params + extra, int(seed), (int(size),), data, bits)
        return np.asarray(rcc.decode(payload, p.to_rcc()), dtype=np.float64).ravel()


def sample_lean(z, q_loc, q_scale, p_loc) -> tuple[float, float]:
    """How far a sent sample leans from q's mean towards p's: the bias diagnostic of a step.

    ``lean = sum (z - mu_q) w / sum (mu_p - mu_q) w`` with ``w = (mu_p - mu_q) / sigma_q^2``, the
    sample's projection on the mean shift as a fraction of it: 0 +- ``se`` for an exact sample
    of q (``se = 1 / sqrt(sum ((mu_p - mu_q) / sigma_q)^2)``), 1 for a sample centred on p's
    mean. Truncated races lean towards the prior (lean > 0); compare lean / se with +-3.
    All arrays flat (n,), float64.
    """
    z, q_loc, q_scale, p_loc = (np.broadcast_to(np.asarray(a, np.float64), np.shape(z)).ravel()
                                for a in (z, q_loc, q_scale, p_loc))
    shift = p_loc - q_loc
    w = shift / q_scale**2
    denom = float(np.sum(shift * w))
    if not denom > 0:
        return 0.0, math.inf
    return float(np.sum((z - q_loc) * w) / denom), 1.0 / math.sqrt(denom)


def make_channel(name: str, chunk_bits: float = DEFAULT_CHUNK_BITS, num_candidates: int | None = None,
                 size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
                 headroom_bits: float | None = DEFAULT_HEADROOM_BITS, layout: str = DEFAULT_LAYOUT, *,
                 size_step=None) -> _Channel:
    """Channel by name: "ideal", "uq", or an ``rcc.compress`` method ("pfr", "orc", "mrc").

    ``num_candidates``: None (the method's default) or an int >= 1; ValueError otherwise.
    ``size_step=`` is the old name of ``size_multiple=`` (DeprecationWarning; removed in the next
    release).
    """
    size_multiple = _renamed(size_step, size_multiple)
    _check_num_candidates(num_candidates)
    if name == "ideal":
        return IdealChannel()
    if name == "uq":
        return UQChannel()
    if name in ("pfr", "orc", "mrc"):
        return ChunkedChannel(name, chunk_bits, num_candidates, layout=layout, size_multiple=size_multiple,
                              headroom_bits=headroom_bits)
    raise ValueError(f"channel must be one of {CHANNELS}, got {name!r}")


# ---------------------------------------------------------------- data term
def _data_probs(model64, z_0: torch.Tensor) -> np.ndarray:
    """``p(x | z_0)`` as float64 (n*D, 256) for a block of n points, rows normalised, C-contiguous."""
    lp = model64.data_log_probs(z_0)
    probs = torch.exp(lp).reshape(-1, lp.shape[-1]).numpy()
    return np.ascontiguousarray(probs, dtype=np.float64)


def _blocks(n: int) -> list[slice]:
    return [slice(a, min(a + BLOCK_POINTS, n)) for a in range(0, n, BLOCK_POINTS)]


def _encode_data(model64, z_0, x: np.ndarray) -> bytes:
    """x (N, D) under ``p(x | z_0)``, one ANS stream, coded block by block of points (last block
    first: a stack), so that the (n*D, 256) table of one block is all that is held."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    fam = constriction.stream.model.Categorical(perfect=False)
    for sl in reversed(_blocks(x.shape[0])):
        probs = _data_probs(model64, z_0[sl])
        coder.encode_reverse(np.ascontiguousarray(x[sl].reshape(-1), dtype=np.int32), fam, probs)
    words = coder.get_compressed().astype("<u4").tobytes()
    # the last word is the most significant one: drop its zero high bytes (restored on decoding)
    while words and words[-1] == 0:
        words = words[:-1]
    return words


def _decode_data(model64, z_0, words: bytes) -> np.ndarray:
    import constriction

    if words and words[-1] == 0:
        _raise("data-term stream ends in a zero byte (non-canonical): corrupted file")
    words = bytes(words) + b"\x00" * (-len(words) % 4)
    arr = np.frombuffer(words, dtype="<u4").astype(np.uint32)
    out = []
    try:
        coder = constriction.stream.stack.AnsCoder(arr)
        fam = constriction.stream.model.Categorical(perfect=False)
        for sl in _blocks(z_0.shape[0]):
            out.append(np.asarray(coder.decode(fam, _data_probs(model64, z_0[sl])), dtype=np.int64))
    except BaseException as exc:  # constriction raises PanicException, not an Exception
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _raise(f"data-term stream does not decode: {exc}")
    if not coder.is_empty():
        _raise("data-term stream has bytes left over after decoding")
    return np.concatenate(out).reshape(z_0.shape).astype(np.uint8)


# ---------------------------------------------------------------- results
@dataclass
class EncodeResult:
    """What :func:`encode` returns. Bits are real bits of the file unless said otherwise.

    Attributes
    ----------
    blob : bytes
        The file.
    channel, hierarchy : str
    num_points, dim, num_steps : int
    step_bytes : list[int]
        Bytes of each step's record (length prefix included, check excluded), in sending order
        (i = T .. 1). For ``uq`` (one stream for all steps) the stream record's bytes (L, word
        table, payload) split by ``step_bits_real``, rounded so that they add up to the record.
    check_bytes : int
        Bytes of the header check and the per-step checks (2 each, 2 (T + 1) in all): what the
        integrity of prefixes costs.
    step_bits_real : np.ndarray (T,) or None
        ``uq``: each step's share of the stream record in bits (the ANS stream's growth while
        coding it, plus an equal part of the framing); None for the other channels.
    data_bytes : int
        Bytes of the data-term record.
    header_bytes : int
        Header and CRC bytes. ``len(blob) == sum(step_bytes) + check_bytes + data_bytes +
        header_bytes``.
    kl_bits : np.ndarray (T,)
        KL[q || p] of each step given the sent z_t, in bits (whole set).
    data_nll_bits : float
        ``-log2 p(x | z_0)`` of the set at the sent z_0, bits.
    step_seconds : np.ndarray (T,)
        Encoder wall time of each step (network + channel).
    counts_bytes : bool
        False for the ideal channel, whose step cost is ``kl_bits`` rather than bytes.
    step_info : list[dict]
        Channel diagnostics per step: UQ's information content ``info_bits``
        (``-sum log2 P(k)``); for chunked channels ``payload_bits``, ``num_chunks``,
        ``num_scored`` (candidates scored), ``num_truncated`` (chunks whose candidate race was cut
        short), ``size_multiple``, the bias diagnostic ``lean`` / ``lean_se``
        (:func:`sample_lean`) and the spread of the chunks' KL (``chunk_kl_sd``, ``chunk_kl_p99``).
    latents : list[np.ndarray]
        The latent after each step, float64 (N, D): what a decoder of the first k steps holds.
    prefix_bytes : list[int] (T,)
        Entry k-1: how many leading bytes of ``blob`` hold the first k steps, checks included
        (``decode(blob[:n], model)`` decodes and verifies them): the progressive rate.
    """

    blob: bytes
    channel: str
    hierarchy: str
    num_points: int
    dim: int
    num_steps: int
    step_bytes: list
    data_bytes: int
    header_bytes: int
    kl_bits: np.ndarray
    data_nll_bits: float
    step_seconds: np.ndarray
    counts_bytes: bool = True
    step_info: list = field(default_factory=list)
    latents: list = field(default_factory=list)
    step_bits_real: np.ndarray | None = None
    prefix_bytes: list = field(default_factory=list)
    check_bytes: int = 0

    @property
    def kl_bits_total(self) -> float:
        return float(np.sum(self.kl_bits))

    @property
    def step_bits(self) -> np.ndarray:
        """Cost of each step in bits: real bytes * 8, or the KL for the ideal channel."""
        if self.step_bits_real is not None:
            return np.asarray(self.step_bits_real, dtype=np.float64)
        if self.counts_bytes:
            return 8.0 * np.asarray(self.step_bytes, dtype=np.float64)
        return np.asarray(self.kl_bits, dtype=np.float64)

    @property
    def total_bits(self) -> float:
        """Total cost: the file size in bits (ideal channel: KL + check, data-term and header bytes)."""
        return float(self.step_bits.sum()) + 8.0 * (self.check_bytes + self.data_bytes + self.header_bytes)

    def bits_per_dim(self) -> float:
        return self.total_bits / (self.num_points * self.dim)


@dataclass
class DecodeResult:
    """What :func:`decode` returns.

    ``x`` is the lossless data (uint8 (N, D)) when all steps and the data term were decoded
    (``complete``), else None. ``z`` is the latest latent (float64 (N, D)) after
    ``steps_decoded`` steps of ``num_steps`` (T), each verified by its check. The
    reconstructions (uint8 (N, D)) are filled when ``reconstruct=True``. ``bits_read``: bits of
    the file the decoded steps (and data term) occupy.
    """

    x: np.ndarray | None
    z: np.ndarray
    steps_decoded: int
    num_steps: int
    hierarchy: str
    channel: str
    complete: bool = False
    denoised: np.ndarray | None = None
    ancestral: np.ndarray | None = None
    flow: np.ndarray | None = None
    bits_read: int = 0


# ---------------------------------------------------------------- encode / decode
def _prior64(model64, z: torch.Tensor, i: int):
    """The reverse prior ``p(z_s | z_t)`` of step i that feeds the coder: float64, on the grid."""
    p = _blockwise(lambda zb: model64.reverse_prior(zb, i), z)
    if isinstance(p, GaussianStep):
        return GaussianStep(_grid(p.loc), _grid(p.scale))
    return LogisticUniformStep(_grid(p.loc), _grid(p.scale), p.delta)


def _default_channel(hierarchy: str) -> str:
    return "uq" if hierarchy == "uniform" else "pfr"


def _header_check(fingerprint: int, head: bytes) -> bytes:
    """The 2-byte check of the header (everything before it) under the model's fingerprint."""
    return struct.pack("<H", _crc(fingerprint, head) & 0xFFFF)


def _head(hierarchy: str, channel: str, T: int, N: int, D: int, seed: int, ch) -> bytes:
    head = bytearray(MAGIC)
    head.append(VERSION << 4 | _HIER[hierarchy] << 3 | _CHAN[channel])
    for v in (T, N, D, seed):
        _put_varint(head, v)
    return bytes(head + ch.header())


@torch.no_grad()
def encode(
    model, x, channel: str | None = None, seed: int = 0, chunk_bits: float = DEFAULT_CHUNK_BITS,
    num_candidates: int | None = None, size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
    headroom_bits: float | None = DEFAULT_HEADROOM_BITS, layout: str = DEFAULT_LAYOUT, progress: bool = False,
    *, size_step=None,
) -> EncodeResult:
    """Compress ``x`` (uint8 (N, D)) losslessly with ``model``, every step through ``channel``.

    Parameters
    ----------
    model : Hierarchy
        A trained hierarchy (its float64 copy does the work).
    x : array-like uint8 (N, D)
        At most ``MAX_ELEMENTS`` values (a decoder accepts ``DEFAULT_MAX_ELEMENTS`` by default).
    channel : str
        "uq" (uniform hierarchy), "pfr" / "orc" / "mrc" (Gaussian; ``rcc.compress``), or "ideal";
        default "uq" for uniform and "pfr" for Gaussian.
    seed : int in [0, 2**63)
        Shared seed (z_1 and every channel's candidates/dither derive from it); in the file.
    chunk_bits : float
        KL per chunk for the chunked channels (bits).
    num_candidates : int >= 1 or None
        Candidate budget per chunk of the chunked channels (None: ``DEFAULT_NUM_CANDIDATES[channel]``,
        2^22 for PFR, 2^18 for ORC and MRC).
    layout : "even" or "kl"
        Chunk layout of the chunked channels (``rcc.compress(layout=)``): "even", round(KL /
        chunk_bits) chunks of equal size, no sizes sent; "kl", chunks of about ``chunk_bits`` of
        KL each, sizes sent. Read back from each step's payload.
    size_multiple : int or "auto"
        "kl" layout: chunk sizes are multiples of it (``rcc.compress(size_multiple=)``; "auto"
        picks it per step from the step's mean KL per coordinate; sent in each step record).
        ``size_step=`` is its old name (DeprecationWarning; removed in the next release).
    headroom_bits : float or None
        PFR only: also cut each chunk's race at 2^ceil(KL_chunk + headroom_bits) candidates
        (``rcc.PFR(headroom_bits=)``); None: the fixed budget ``num_candidates`` alone.
    progress : bool
        Show a tqdm bar over the steps on stderr (chunked channels: chunks and candidates of
        the last step as its postfix).
    """
    from tqdm.auto import tqdm

    hierarchy = model.kind
    channel = channel or _default_channel(hierarchy)
    size_multiple = _renamed(size_step, size_multiple)
    ch = make_channel(channel, chunk_bits=chunk_bits, num_candidates=num_candidates, size_multiple=size_multiple,
                      headroom_bits=headroom_bits, layout=layout)
    seed = _check_seed(seed)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.dim:
        raise ValueError(f"x must have shape (N, {model.dim}), got {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"x must be uint8, got {x.dtype}")
    N, D, T = x.shape[0], x.shape[1], model.num_steps
    if N * D > MAX_ELEMENTS or N < 1:
        raise ValueError(f"x must hold between 1 and {MAX_ELEMENTS} values, got {N * D}")
    fp = _fingerprint(model)
    kl_bits = np.zeros(T)
    secs = np.zeros(T)
    records, step_info, latents = [], [], []
    streaming = getattr(ch, "streaming", False)
    if streaming:
        ch.start(_stream_seed(seed))
    bar = tqdm(total=T, desc=f"encode {hierarchy} T={T} {channel}", unit="step", file=sys.stderr,
               disable=not progress, leave=False)
    with _one_thread(), bar:
        m = _model64(model)
        f = m.encode_data(x)
        z = torch.as_tensor(shared_z1(seed, (N, D)))
        for k, i in enumerate(range(T, 0, -1)):
            t0 = time.perf_counter()
            p = _prior64(m, z, i)
            q = _blockwise(lambda zb, fb: m.posterior(zb, fb, i), z, f)
            kl_bits[k] = float(m.step_kl(q, p).sum()) / np.log(2.0)
            payload, sample = ch.encode(q, p, _step_seed(seed, i))
            if not streaming:
                records.append(payload)
            z = torch.as_tensor(sample.reshape(N, D))
            latents.append(sample.reshape(N, D))
            secs[k] = time.perf_counter() - t0
            info = dict(getattr(ch, "last_info", {}))
            step_info.append(info)
            if "num_chunks" in info:
                bar.set_postfix(chunks=info["num_chunks"], candidates=info["num_scored"], refresh=True)
            bar.update()
        head = _head(hierarchy, channel, T, N, D, seed, ch)
        records = [encode_varint(len(rec)) + rec for rec in map(ch.record, records)]
        checks = _Checks(fp, head)
        body = bytearray()
        step_bits_real = None
        if streaming:
            t0 = time.perf_counter()
            table, payload, need, step_bits_real = ch.finish()
            secs[-1] += time.perf_counter() - t0
            checks.feed(table)
            done = 0
            body += table
            for n, zk in zip(need, latents):
                checks.feed(payload[done:n])
                done = n
                body += checks.check(zk)
            body += payload
            prefix_bytes = [len(head) + CHECK_BYTES + len(table) + CHECK_BYTES * T + n for n in need]
            # whole bytes per step: rounded cumulative shares (they sum to the record's bytes)
            ends = np.round(np.cumsum(step_bits_real) / 8.0).astype(np.int64)
            ends[-1] = len(table) + len(payload)
            step_bytes = np.diff(np.concatenate([[0], ends])).tolist()
        else:
            prefix_bytes = []
            for rec, zk in zip(records, latents):
                checks.feed(rec)
                body += rec + checks.check(zk)
                prefix_bytes.append(len(head) + CHECK_BYTES + len(body))
            step_bytes = [len(rec) for rec in records]
        nll = float(m.data_nll(z, x).sum()) / np.log(2.0)
        words = _encode_data(m, z, x)
    out = bytearray(head) + _header_check(fp, head) + body + words
    out += struct.pack("<I", _crc(fp, out))
    return EncodeResult(
        blob=bytes(out),
        channel=channel,
        hierarchy=hierarchy,
        num_points=N,
        dim=D,
        num_steps=T,
        step_bytes=[int(b) for b in step_bytes],
        data_bytes=len(words),
        header_bytes=len(head) + 4,
        kl_bits=kl_bits,
        data_nll_bits=nll,
        step_seconds=secs,
        counts_bytes=ch.counts_bytes,
        step_info=step_info,
        latents=latents,
        step_bits_real=step_bits_real,
        prefix_bytes=[int(b) for b in prefix_bytes],
        check_bytes=CHECK_BYTES * (T + 1),
    )


def _check_max_elements(max_elements) -> int:
    if not _is_int(max_elements) or not 1 <= max_elements <= MAX_ELEMENTS:
        raise ValueError(f"max_elements must be an int in [1, {MAX_ELEMENTS}], got {max_elements!r}")
    return int(max_elements)


def read_header(blob: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> dict:
    """Parse a file's header (a complete file or a prefix of one; no CRC check).

    Returns a dict: ``hierarchy``, ``channel``, ``num_steps`` (T), ``num_points`` (N), ``dim``
    (D), ``seed``. Raises ``rcc.DecodeError`` on a bad header, or one that declares more than
    ``max_elements`` values (N * D).
    """
    max_elements = _check_max_elements(max_elements)
    blob = bytes(blob)
    if len(blob) < len(MAGIC) + 1 or blob[: len(MAGIC)] != MAGIC:
        _raise("not an rcc-diffusion file (bad magic bytes)")
    r = _Reader(blob, len(blob))
    r.take(len(MAGIC))
    (flags,) = r.take(1)
    version, h, c = flags >> 4, (flags >> 3) & 1, flags & 7
    if version != VERSION:
        _raise(f"unsupported format version {version} (this reader knows {VERSION})")
    if h not in _HIER_INV or c >= len(CHANNELS):
        _raise(f"unknown hierarchy code {h} or channel code {c}")
    T, N, D, seed = r.varint(), r.varint(), r.varint(), r.varint()
    if not (1 <= T <= MAX_STEPS and N >= 1 and D >= 1):
        _raise(f"bad shape in header: T={T}, N={N}, D={D}")
    if N * D > max_elements:
        _raise(f"the file declares N * D = {N} * {D} = {N * D} values, more than max_elements={max_elements}")
    if seed >= 2**63:
        _raise(f"bad seed {seed} in header")
    hdr = dict(hierarchy=_HIER_INV[h], channel=CHANNELS[c], num_steps=T, num_points=N, dim=D, seed=seed)
    hdr["_offset"] = r.pos
    return hdr


def _scan_records(r: _Reader, T: int) -> list[tuple[int, int, int]]:
    """The (record start, payload start, payload end) of each whole step record (check included)
    that ``r``'s bytes hold, from ``r.pos`` on; ``r.pos`` is left unchanged."""
    pos, out = r.pos, []
    try:
        for _ in range(T):
            start = r.pos
            n = r.varint()
            a = r.pos
            r.take(n)
            r.take(CHECK_BYTES)
            out.append((start, a, a + n))
    except _Truncated:
        pass
    r.pos = pos
    return out


@torch.no_grad()
def decode(
    blob: bytes,
    model,
    num_steps: int | None = None,
    reconstruct: bool = False,
    recon_seed: int = 0,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> DecodeResult:
    """Decode a file made by :func:`encode`, or a byte prefix of one.

    A complete file (its trailing CRC32 checks out) decodes all T steps and the data x
    (``complete`` True); with ``num_steps`` = k only the first k steps. Any other ``blob`` is
    taken for a prefix: every whole step it holds is decoded (or the first ``num_steps``; asking
    for more than it holds is a DecodeError that says how many it holds). A blob that holds all T
    steps and more bytes after them, yet fails the CRC32, is a DecodeError unless ``num_steps``
    is given (a damaged or cut data term: x cannot be had). Every step is verified
    by its 16-bit check, so a returned latent is the encoder's, bit for bit, or a DecodeError is
    raised.

    Parameters
    ----------
    blob : bytes
        The file, or a prefix of it (``EncodeResult.prefix_bytes[k - 1]`` bytes hold k steps).
    model : Hierarchy
        The model that encoded (checked against the fingerprint).
    num_steps : int in [0, T], optional
        Decode only the first k steps (progressive); default all the blob holds, plus the data
        term if it is a complete file.
    reconstruct : bool
        Also compute denoised, ancestral (seeded by ``recon_seed``) and flow reconstructions from
        the last decoded latent.
    max_elements : int
        Refuse (DecodeError, before anything is allocated) a file that declares more than this
        many values N * D; default ``DEFAULT_MAX_ELEMENTS`` (2^24). The work is proportional to
        N * D per step.

    Raises ``rcc.DecodeError`` (a ValueError) on anything malformed, truncated or corrupted, and
    ValueError on bad arguments. With no step decoded (a prefix of the header alone, or
    ``num_steps=0``) the latent z_1 comes from the header's seed and shape, which nothing
    verifies before step 1's check.
    """
    blob = bytes(blob)
    if num_steps is not None and (not _is_int(num_steps) or num_steps < 0):
        raise ValueError(f"num_steps must be None or an int >= 0, got {num_steps!r}")
    hdr = read_header(blob, max_elements=max_elements)
    if model is None:
        _raise("a model is needed to decode (see diffusion.load_pretrained)")
    T, N, D, seed = hdr["num_steps"], hdr["num_points"], hdr["dim"], hdr["seed"]
    if hdr["hierarchy"] != model.kind or T != model.num_steps or D != model.dim:
        _raise(
            f"file was made by a {hdr['hierarchy']} hierarchy with T={T}, D={D}; "
            f"the model given is {model.kind} with T={model.num_steps}, D={model.dim}"
        )
    if num_steps is not None and num_steps > T:
        raise ValueError(f"num_steps must be in [0, {T}] (the file's T), got {num_steps!r}")
    fp = _fingerprint(model)
    complete = len(blob) >= hdr["_offset"] + 4 and struct.unpack("<I", blob[-4:])[0] == _crc(fp, blob[:-4])
    end = len(blob) - 4 if complete else len(blob)
    ch = make_channel(hdr["channel"])
    r = _Reader(blob, end)
    r.pos = hdr["_offset"]
    try:
        ch.read_header(r)
        head_end = r.pos
        if r.take(CHECK_BYTES) != _header_check(fp, blob[:head_end]):
            _raise("the header fails its check: the file is corrupted, or was made with another model")
    except _Truncated:
        if complete:
            raise
        held, head_end = 0, None
    streaming = getattr(ch, "streaming", False)
    if head_end is None:
        pass
    elif streaming:
        rec = ch.read_record(r, _stream_seed(seed), T, N * D)
        held = rec["held"]
    else:
        spans = _scan_records(r, T)
        held = len(spans)
    if complete and (held < T or (streaming and not rec["complete"])):
        _raise(f"the file's steps end early ({held} of {T} steps): corrupted file")
    k_max = held if num_steps is None else num_steps
    steps_end = (rec["payload_start"] + rec["need"][-1] if streaming else spans[-1][2] + CHECK_BYTES) if held == T else 0
    damaged_tail = num_steps is None and held == T and not complete and len(blob) > steps_end
    if k_max > held:
        _raise(f"file truncated: its {len(blob)} bytes hold {held} of the {T} steps, not {k_max}")
    x = None
    checks = _Checks(fp, blob[:head_end]) if k_max else None
    with _one_thread():
        m = _model64(model)
        z = torch.as_tensor(shared_z1(seed, (N, D)))
        if streaming and k_max:
            checks.feed(blob[slice(*rec["table"])])
        done = 0
        for k, i in enumerate(range(T, T - k_max, -1)):
            p = _prior64(m, z, i)
            if streaming:
                payload, a = b"", rec["payload_start"]
                checks.feed(blob[a + done : a + rec["need"][k]])
                done, expect = rec["need"][k], rec["checks"][k]
                r.pos = a + done
            else:
                start, a, b = spans[k]
                payload, expect = blob[a:b], blob[b : b + CHECK_BYTES]
                checks.feed(blob[start:b])
                r.pos = b + CHECK_BYTES
            try:
                sample = ch.decode(payload, p, _step_seed(seed, i), N * D)
            except CodecError:
                raise
            except ValueError as exc:
                _raise(f"step {k + 1} (i={i}) does not decode: {exc}")
            if sample.shape != (N * D,) or not np.all(np.isfinite(sample)):
                _raise(f"step {k + 1} (i={i}) decoded to a bad sample")
            z = torch.as_tensor(sample.reshape(N, D))
            if checks.check(z.numpy()) != expect:
                _raise(f"step {k + 1} (i={i}) fails its check: the file is corrupted, or the model or its "
                       "float arithmetic differs from the encoder's" + (" (the file's CRC32 is intact)" if complete else ""))
        if damaged_tail:  # the steps check out (so the model is right), the file's CRC does not
            _raise(f"the file holds all {T} steps, but the bytes after them fail the file's CRC32: its data "
                   f"term is corrupted or truncated (num_steps={T}, or rcc-diffusion decompress --steps {T}, decodes the steps alone)")
        if complete and num_steps is None:
            if streaming:
                try:
                    ch.finish_decode()
                except ValueError as exc:
                    _raise(f"the step stream does not end cleanly: {exc}")
                r.pos = rec["payload_start"] + rec["need"][-1]
            x = _decode_data(m, z, r.take(end - r.pos))
        res = DecodeResult(
            x=x, z=z.numpy().copy(), steps_decoded=k_max, num_steps=T, hierarchy=hdr["hierarchy"],
            channel=hdr["channel"], complete=x is not None, bits_read=8 * (len(blob) if x is not None else r.pos),
        )
        if reconstruct:
            res.denoised, res.ancestral, res.flow = reconstructions(m, z, T - k_max, recon_seed)
    return res


@torch.no_grad()
def reconstructions(model, z: torch.Tensor, level: int, seed: int = 0):
    """Progressive reconstructions from ``z = z_{t_level}`` (level = T - steps decoded).

    Returns uint8 (N, D) arrays ``(denoised, ancestral, flow)``:

    * denoised: the denoiser's posterior mean ``x_hat(z_t)`` rounded to the value grid
      (at level 0, the argmax of ``p(x | z_0)``);
    * ancestral: sample ``p(z_s | z_t)`` down to z_0 (seeded), then argmax of ``p(x | z_0)``;
    * flow: the deterministic probability-flow (DDIM) path down to z_0, then the argmax.

    Runs on blocks of ``BLOCK_POINTS`` points (one seeded generator across them).
    """
    m = model
    z = torch.as_tensor(z, dtype=m.dtype)
    gen = torch.Generator().manual_seed(int(seed))
    parts = [_reconstruct_block(m, z[sl], level, gen) for sl in _blocks(z.shape[0])]
    return tuple(np.concatenate(p) for p in zip(*parts))


def _reconstruct_block(m, z: torch.Tensor, level: int, gen: torch.Generator):
    if level == 0:
        xa = m.decode_x(z)
        return xa, xa.copy(), xa.copy()
    den = m.decode_data(m.denoise(z, level))
    za, zf = z.clone(), z.clone()
    for i in range(level, 0, -1):
        za = m.sample_prior(m.reverse_prior(za, i), gen)
        zf = m.flow_step(zf, i)
    return den, m.decode_x(za), m.decode_x(zf)


# ---------------------------------------------------------------- distortion measures
def psnr(x_hat, x) -> float:
    """PSNR in dB of uint8 reconstructions: ``10 log10(255^2 / MSE)`` (inf when exact)."""
    err = np.asarray(x_hat, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    mse = float(np.mean(err**2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def sliced_wasserstein(a, b, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two point sets of equal size (N, D), in value units.

    Mean over ``num_projections`` seeded random directions of the 1-D W1 between the projected,
    sorted sets.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"point sets must share one (N, D) shape, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((num_projections, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pa = np.sort(a @ dirs.T, axis=0)
    pb = np.sort(b @ dirs.T, axis=0)
    return float(np.mean(np.abs(pa - pb)))
