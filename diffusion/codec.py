"""Lossless and progressive compression of a data set with a diffusion hierarchy and `rcc`: the
file format, the data term, :func:`encode` and :func:`decode`, the progressive reconstructions.
The channels are :mod:`diffusion.channels`, the measures :mod:`diffusion.metrics`, and what both
sides compute bit for bit (float64 model, prior grid, shared randomness) ``diffusion._exact``.

Data flow (one file for the whole set; x is uint8 (N, *S): N swirl points of S = (2,), or one
photo (3, H, W), which :func:`encode` takes as N = 1; D = prod S)::

    q = model.top_posterior(x)   p = model.top_prior(x)                      [z_1]
    payload_z1, z_1 = channel.encode(q, p, seed_{T+1})
    for i = T .. 1:                                                         [step i]
        q = model.posterior(z_t, x, i)      p = model.reverse_prior(z_t, i)  (float64, CPU)
        payload_i, z_s = channel.encode(q, p, seed_i)     # an rcc channel simulator
    x | z_0 ~ prod Categorical(256)  entropy-coded with constriction (ANS)   [data term]

The first latent z_1 is sent through the step channel like every step (its KL is the NELBO's
prior term). The decoder rebuilds every p from what it has already decoded and reads the same z_s out of
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
(seed, item, step) collide by arithmetic): the ``uq`` channel's one :class:`rcc.UQStream` under
``derive_seed(seed, 1)`` (push 0 sends z_1, push k step k), and step i's channel
(``rcc.compress``, the ideal channel's noise; rows of the ideal channel's noise are Philox row n,
so they do not depend on N) under ``derive_seed(seed, 2, i)``, with i = T + 1 for z_1.

File layout, version 7 (integers are LEB128 varints, fixed-size fields little endian; every
header field costs real bits, so it is lean; docs/format.md has it byte by byte)::

    bytes      field
    2          b"RD"
    1          flags: version (7) << 4 | hierarchy (gaussian 0, uniform 1) << 3 | channel code
    varints    T, r, N, S_1 .. S_r, seed   steps, rank of S, the data's shape (N, *S), shared seed
    [pfr/orc/mrc only: varint count;  count varints: the rcc.Payload parameters common to all
               steps (their longest common prefix)]
    2          header check h = CRC32(fingerprint || every byte above) mod 2^16
    --- the channel's prelude (uq: varint L, the stream payload's bytes, and T varints, the
        stream words z_1 and steps 1..k < T need, as increments; others: nothing) ---
    --- z_1, then the T steps in sending order (i = T .. 1), each: its bytes, then its 2-byte
        check c_k (k = 0 for z_1) ---
    uq:        the stream payload stored back to front (top of the stack first), cut where the
               words z_1 and each step need end
    pfr/orc/mrc: varint len, then the record: varint payload_bits, varint e, e varints (the
               step's parameters after the common ones), ceil(payload_bits / 8) bytes of payload
    ideal:     varint len, the sample as N * D float64
    --- then ---
    rest       data-term ANS words (zero high bytes of the top word dropped)
    4          CRC32 of fingerprint (4 bytes) + every byte before it

Every channel implements one streaming protocol (:class:`diffusion.channels.StepChannel`: push
per step, finish; pop per step, finish), so the codec has one code path for all of them.

Per-step check (16 bits): ``c_k = CRC32(fingerprint || the file's bytes up to the end of step k
with the check fields left out || z_k) mod 2^16``, where ``z_k`` is the latent after step k
(for k = 0, z_1 itself) as float64 (N, D), C order, little endian. The encoder knows z_k; the decoder recomputes it
and compares, so a decoded step is right, or a ``DecodeError`` names the step: this catches a
corrupted byte, another model, and a desynchronised float computation of the priors (another
machine), at the step where it happens. It costs 16 bits per step and for z_1, plus 16 for the header
(``EncodeResult.check_bytes``);
a wrong step passes it with probability 2^-16.

The header check is verified before any work: a header whose point count, seed or channel
parameters were damaged (or a file of another model) is refused before the network runs on
N points. It cannot stop a file crafted with the model in hand: for those the work is bounded by
``max_elements`` alone (below).

Prefixes: :func:`decode` finds out by itself whether it was given a complete file (the trailing
CRC32 checks out: all steps and x are decoded) or a byte prefix of one: then z_1 and every whole
step the prefix holds are decoded and verified by their checks (``DecodeResult.complete`` is
False). The first ``EncodeResult.head_bytes`` bytes hold z_1 (the least a decoder accepts), the
first ``EncodeResult.prefix_bytes[k - 1]`` bytes z_1 and the first k steps. A blob that holds
all T steps and more, yet fails the CRC32 (a damaged or cut data term), is an error unless the
caller asks for the steps alone (``num_steps=T``).

The UQ record holds the ``rcc.UQStream`` payload (its ANS words; the decoder knows the
parameters, the seed, the shape and every step width). The stream is a stack whose top holds
z_1 and step T (the first sent), so stored top first it is progressive; the word table costs
about one byte per step. A chunked step holds its ``rcc.compress`` message in the headerless form
(:class:`rcc.Payload`: method "chunked", seed and shape implied, the parameters the steps share
in the file header), decoded by :func:`rcc.decode`; the step check stands in for the
container's CRC-32. The model
fingerprint (a CRC32 of its float64 parameters) is not stored but folded into every check and
into the file's CRC: decoding with another model is an error, not garbage.

Bounds: a header that declares more than ``max_elements`` values (N * D; default
``DEFAULT_MAX_ELEMENTS`` = 2^24) is refused before anything is allocated, and every length read
from the file is checked against the bytes present. The model is run on blocks of
rows of about ``BLOCK_ELEMENTS`` values (a photo is one block: the UNet sees it whole), so memory stays bounded; the work of a decoder is proportional to N * D
(one network pass per step for every point), so lower ``max_elements`` for untrusted files.

Determinism: every parameter of a prior that feeds a coder is computed by a float64 copy of the
model on the CPU (``threads=`` torch threads: the same bits for 1 or 2, tested), then rounded to a
grid of 2^-32 (``_GRID``), so a fresh process decodes what another encoded (see ``tests/test_diffusion_codec.py``). On another
machine a prior value that lies within float noise of a rounding boundary may round the other
way and desynchronise the decoder; the per-step check turns that into a ``DecodeError`` at the
step where it happens. ``report.grid_margin_report`` measures the risk: with ATen's and MKL's
kernels pinned to the baseline instruction set, about 15 % of the prior parameters of the
seed-0 swirl file (T = 5) move by up to 1.8e-15, which on a 2^-40 grid would flip 0.17
(uniform) and 0.23 (Gaussian) parameters per file on average; the 2^-32 grid divides that by
256. The rounding costs no measurable rate (2^-32 is far below every prior scale).
"""
from __future__ import annotations

import struct
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from rcc.coding import guard, stream_bytes, stream_decoder

from ._exact import BLOCK_ELEMENTS, _blocks, _blockwise, _fingerprint, _model64, _threads, _prior64
from ._framing import CHECK_BYTES, CodecError, _Checks, _crc, _is_int, _put_varint, _raise, _Reader, _Truncated
from .channels import (CHANNELS, DEFAULT_CHUNK_BITS, DEFAULT_HEADROOM_BITS, DEFAULT_LAYOUT,  # noqa: F401 (re-exported)
                       DEFAULT_NUM_CANDIDATES, DEFAULT_SIZE_MULTIPLE, _renamed, make_channel)
from .metrics import psnr, sample_lean, sliced_wasserstein

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
    "sample_lean",
    "psnr",
    "sliced_wasserstein",
]

MAGIC = b"RD"
VERSION = 7  # 7: z_1 sent through the step channel; 6: data of any shape (N, *S), one step layout; 5: Philox noise
_HIER = {"gaussian": 0, "uniform": 1}
_HIER_INV = {v: k for k, v in _HIER.items()}
_CHAN = {name: k for k, name in enumerate(CHANNELS)}
#: Largest N * D :func:`decode` accepts by default (``max_elements=``): a file that declares more
#: is refused before anything is allocated. The hard limit of the format (and of :func:`encode`)
#: is ``MAX_ELEMENTS``.
DEFAULT_MAX_ELEMENTS = 2**24
MAX_ELEMENTS = 2**28
MAX_STEPS = 2**16
MAX_RANK = 8


# ---------------------------------------------------------------- arguments
def _check_seed(seed) -> int:
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------- data term
def _data_blocks(shape) -> list[slice]:
    """Flat element slices of data of ``shape`` (C order) the data term is coded in."""
    n = int(np.prod(shape, dtype=np.int64))
    return [slice(a, min(a + BLOCK_ELEMENTS, n)) for a in range(0, n, BLOCK_ELEMENTS)]


def _data_probs(model64, z_flat: torch.Tensor, shape, sl: slice) -> np.ndarray:
    """``p(x | z_0)`` of the elements ``sl`` of the flattened data (shape ``shape``) as float64
    (n, 256), rows normalised, C-contiguous."""
    grid = model64.space.flat_grid(shape, sl.start, sl.stop)
    lp = model64.data_log_probs(z_flat[sl], grid)
    return np.ascontiguousarray(torch.exp(lp).numpy(), dtype=np.float64)


def _encode_data(model64, z_0, x: np.ndarray) -> bytes:
    """x (N, *S) under ``p(x | z_0)``, one ANS stream, coded in blocks of ``BLOCK_ELEMENTS``
    elements (last block first: a stack), so that one block's (n, 256) table is all that is held."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    fam = constriction.stream.model.Categorical(perfect=False)
    z_flat, x_flat = z_0.reshape(-1), x.reshape(-1)
    for sl in reversed(_data_blocks(x.shape)):
        probs = _data_probs(model64, z_flat, x.shape, sl)
        symbols = np.ascontiguousarray(x_flat[sl], dtype=np.int32)
        guard("entropy coding the data term", coder.encode_reverse, symbols, fam, probs, error=ValueError)
    return stream_bytes(coder)


def _decode_data(model64, z_0, words: bytes) -> np.ndarray:
    import constriction

    coder = stream_decoder(words)
    fam = constriction.stream.model.Categorical(perfect=False)
    shape, z_flat, out = tuple(z_0.shape), z_0.reshape(-1), []
    for sl in _data_blocks(shape):
        probs = _data_probs(model64, z_flat, shape, sl)  # the network, outside the guard: its bugs are bugs
        out.append(np.asarray(guard("decoding the data term", coder.decode, fam, probs), dtype=np.int64))
    if not coder.is_empty():
        _raise("data-term stream has bytes left over after decoding")
    return np.concatenate(out).reshape(shape).astype(np.uint8)


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
        N, D = prod S, T.
    shape : tuple
        The data's shape (N, *S).
    prior_bytes : int
        Bytes of the first latent z_1 (check excluded); the channel's prelude (uq: the payload
        length and word table) is counted with it.
    step_bytes : list[int]
        Bytes of each step (check excluded), in sending order (i = T .. 1).
    check_bytes : int
        Bytes of the header check, z_1's and the per-step checks (2 each, 2 (T + 2) in all): what
        the integrity of prefixes costs.
    prior_bits_real : float or None; step_bits_real : np.ndarray (T,) or None
        ``uq``: z_1's and each step's share of the stream record in bits (the ANS stream's growth
        while coding it, plus an equal part of the framing); None for the other channels.
    data_bytes : int
        Bytes of the data-term record.
    header_bytes : int
        Header and CRC bytes. ``len(blob) == prior_bytes + sum(step_bytes) + check_bytes +
        data_bytes + header_bytes``.
    prior_kl_bits : float
        KL[q(z_1 | x) || p(z_1)] of the set, bits: the NELBO's prior term for this file.
    kl_bits : np.ndarray (T,)
        KL[q || p] of each step given the sent z_t, in bits (whole set).
    data_nll_bits : float
        ``-log2 p(x | z_0)`` of the set at the sent z_0, bits.
    prior_seconds : float; step_seconds : np.ndarray (T,)
        Encoder wall time of z_1 and of each step (network + channel).
    counts_bytes : bool
        False for the ideal channel, whose step cost is ``kl_bits`` rather than bytes.
    step_info : list[dict]
        Channel diagnostics per step (z_1's in ``prior_info``): UQ's information content ``info_bits``
        (``-sum log2 P(k)``); for chunked channels ``payload_bits``, ``num_chunks``,
        ``num_scored`` (candidates scored), ``num_truncated`` (chunks whose candidate race was cut
        short), ``size_multiple``, the bias diagnostic ``lean`` / ``lean_se``
        (:func:`sample_lean`), each chunk's KL in bits and size (``chunk_kl_bits``,
        ``chunk_sizes``, (C,): contiguous in C order) and the spread of the chunk KL
        (``chunk_kl_sd``, ``chunk_kl_p99``).
    z1 : np.ndarray
        The first latent z_1, float64 (N, *S).
    latents : list[np.ndarray]
        The latent after each step, float64 (N, *S): what a decoder of the first k steps holds.
    head_bytes : int
        Leading bytes of ``blob`` that hold the header, z_1 and their checks: the least a
        decoder accepts (a prefix of 0 steps).
    prefix_bytes : list[int] (T,)
        Entry k-1: how many leading bytes of ``blob`` hold z_1 and the first k steps, checks
        included (``decode(blob[:n], model)`` decodes and verifies them): the progressive rate.
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
    shape: tuple
    kl_bits: np.ndarray
    data_nll_bits: float
    step_seconds: np.ndarray
    counts_bytes: bool = True
    step_info: list = field(default_factory=list)
    latents: list = field(default_factory=list)
    step_bits_real: np.ndarray | None = None
    prefix_bytes: list = field(default_factory=list)
    check_bytes: int = 0
    prior_bytes: int = 0
    prior_kl_bits: float = 0.0
    prior_bits_real: float | None = None
    prior_seconds: float = 0.0
    prior_info: dict = field(default_factory=dict)
    z1: np.ndarray | None = None
    head_bytes: int = 0

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
    def prior_bits(self) -> float:
        """Cost of z_1 in bits: real bytes * 8 (uq: its share of the stream), or its KL (ideal)."""
        if self.prior_bits_real is not None:
            return float(self.prior_bits_real)
        return 8.0 * self.prior_bytes if self.counts_bytes else float(self.prior_kl_bits)

    @property
    def chain_bits(self) -> float:
        """Cost of the latents, z_1 and the T steps, in bits (checks excluded)."""
        return self.prior_bits + float(self.step_bits.sum())

    @property
    def total_bits(self) -> float:
        """Total cost: the file size in bits (ideal channel: KL + check, data-term and header bytes)."""
        return self.chain_bits + 8.0 * (self.check_bytes + self.data_bytes + self.header_bytes)

    def bits_per_dim(self) -> float:
        return self.total_bits / (self.num_points * self.dim)


@dataclass
class DecodeResult:
    """What :func:`decode` returns.

    ``x`` is the lossless data (uint8 (N, *S)) when all steps and the data term were decoded
    (``complete``), else None. ``z`` is the latest latent (float64 (N, *S)) after
    ``steps_decoded`` steps of ``num_steps`` (T), each verified by its check. The
    reconstructions (uint8 (N, *S)) are filled when ``reconstruct=True``. ``bits_read``: bits of
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
def _default_channel(hierarchy: str) -> str:
    return "uq" if hierarchy == "uniform" else "pfr"


def _header_check(fingerprint: int, head: bytes) -> bytes:
    """The 2-byte check of the header (everything before it) under the model's fingerprint."""
    return struct.pack("<H", _crc(fingerprint, head) & 0xFFFF)


def _head(hierarchy: str, channel: str, T: int, shape: tuple[int, ...], seed: int, extra: bytes) -> bytes:
    head = bytearray(MAGIC)
    head.append(VERSION << 4 | _HIER[hierarchy] << 3 | _CHAN[channel])
    for v in (T, len(shape) - 1, *shape, seed):
        _put_varint(head, v)
    return bytes(head + extra)


@torch.no_grad()
def encode(
    model, x, channel: str | None = None, seed: int = 0, chunk_bits: float = DEFAULT_CHUNK_BITS,
    num_candidates: int | None = None, size_multiple: int | str = DEFAULT_SIZE_MULTIPLE,
    headroom_bits: float | None = DEFAULT_HEADROOM_BITS, layout: str = DEFAULT_LAYOUT, progress: bool = False,
    *, threads: int = 1, size_step=None,
) -> EncodeResult:
    """Compress ``x`` (uint8 (N, *S), or one image (3, H, W)) losslessly with ``model``, every step
    through ``channel``.

    Parameters
    ----------
    model : Hierarchy
        A trained hierarchy (its float64 copy does the work).
    x : array-like uint8 (N, *S)
        S must fit the model's data space (swirl (2,); images (3, H, W), any H and W: the UNet is
        fully convolutional and sees the whole image); one image (3, H, W) is taken as N = 1. At most ``MAX_ELEMENTS`` values (a decoder accepts ``DEFAULT_MAX_ELEMENTS`` by default).
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
    threads : int >= 1
        Torch threads for the network passes (the file is the same for any count; only the
        time changes).
    """
    from tqdm import tqdm  # text bars on stderr (tqdm.auto warns in Jupyter without ipywidgets)

    hierarchy = model.kind
    channel = channel or _default_channel(hierarchy)
    size_multiple = _renamed(size_step, size_multiple)
    ch = make_channel(channel, chunk_bits=chunk_bits, num_candidates=num_candidates, size_multiple=size_multiple,
                      headroom_bits=headroom_bits, layout=layout)
    seed = _check_seed(seed)
    threads = _check_threads(threads)
    x = np.asarray(x)
    if x.ndim == model.event_rank and model.event_rank > 1:
        x = x[None]  # one image (3, H, W): a batch of one
    shape = model.space.check_shape(x.shape)
    if x.dtype != np.uint8:
        raise ValueError(f"x must be uint8, got {x.dtype}")
    N, D, T = shape[0], int(np.prod(shape[1:])), model.num_steps
    if N * D > MAX_ELEMENTS:
        raise ValueError(f"x must hold at most {MAX_ELEMENTS} values, got {N * D}")
    fp = _fingerprint(model)
    kl_bits = np.zeros(T + 1)  # entry 0: z_1
    secs = np.zeros(T + 1)
    infos, latents = [], []
    ch.start(seed, T + 1, N * D)
    bar = tqdm(total=T + 1, desc=f"encode {hierarchy} T={T} {channel}", unit="step", file=sys.stderr,
               disable=not progress, leave=False)
    with _threads(threads), bar:
        m = _model64(model)
        f = m.encode_data(x)
        z = f
        for k, i in enumerate(range(T + 1, 0, -1)):  # i = T + 1: z_1
            t0 = time.perf_counter()
            p = _prior64(m, z, i)
            q = m.top_posterior(f) if i == T + 1 else _blockwise(lambda zb, fb: m.posterior(zb, fb, i), z, f)
            kl_bits[k] = (_top_kl_bits(m, q, p) if i == T + 1 else float(m.step_kl(q, p).sum()) / np.log(2.0))
            sample = ch.push(q, p, i)
            z = torch.as_tensor(sample.reshape(shape))
            latents.append(z.numpy())
            secs[k] = time.perf_counter() - t0
            info = dict(ch.last_info)
            infos.append(info)
            if "num_chunks" in info:
                bar.set_postfix(chunks=info["num_chunks"], candidates=info["num_scored"], refresh=True)
            bar.update()
        t0 = time.perf_counter()
        sb = ch.finish()
        secs[-1] += time.perf_counter() - t0
        head = _head(hierarchy, channel, T, shape, seed, sb.header)
        checks = _Checks(fp, head)
        checks.feed(sb.prelude)
        body = bytearray(sb.prelude)
        ends = []
        for rec, zk in zip(sb.steps, latents):
            checks.feed(rec)
            body += rec + checks.check(zk)
            ends.append(len(head) + CHECK_BYTES + len(body))
        nll = float(m.data_nll(z, x).sum()) / np.log(2.0)
        words = _encode_data(m, z, x)
    out = bytearray(head) + _header_check(fp, head) + body + words
    out += struct.pack("<I", _crc(fp, out))
    bits = sb.bits
    return EncodeResult(
        blob=bytes(out),
        channel=channel,
        hierarchy=hierarchy,
        num_points=N,
        dim=D,
        num_steps=T,
        step_bytes=[len(rec) for rec in sb.steps[1:]],
        data_bytes=len(words),
        header_bytes=len(head) + 4,
        shape=shape,
        kl_bits=kl_bits[1:],
        data_nll_bits=nll,
        step_seconds=secs[1:],
        counts_bytes=ch.counts_bytes,
        step_info=infos[1:],
        latents=latents[1:],
        step_bits_real=None if bits is None else bits[1:],
        prefix_bytes=[int(b) for b in ends[1:]],
        check_bytes=CHECK_BYTES * (T + 2),
        prior_bytes=len(sb.prelude) + len(sb.steps[0]),
        prior_kl_bits=float(kl_bits[0]),
        prior_bits_real=None if bits is None else float(bits[0]),
        prior_seconds=float(secs[0]),
        prior_info=infos[0],
        z1=latents[0],
        head_bytes=int(ends[0]),
    )


def _top_kl_bits(m, q, p) -> float:
    """KL[q(z_1 | x) || p(z_1)] of the set in bits, evaluated once per distinct value: q's location
    is alpha_1 times a standardised 8-bit value, so a photo has at most 256 per channel, while
    every other field of the top pair is one constant (the uniform hierarchy's KL is a quadrature,
    ~3 s per pass over a 512 x 512 photo). Equal to ``m.step_kl(q, p).sum()`` up to summation
    order; falls back to it if a field is not constant."""
    fields = [getattr(d, n) for d in (q, p) for n in d.__dataclass_fields__ if n != "loc" or d is p]
    if not all(torch.all(v == v.reshape(-1)[0]) for v in fields):
        return float(m.step_kl(q, p).sum()) / np.log(2.0)
    loc, inverse = torch.unique(q.loc.reshape(-1), return_inverse=True)

    def one(d, **kw):
        return type(d)(**{n: kw.get(n, getattr(d, n).reshape(-1)[:1].expand(loc.shape))
                          for n in d.__dataclass_fields__})

    per_value = m.step_kl(one(q, loc=loc), one(p))
    return float(per_value[inverse].sum()) / np.log(2.0)


def _check_threads(threads) -> int:
    if not _is_int(threads) or not 1 <= threads <= 1024:
        raise ValueError(f"threads must be an int in [1, 1024], got {threads!r}")
    return int(threads)


def _check_max_elements(max_elements) -> int:
    if not _is_int(max_elements) or not 1 <= max_elements <= MAX_ELEMENTS:
        raise ValueError(f"max_elements must be an int in [1, {MAX_ELEMENTS}], got {max_elements!r}")
    return int(max_elements)


def read_header(blob: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> dict:
    """Parse a file's header (a complete file or a prefix of one; no CRC check).

    Returns a dict: ``hierarchy``, ``channel``, ``num_steps`` (T), ``shape`` ((N, *S)),
    ``num_points`` (N), ``dim`` (D = prod S), ``seed``. Raises ``rcc.DecodeError`` on a bad header,
    or one that declares more than ``max_elements`` values (N * D).
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
    T, rank = r.varint(), r.varint()
    if not (1 <= T <= MAX_STEPS and 1 <= rank <= MAX_RANK):
        _raise(f"bad header: T={T}, rank of S={rank}")
    shape, total = [], 1
    for _ in range(rank + 1):
        n = r.varint()
        total *= n
        if n < 1:
            _raise(f"bad shape in header: an empty axis after {tuple(shape)}")
        if total > max_elements:
            _raise(f"the file declares data of shape {tuple(shape) + (n,)}..., more than "
                   f"max_elements={max_elements} values")
        shape.append(n)
    seed = r.varint()
    if seed >= 2**63:
        _raise(f"bad seed {seed} in header")
    hdr = dict(hierarchy=_HIER_INV[h], channel=CHANNELS[c], num_steps=T, shape=tuple(shape), num_points=shape[0],
               dim=total // shape[0], seed=seed)
    hdr["_offset"] = r.pos
    return hdr


@torch.no_grad()
def decode(
    blob: bytes,
    model,
    num_steps: int | None = None,
    reconstruct: bool = False,
    recon_seed: int = 0,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    threads: int = 1,
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
        The file, or a prefix of it (``EncodeResult.prefix_bytes[k - 1]`` bytes hold z_1 and k
        steps).
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
    threads : int >= 1
        Torch threads for the network passes (any count decodes any file; only the time changes).

    Raises ``rcc.DecodeError`` (a ValueError) on anything malformed, truncated or corrupted, and
    ValueError on bad arguments. The header (seed, shape, channel parameters) is verified by its
    check before any work; a blob that ends before that check, or before z_1 and its check
    (``EncodeResult.head_bytes``), is a DecodeError. With no step decoded (``num_steps=0``, or
    a prefix of ``head_bytes`` bytes) the latent is z_1.
    """
    blob = bytes(blob)
    threads = _check_threads(threads)
    if num_steps is not None and (not _is_int(num_steps) or num_steps < 0):
        raise ValueError(f"num_steps must be None or an int >= 0, got {num_steps!r}")
    hdr = read_header(blob, max_elements=max_elements)
    if model is None:
        _raise("a model is needed to decode (see diffusion.load_pretrained)")
    T, shape, seed = hdr["num_steps"], hdr["shape"], hdr["seed"]
    N, D = hdr["num_points"], hdr["dim"]
    try:
        model.space.check_shape(shape)
        fits = True
    except ValueError:
        fits = False
    if hdr["hierarchy"] != model.kind or T != model.num_steps or not fits:
        _raise(
            f"file was made by a {hdr['hierarchy']} hierarchy with T={T} on data of shape {shape}; the model "
            f"given is {model.kind} with T={model.num_steps} for data (B, *S) with S = {model.space.describe()}"
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
        check = r.take(CHECK_BYTES)
    except _Truncated:  # nothing verifies the shape or the seed: no work on them
        _raise(f"the {len(blob)} bytes end inside the file's header (before its check): they hold no step")
    if check != _header_check(fp, blob[:head_end]):
        _raise("the header fails its check: the file is corrupted, or was made with another model")
    prelude_start = r.pos
    spans = ch.read_steps(r, seed, T + 1, N * D)  # spans[0]: z_1
    if not spans:
        _raise("the file's first latent z_1 runs past its end: corrupted file" if complete else
               f"the {len(blob)} bytes end before the first latent z_1 and its check: they hold no step")
    held = len(spans) - 1
    if complete and held < T:
        _raise(f"the file's steps end early ({held} of {T} steps): corrupted file")
    k_max = held if num_steps is None else num_steps
    steps_end = spans[-1][1] + CHECK_BYTES if held == T else 0
    damaged_tail = num_steps is None and held == T and not complete and len(blob) > steps_end
    if k_max > held:
        _raise(f"file truncated: its {len(blob)} bytes hold {held} of the {T} steps, not {k_max}")
    x = None
    checks = _Checks(fp, blob[:head_end])
    checks.feed(blob[prelude_start:spans[0][0]])
    with _threads(threads):
        m = _model64(model)
        z = torch.zeros(shape, dtype=torch.float64)
        for k, i in enumerate(range(T + 1, T - k_max, -1)):  # k = 0, i = T + 1: z_1
            what = "the first latent z_1" if k == 0 else f"step {k} (i={i})"
            p = _prior64(m, z, i)
            a, b = spans[k]
            checks.feed(blob[a:b])
            pos = b + CHECK_BYTES
            try:
                sample = ch.pop(p, i)
            except CodecError:
                raise
            except ValueError as exc:
                _raise(f"{what} does not decode: {exc}")
            if sample.shape != (N * D,) or not np.all(np.isfinite(sample)):
                _raise(f"{what} decoded to a bad sample")
            z = torch.as_tensor(sample.reshape(shape))
            if checks.check(z.numpy()) != blob[b:pos]:
                _raise(f"{what} fails its check: the file is corrupted, or the model or its "
                       "float arithmetic differs from the encoder's" + (" (the file's CRC32 is intact)" if complete else ""))
        if damaged_tail:  # the steps check out (so the model is right), the file's CRC does not
            _raise(f"the file holds all {T} steps, but the bytes after them fail the file's CRC32: its data "
                   f"term is corrupted or truncated (num_steps={T}, or rcc-diffusion decompress --steps {T}, decodes the steps alone)")
        if complete and num_steps is None:
            ch.finish_decode()
            r.pos = pos
            x = _decode_data(m, z, r.take(end - r.pos))
        res = DecodeResult(
            x=x, z=z.numpy().copy(), steps_decoded=k_max, num_steps=T, hierarchy=hdr["hierarchy"],
            channel=hdr["channel"], complete=x is not None, bits_read=8 * (len(blob) if x is not None else pos),
        )
        if reconstruct:
            res.denoised, res.ancestral, res.flow = reconstructions(m, z, T - k_max, recon_seed)
    return res


@torch.no_grad()
def reconstructions(model, z: torch.Tensor, level: int, seed: int = 0):
    """Progressive reconstructions from ``z = z_{t_level}`` (level = T - steps decoded).

    Returns uint8 (N, *S) arrays ``(denoised, ancestral, flow)``:

    * denoised: the denoiser's posterior mean ``x_hat(z_t)`` rounded to the value grid
      (at level 0, the argmax of ``p(x | z_0)``);
    * ancestral: sample ``p(z_s | z_t)`` down to z_0 (seeded), then argmax of ``p(x | z_0)``;
    * flow: the deterministic probability-flow (DDIM) path down to z_0, then the argmax.

    Runs on blocks of rows (one seeded generator across them).
    """
    m = model
    z = torch.as_tensor(z, dtype=m.dtype)
    gen = torch.Generator().manual_seed(int(seed))
    parts = [_reconstruct_block(m, z[sl], level, gen) for sl in _blocks(z.shape[0], z[0].numel())]
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
